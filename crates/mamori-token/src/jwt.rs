//! ES256 JWTs (RFC 7519 / RFC 7515 compact serialisation), written by hand.
//!
//! Signing caches the parsed P-256 key pair and the encoded header, so a token
//! costs one JSON serialisation, two base64url encodings and one ECDSA
//! signature. Verification is deliberately narrow: ES256 only, the key chosen
//! by `kid` from a caller-provided set, never from the token itself.

use crate::b64;
use crate::claims::EarClaims;
use crate::jwk::{EcCurve, Jwk, JwkError};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, ParsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The only JWS algorithm Mamori issues and accepts.
pub const ALG_ES256: &str = "ES256";
/// Default clock-skew leeway for `exp`, `nbf` and `iat` (seconds).
pub const DEFAULT_LEEWAY_SECS: i64 = 30;
/// Default largest token accepted (bytes); EARs carry annotated evidence.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 256 * 1024;

/// Which part of a compact JWS failed to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPart {
    Header,
    Payload,
    Signature,
}

/// Why a token could not be signed or did not verify. Each variant names the
/// check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is {len} bytes, more than the {max} allowed")]
    TooLarge { len: usize, max: usize },
    #[error("token is not three dot-separated parts")]
    NotCompact,
    #[error("token {0:?} is not strict unpadded base64url")]
    Base64(TokenPart),
    #[error("token header is not a valid JOSE header: {0}")]
    HeaderJson(String),
    #[error("token claims are not valid: {0}")]
    ClaimsJson(String),
    #[error("algorithm {0:?} is not accepted (only ES256)")]
    UnsupportedAlgorithm(String),
    #[error("token type {0:?} is not JWT")]
    UnsupportedType(String),
    #[error("token header has critical extensions, none are supported")]
    CriticalHeader,
    #[error("token header carries a key or key reference ({0}); keys are never taken from tokens")]
    EmbeddedKey(&'static str),
    #[error("token header has no kid")]
    MissingKid,
    #[error("no trusted key with kid {0:?}")]
    UnknownKid(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("token has no exp claim")]
    MissingExpiry,
    #[error("token expired at {exp} (now {now})")]
    Expired { exp: i64, now: i64 },
    #[error("token not valid before {nbf} (now {now})")]
    NotYetValid { nbf: i64, now: i64 },
    #[error("token issued in the future at {iat} (now {now})")]
    IssuedInFuture { iat: i64, now: i64 },
    #[error("key rejected: {0}")]
    KeyRejected(String),
    #[error("JWK unusable for ES256: {0}")]
    Jwk(#[from] JwkError),
    #[error("signing failed")]
    Signing,
}

/// Signs ES256 JWTs with one cached P-256 key.
///
/// `Send + Sync`: share one signer across request handlers (e.g. in an `Arc`).
pub struct TokenSigner {
    kid: String,
    key_pair: EcdsaKeyPair,
    rng: SystemRandom,
    /// `base64url(header) + "."`, computed once.
    header_prefix: String,
    public_jwk: Jwk,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

impl TokenSigner {
    /// A signer for a PKCS#8 (v1 or v2) DER P-256 private key.
    ///
    /// # Errors
    /// [`TokenError::KeyRejected`] if the key is not a valid P-256 PKCS#8 key.
    pub fn new(kid: impl Into<String>, pkcs8_der: &[u8]) -> Result<Self, TokenError> {
        let kid = kid.into();
        let key_pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8_der)
            .map_err(|e| TokenError::KeyRejected(e.to_string()))?;
        let public_jwk = Jwk::from_ec_point(EcCurve::P256, key_pair.public_key().as_ref())?
            .with_kid(kid.clone())
            .with_alg(ALG_ES256)
            .with_use("sig");
        let header = serde_json::to_vec(&HeaderOut {
            alg: ALG_ES256,
            typ: "JWT",
            kid: &kid,
        })
        .map_err(|_| TokenError::Signing)?;
        let mut header_prefix = b64::encode(&header);
        header_prefix.push('.');
        Ok(TokenSigner {
            kid,
            key_pair,
            rng: SystemRandom::new(),
            header_prefix,
            public_jwk,
        })
    }

    /// Generates a new P-256 key. The `kid` is the key's RFC 7638 thumbprint.
    /// Returns the signer and the PKCS#8 v1 DER private key, for the caller to
    /// store (encrypted) and reload with [`TokenSigner::new`].
    ///
    /// # Errors
    /// [`TokenError::KeyRejected`] if the generator fails.
    pub fn generate() -> Result<(Self, Vec<u8>), TokenError> {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|e| TokenError::KeyRejected(e.to_string()))?;
        let der = pkcs8.as_ref().to_vec();
        let key_pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .map_err(|e| TokenError::KeyRejected(e.to_string()))?;
        let kid = Jwk::from_ec_point(EcCurve::P256, key_pair.public_key().as_ref())?
            .thumbprint_sha256()?;
        Ok((Self::new(kid, &der)?, der))
    }

    /// The key id written into every token header.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK with `kid`, `alg: ES256`, `use: sig` (for JWKS).
    #[must_use]
    pub fn public_jwk(&self) -> &Jwk {
        &self.public_jwk
    }

    /// Signs an EAR claims set.
    ///
    /// # Errors
    /// [`TokenError::Signing`] if serialisation or signing fails.
    pub fn sign(&self, claims: &EarClaims) -> Result<String, TokenError> {
        self.sign_json(claims)
    }

    /// Signs any serialisable claims set (e.g. admin tokens in tests).
    ///
    /// # Errors
    /// [`TokenError::Signing`] if serialisation or signing fails.
    pub fn sign_json<T: Serialize + ?Sized>(&self, claims: &T) -> Result<String, TokenError> {
        let payload = serde_json::to_vec(claims).map_err(|_| TokenError::Signing)?;
        // header(≈90) + payload·4/3 + '.' + signature(86)
        let mut token =
            String::with_capacity(self.header_prefix.len() + payload.len() * 4 / 3 + 96);
        token.push_str(&self.header_prefix);
        b64::encode_into(&payload, &mut token);
        let signature = self
            .key_pair
            .sign(&self.rng, token.as_bytes())
            .map_err(|_| TokenError::Signing)?;
        token.push('.');
        b64::encode_into(signature.as_ref(), &mut token);
        Ok(token)
    }
}

