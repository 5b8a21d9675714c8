//! JSON Web Keys (RFC 7517, RFC 7518 §6) for public keys, and JWK Sets.
//!
//! The wire struct [`Jwk`] keeps the members as strings so that any JWK a
//! peer sends can be read and then refused with a *typed* reason
//! ([`JwkError`]) instead of an opaque parse error. The typed views are
//! [`Jwk::ec_point`] (uncompressed SEC1 point, validated on the curve by
//! aws-lc-rs) and [`Jwk::rsa_components`] (big-endian modulus and exponent).
//!
//! Private members (`d`, `p`, `q`, …) are not modelled: a public-key JWK that
//! carries them loses them on re-serialisation. Code that binds a JWK into
//! report data must hash the JSON *as received* (see [`crate::jcs`]), not a
//! re-encoding of this struct.

use crate::b64;
use aws_lc_rs::agreement;
use serde::{Deserialize, Serialize};

/// Smallest RSA modulus accepted anywhere in Mamori (bits).
pub const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus accepted (bits); bounds the cost of a peer's key.
pub const RSA_MAX_BITS: usize = 8192;

/// Why a JWK cannot be used as the requested kind of public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    #[error("unsupported JWK key type {0:?}")]
    UnsupportedKeyType(String),
    #[error("JWK key type is {found:?}, expected {expected:?}")]
    WrongKeyType {
        expected: &'static str,
        found: String,
    },
    #[error("unsupported or missing EC curve {0:?}")]
    UnsupportedCurve(Option<String>),
    #[error("JWK member {0:?} is missing")]
    MissingMember(&'static str),
    #[error("JWK member {0:?} is not strict unpadded base64url")]
    Base64(&'static str),
    #[error("JWK member {member:?} has {found} bytes, expected {expected}")]
    BadLength {
        member: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("EC point is not a valid uncompressed point on {0}")]
    InvalidPoint(&'static str),
    #[error("RSA modulus of {0} bits is outside {RSA_MIN_BITS}..={RSA_MAX_BITS}")]
    RsaModulusSize(usize),
    #[error("RSA public exponent is invalid")]
    RsaExponent,
}

/// The NIST curves JOSE names (RFC 7518 §6.2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EcCurve {
    P256,
    P384,
    P521,
}

impl EcCurve {
    /// The JOSE `crv` name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            EcCurve::P256 => "P-256",
            EcCurve::P384 => "P-384",
            EcCurve::P521 => "P-521",
        }
    }

    /// Parses a JOSE `crv` name (exact, case-sensitive as RFC 7518 registers it).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "P-256" => Some(EcCurve::P256),
            "P-384" => Some(EcCurve::P384),
            "P-521" => Some(EcCurve::P521),
            _ => None,
        }
    }

    /// Octets of one coordinate (and of the ECDH shared secret): ⌈bits/8⌉.
    #[must_use]
    pub const fn coordinate_len(self) -> usize {
        match self {
            EcCurve::P256 => 32,
            EcCurve::P384 => 48,
            EcCurve::P521 => 66,
        }
    }

    /// Octets of an uncompressed SEC1 point: `0x04 ‖ X ‖ Y`.
    #[must_use]
    pub const fn point_len(self) -> usize {
        1 + 2 * self.coordinate_len()
    }

    /// The aws-lc-rs ECDH algorithm for this curve.
    #[must_use]
    pub fn agreement_algorithm(self) -> &'static agreement::Algorithm {
        match self {
            EcCurve::P256 => &agreement::ECDH_P256,
            EcCurve::P384 => &agreement::ECDH_P384,
            EcCurve::P521 => &agreement::ECDH_P521,
        }
    }
}

impl std::fmt::Display for EcCurve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A public JSON Web Key as it appears on the wire.
///
/// Members follow RFC 7517/7518 names exactly; absent members are omitted
/// when serialised. Construct typed keys with [`Jwk::from_ec_point`] and
/// [`Jwk::from_rsa_components`] (they validate), and read them back with
/// [`Jwk::ec_point`] / [`Jwk::rsa_components`] (they validate again: a JWK from
/// a peer is untrusted input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `EC` or `RSA`.
    pub kty: String,
    /// EC curve name (`P-256`, `P-384`, `P-521`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate, base64url, full coordinate length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url, full coordinate length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus, base64url big-endian without leading zeros.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url big-endian without leading zeros.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Key identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Intended algorithm (`ES256`, `ECDH-ES+A256KW`, `RSA-OAEP-256`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Public key use: `sig` or `enc`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
}

/// The typed content of a supported public JWK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKeyMaterial {
    /// EC key: curve and uncompressed SEC1 point (`0x04 ‖ X ‖ Y`), on the curve.
    Ec { curve: EcCurve, point: Vec<u8> },
    /// RSA key: big-endian modulus and exponent, no leading zero octets.
    Rsa(RsaComponents),
}

/// RSA public key components, big-endian without leading zero octets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaComponents {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