/// The JOSE header members the verifier looks at. Unknown members are
/// ignored (RFC 7515 §4), except `crit`, which makes the token unacceptable.
/// serde rejects duplicated known members, so `{"alg":"ES256","alg":"none"}`
/// cannot confuse the check.
#[derive(Deserialize)]
struct HeaderIn {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
    #[serde(default)]
    jwk: Option<serde_json::Value>,
    #[serde(default)]
    jku: Option<serde_json::Value>,
    #[serde(default)]
    x5c: Option<serde_json::Value>,
    #[serde(default)]
    x5u: Option<serde_json::Value>,
    #[serde(default)]
    x5t: Option<serde_json::Value>,
    #[serde(default, rename = "x5t#S256")]
    x5t_s256: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct TimeClaims {
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
}

/// Verifies ES256 JWTs against a set of trusted keys selected by `kid`.
///
/// Holds parsed public keys (parsing once per key, not per token). Keep old
/// and new signing keys in one verifier during rotation.
#[derive(Debug)]
pub struct TokenVerifier {
    keys: HashMap<String, ParsedPublicKey>,
    leeway_secs: i64,
    max_len: usize,
}

impl Default for TokenVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenVerifier {
    /// An empty key set, [`DEFAULT_LEEWAY_SECS`], [`DEFAULT_MAX_TOKEN_LEN`].
    #[must_use]
    pub fn new() -> Self {
        TokenVerifier {
            keys: HashMap::new(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            max_len: DEFAULT_MAX_TOKEN_LEN,
        }
    }

    /// Sets the clock-skew leeway (seconds, negative values count as 0).
    #[must_use]
    pub fn with_leeway(mut self, secs: i64) -> Self {
        self.leeway_secs = secs.max(0);
        self
    }

    /// Sets the largest accepted token, in bytes.
    #[must_use]
    pub fn with_max_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes;
        self
    }