impl RsaComponents {
    /// Modulus size in bits.
    #[must_use]
    pub fn modulus_bits(&self) -> usize {
        bit_len(&self.n)
    }
}

fn bit_len(be: &[u8]) -> usize {
    match be.iter().position(|b| *b != 0) {
        None => 0,
        Some(i) => {
            let rest = be.get(i..).unwrap_or_default();
            let top = rest.first().copied().unwrap_or(0);
            (rest.len() - 1) * 8 + (8 - usize::try_from(top.leading_zeros()).unwrap_or(8))
        }
    }
}

fn strip_leading_zeros(be: &[u8]) -> &[u8] {
    let start = be.iter().position(|b| *b != 0).unwrap_or(be.len());
    be.get(start..).unwrap_or_default()
}

/// Checks that `point` is an uncompressed SEC1 point on `curve`.
fn validate_point(curve: EcCurve, point: &[u8]) -> Result<(), JwkError> {
    if point.len() != curve.point_len() || point.first() != Some(&0x04) {
        return Err(JwkError::InvalidPoint(curve.name()));
    }
    // aws-lc-rs decodes the octet string into an EC_POINT, which checks that
    // the point satisfies the curve equation (invalid-curve attacks).
    let unparsed = agreement::UnparsedPublicKey::new(curve.agreement_algorithm(), point);
    agreement::ParsedPublicKey::try_from(&unparsed)
        .map(|_| ())
        .map_err(|_| JwkError::InvalidPoint(curve.name()))
}

fn decode_member(name: &'static str, value: Option<&String>) -> Result<Vec<u8>, JwkError> {
    let text = value.ok_or(JwkError::MissingMember(name))?;
    b64::decode(text).map_err(|_| JwkError::Base64(name))
}

impl Jwk {
    /// An EC public JWK from an uncompressed SEC1 point, checked on the curve.
    ///
    /// # Errors
    /// [`JwkError::InvalidPoint`] when the length, prefix or curve equation fails.
    pub fn from_ec_point(curve: EcCurve, point: &[u8]) -> Result<Self, JwkError> {
        validate_point(curve, point)?;
        Self::from_generated_ec_point(curve, point)
    }

    /// As [`Jwk::from_ec_point`] for a point this process just generated
    /// (aws-lc-rs cannot produce one off the curve): only the length and the
    /// uncompressed prefix are checked. Skipping the curve check saves about
    /// a fifth of a P-256 JWE encryption's ephemeral key.
    ///
    /// # Errors
    /// [`JwkError::InvalidPoint`] when the length or prefix is wrong.
    pub fn from_generated_ec_point(curve: EcCurve, point: &[u8]) -> Result<Self, JwkError> {
        if point.len() != curve.point_len() || point.first() != Some(&0x04) {
            return Err(JwkError::InvalidPoint(curve.name()));
        }
        let len = curve.coordinate_len();
        let x = point
            .get(1..1 + len)
            .ok_or(JwkError::InvalidPoint(curve.name()))?;
        let y = point
            .get(1 + len..1 + 2 * len)
            .ok_or(JwkError::InvalidPoint(curve.name()))?;
        Ok(Jwk {
            kty: "EC".to_owned(),
            crv: Some(curve.name().to_owned()),
            x: Some(b64::encode(x)),
            y: Some(b64::encode(y)),
            n: None,
            e: None,
            kid: None,
            alg: None,
            key_use: None,
        })
    }

    /// An RSA public JWK from big-endian modulus and exponent (leading zero
    /// octets are removed, as RFC 7518 §6.3.1 requires).
    ///
    /// # Errors
    /// [`JwkError::RsaModulusSize`] outside 2048..=8192 bits,
    /// [`JwkError::RsaExponent`] for an even, 1, or over-long exponent.
    pub fn from_rsa_components(n: &[u8], e: &[u8]) -> Result<Self, JwkError> {
        let components = RsaComponents {
            n: strip_leading_zeros(n).to_vec(),
            e: strip_leading_zeros(e).to_vec(),
        };
        validate_rsa(&components)?;
        Ok(Jwk {
            kty: "RSA".to_owned(),
            crv: None,
            x: None,
            y: None,
            n: Some(b64::encode(&components.n)),
            e: Some(b64::encode(&components.e)),
            kid: None,
            alg: None,
            key_use: None,
        })
    }

    /// Sets `kid`.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Sets `alg`.
    #[must_use]
    pub fn with_alg(mut self, alg: impl Into<String>) -> Self {
        self.alg = Some(alg.into());
        self
    }

    /// Sets `use` (`sig` or `enc`).
    #[must_use]
    pub fn with_use(mut self, key_use: impl Into<String>) -> Self {
        self.key_use = Some(key_use.into());
        self
    }

    /// The curve of an EC JWK.
    ///
    /// # Errors
    /// [`JwkError::WrongKeyType`] unless `kty` is `EC`; [`JwkError::UnsupportedCurve`].
    pub fn ec_curve(&self) -> Result<EcCurve, JwkError> {
        if self.kty != "EC" {
            return Err(JwkError::WrongKeyType {
                expected: "EC",
                found: self.kty.clone(),
            });
        }
        self.crv
            .as_deref()
            .and_then(EcCurve::from_name)
            .ok_or_else(|| JwkError::UnsupportedCurve(self.crv.clone()))
    }

    /// The curve and uncompressed point of an EC JWK, validated: `x` and `y`
    /// must be strict base64url of exactly the coordinate length
    /// (RFC 7518 §6.2.1.2) and the point must lie on the curve.
    ///
    /// # Errors
    /// See [`JwkError`].
    pub fn ec_point(&self) -> Result<(EcCurve, Vec<u8>), JwkError> {
        let curve = self.ec_curve()?;
        let len = curve.coordinate_len();
        let x = decode_member("x", self.x.as_ref())?;
        let y = decode_member("y", self.y.as_ref())?;
        for (member, bytes) in [("x", &x), ("y", &y)] {
            if bytes.len() != len {
                return Err(JwkError::BadLength {
                    member,
                    expected: len,
                    found: bytes.len(),
                });
            }
        }
        let mut point = Vec::with_capacity(curve.point_len());
        point.push(0x04);
        point.extend_from_slice(&x);
        point.extend_from_slice(&y);
        validate_point(curve, &point)?;
        Ok((curve, point))
    }

    /// The modulus and exponent of an RSA JWK, validated for size.
    ///
    /// Leading zero octets are tolerated on input and removed (some encoders
    /// emit a sign octet); the key itself is validated again by aws-lc-rs when
    /// it is turned into an operational key.
    ///
    /// # Errors
    /// See [`JwkError`].
    pub fn rsa_components(&self) -> Result<RsaComponents, JwkError> {
        if self.kty != "RSA" {
            return Err(JwkError::WrongKeyType {
                expected: "RSA",
                found: self.kty.clone(),
            });
        }
        let n = decode_member("n", self.n.as_ref())?;
        let e = decode_member("e", self.e.as_ref())?;
        let components = RsaComponents {
            n: strip_leading_zeros(&n).to_vec(),
            e: strip_leading_zeros(&e).to_vec(),
        };
        validate_rsa(&components)?;
        Ok(components)
    }

    /// The typed key material of an `EC` or `RSA` JWK.
    ///
    /// # Errors
    /// [`JwkError::UnsupportedKeyType`] for other `kty`, else as the typed views.
    pub fn key_material(&self) -> Result<PublicKeyMaterial, JwkError> {
        match self.kty.as_str() {
            "EC" => {
                let (curve, point) = self.ec_point()?;
                Ok(PublicKeyMaterial::Ec { curve, point })
            }
            "RSA" => Ok(PublicKeyMaterial::Rsa(self.rsa_components()?)),
            other => Err(JwkError::UnsupportedKeyType(other.to_owned())),
        }
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url) over the required members.
    /// Mamori uses it as the default `kid` of generated keys.
    ///
    /// # Errors
    /// As [`Jwk::key_material`]: only valid keys have a thumbprint.
    pub fn thumbprint_sha256(&self) -> Result<String, JwkError> {
        // Validate first, then hash the required members (RFC 7638 §3.2:
        // lexicographic member order, no whitespace). EC coordinates are
        // checked to be exactly the curve's length, so they are hashed as
        // carried; RSA integers are re-encoded without leading zero octets
        // (RFC 7518 §6.3.1), which a received key may carry: one key, one
        // thumbprint.
        let canonical = match self.key_material()? {
            PublicKeyMaterial::Ec { curve, .. } => serde_json::json!({
                "crv": curve.name(),
                "kty": "EC",
                "x": self.x,
                "y": self.y,
            }),
            PublicKeyMaterial::Rsa(c) => serde_json::json!({
                "e": b64::encode(&c.e),
                "kty": "RSA",
                "n": b64::encode(&c.n),
            }),
        };
        // serde_json's default Map is ordered by key, and these keys are ASCII,
        // so `to_string` is the RFC 7638 form.
        let text = canonical.to_string();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
        Ok(b64::encode(digest.as_ref()))
    }
}

fn validate_rsa(c: &RsaComponents) -> Result<(), JwkError> {
    let bits = c.modulus_bits();
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) || c.n.last().is_some_and(|b| b & 1 == 0) {
        return Err(JwkError::RsaModulusSize(bits));
    }
    // e: odd, > 1, at most 64 bits (aws-lc accepts up to 33 bits for e anyway).
    let odd = c.e.last().is_some_and(|b| b & 1 == 1);
    if c.e.is_empty() || c.e.len() > 8 || !odd || c.e == [1] {
        return Err(JwkError::RsaExponent);
    }
    Ok(())
}

/// A JWK Set document `{"keys":[...]}` (RFC 7517 §5) for a JWKS endpoint.
#[must_use]
pub fn jwks(keys: &[Jwk]) -> serde_json::Value {
    serde_json::json!({ "keys": keys })
}