    /// Trusts a P-256 public JWK under its `kid` (replacing a key with that kid).
    ///
    /// # Errors
    /// [`TokenError::MissingKid`], [`TokenError::Jwk`] for a non-P-256 or invalid
    /// key, [`TokenError::UnsupportedAlgorithm`] if the JWK names another `alg`.
    pub fn add_jwk(&mut self, jwk: &Jwk) -> Result<(), TokenError> {
        let kid = jwk.kid.clone().ok_or(TokenError::MissingKid)?;
        if let Some(alg) = jwk.alg.as_deref() {
            if alg != ALG_ES256 {
                return Err(TokenError::UnsupportedAlgorithm(alg.to_owned()));
            }
        }
        let (curve, point) = jwk.ec_point()?;
        if curve != EcCurve::P256 {
            return Err(TokenError::Jwk(JwkError::UnsupportedCurve(jwk.crv.clone())));
        }
        self.add_p256_point(kid, &point)
    }

    /// Trusts an uncompressed P-256 point (`0x04 ‖ X ‖ Y`) under `kid`.
    ///
    /// # Errors
    /// [`TokenError::KeyRejected`] if the point is not valid.
    pub fn add_p256_point(
        &mut self,
        kid: impl Into<String>,
        point: &[u8],
    ) -> Result<(), TokenError> {
        let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            .map_err(|e| TokenError::KeyRejected(e.to_string()))?;
        self.keys.insert(kid.into(), parsed);
        Ok(())
    }

    /// Stops trusting `kid`; true if it was present.
    pub fn remove_key(&mut self, kid: &str) -> bool {
        self.keys.remove(kid).is_some()
    }

    /// The trusted key ids.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Verifies an EAR token at `now_unix` and returns its claims.
    ///
    /// Checks, in order: size; three parts; strict base64url; header (ES256
    /// only, `typ` JWT if present, no `crit`, no embedded key or key URL, `kid`
    /// trusted); signature over the received `header.payload` bytes; `exp`
    /// (required), `nbf`, `iat` against `now` ± leeway; claims shape.
    ///
    /// # Errors
    /// The [`TokenError`] variant naming the first failed check.
    pub fn verify(&self, token: &str, now_unix: i64) -> Result<EarClaims, TokenError> {
        // One parse: the EAR struct carries the time claims itself.
        let payload = self.verify_signature(token)?;
        if !is_json_object(&payload) {
            return Err(TokenError::ClaimsJson("not a JSON object".to_owned()));
        }
        match serde_json::from_slice::<EarClaims>(&payload) {
            Ok(claims) => {
                self.check_times(Some(claims.exp), claims.nbf, Some(claims.iat), now_unix)?;
                Ok(claims)
            }
            Err(shape) => {
                // Report a time failure before a shape failure, as verify_json does.
                let times: TimeClaims = serde_json::from_slice(&payload)
                    .map_err(|_| TokenError::ClaimsJson(shape.to_string()))?;
                self.check_times(times.exp, times.nbf, times.iat, now_unix)?;
                Err(TokenError::ClaimsJson(shape.to_string()))
            }
        }
    }

    /// As [`TokenVerifier::verify`], deserialising the claims into `T`.
    ///
    /// # Errors
    /// As [`TokenVerifier::verify`].
    pub fn verify_json<T: DeserializeOwned>(
        &self,
        token: &str,
        now_unix: i64,
    ) -> Result<T, TokenError> {
        let payload = self.verify_signature(token)?;
        if !is_json_object(&payload) {
            return Err(TokenError::ClaimsJson("not a JSON object".to_owned()));
        }
        let times: TimeClaims =
            serde_json::from_slice(&payload).map_err(|e| TokenError::ClaimsJson(e.to_string()))?;
        self.check_times(times.exp, times.nbf, times.iat, now_unix)?;
        serde_json::from_slice(&payload).map_err(|e| TokenError::ClaimsJson(e.to_string()))
    }

    fn check_times(
        &self,
        exp: Option<i64>,
        nbf: Option<i64>,
        iat: Option<i64>,
        now_unix: i64,
    ) -> Result<(), TokenError> {
        let leeway = self.leeway_secs;
        let exp = exp.ok_or(TokenError::MissingExpiry)?;
        if now_unix >= exp.saturating_add(leeway) {
            return Err(TokenError::Expired { exp, now: now_unix });
        }
        if let Some(nbf) = nbf {
            if now_unix.saturating_add(leeway) < nbf {
                return Err(TokenError::NotYetValid { nbf, now: now_unix });
            }
        }
        if let Some(iat) = iat {
            if now_unix.saturating_add(leeway) < iat {
                return Err(TokenError::IssuedInFuture { iat, now: now_unix });
            }
        }
        Ok(())
    }

    /// Checks size, encoding, header and signature; returns the payload bytes.
    fn verify_signature(&self, token: &str) -> Result<Vec<u8>, TokenError> {
        if token.len() > self.max_len {
            return Err(TokenError::TooLarge {
                len: token.len(),
                max: self.max_len,
            });
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(sig_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::NotCompact);
        };
        let header_bytes =
            b64::decode(header_b64).map_err(|_| TokenError::Base64(TokenPart::Header))?;
        if !is_json_object(&header_bytes) {
            return Err(TokenError::HeaderJson("not a JSON object".to_owned()));
        }
        let header: HeaderIn = serde_json::from_slice(&header_bytes)
            .map_err(|e| TokenError::HeaderJson(e.to_string()))?;
        if header.alg != ALG_ES256 {
            return Err(TokenError::UnsupportedAlgorithm(header.alg));
        }
        if let Some(typ) = header.typ {
            if !typ.eq_ignore_ascii_case("JWT") {
                return Err(TokenError::UnsupportedType(typ));
            }
        }
        if header.crit.is_some() {
            return Err(TokenError::CriticalHeader);
        }
        for (name, present) in [
            ("jwk", header.jwk.is_some()),
            ("jku", header.jku.is_some()),
            ("x5c", header.x5c.is_some()),
            ("x5u", header.x5u.is_some()),
            ("x5t", header.x5t.is_some()),
            ("x5t#S256", header.x5t_s256.is_some()),
        ] {
            if present {
                return Err(TokenError::EmbeddedKey(name));
            }
        }
        let kid = header.kid.ok_or(TokenError::MissingKid)?;
        let key = self.keys.get(&kid).ok_or(TokenError::UnknownKid(kid))?;
        let signature =
            b64::decode(sig_b64).map_err(|_| TokenError::Base64(TokenPart::Signature))?;
        if signature.len() != 64 {
            return Err(TokenError::BadSignature);
        }
        // The signing input is the received bytes, never a re-encoding.
        let signing_input_len = header_b64.len() + 1 + payload_b64.len();
        let signing_input = token
            .as_bytes()
            .get(..signing_input_len)
            .ok_or(TokenError::NotCompact)?;
        key.verify_sig(signing_input, &signature)
            .map_err(|_| TokenError::BadSignature)?;
        b64::decode(payload_b64).map_err(|_| TokenError::Base64(TokenPart::Payload))
    }
}

/// serde's derived structs also accept a JSON *array* (fields by position);
/// a JOSE header or claims set must be an object, so look before parsing.
fn is_json_object(bytes: &[u8]) -> bool {
    bytes.trim_ascii_start().first() == Some(&b'{')
}

// Compile-time proof that the signer and verifier can be shared across threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TokenSigner>();
    assert_send_sync::<TokenVerifier>();
};
