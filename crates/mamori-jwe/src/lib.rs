//! Secret release to a TEE's key: a minimal JWE (RFC 7516) in the flattened
//! JSON serialisation that the KBS protocol carries:
//! `{"protected","encrypted_key","iv","ciphertext","tag"}`, base64url without
//! padding, GCM AAD = ASCII of the `protected` member.
//!
//! Encryption always uses `enc` = `A256GCM` and, by recipient key type,
//! - `ECDH-ES+A256KW` on P-256, P-384, P-521 (ephemeral key in `epk`, Concat
//!   KDF per RFC 7518 §4.6, AES key wrap per RFC 3394);
//! - `RSA-OAEP-256` (RSA ≥ 2048 bits).
//!
//! `RSA1_5` is refused with [`JweError::Rsa1_5Refused`] (Bleichenbacher), any
//! other algorithm with [`JweError::UnsupportedAlgorithm`].
//!
//! Decryption ([`decrypt`]) is for the attester side, tests and the demo. It
//! accepts what encryption produces; [`DecryptOptions::allow_128_bit`] also
//! admits `ECDH-ES+A128KW` / `A128GCM` (to check RFC 7520 §5.4).
//!
//! Pure: no I/O, no clock; randomness from aws-lc-rs.
#![forbid(unsafe_code)]

pub mod kdf;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement;
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::key_wrap::{AesKek, KeyWrap as _, AES_128, AES_256};
use aws_lc_rs::rsa::{
    self, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey, OAEP_SHA256_MGF1SHA256,
};
use mamori_token::b64;
use mamori_token::jwk::{EcCurve, Jwk, JwkError, PublicKeyMaterial};
use serde::{Deserialize, Serialize};

/// `alg` values.
pub const ALG_ECDH_ES_A256KW: &str = "ECDH-ES+A256KW";
pub const ALG_ECDH_ES_A128KW: &str = "ECDH-ES+A128KW";
pub const ALG_RSA_OAEP_256: &str = "RSA-OAEP-256";
pub const ALG_RSA1_5: &str = "RSA1_5";
/// `enc` values.
pub const ENC_A256GCM: &str = "A256GCM";
pub const ENC_A128GCM: &str = "A128GCM";

const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Largest accepted JWE JSON document (bytes) in [`decrypt`].
pub const MAX_JWE_JSON_LEN: usize = 16 * 1024 * 1024;

/// Why a JWE could not be produced or opened. Variants name the check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JweError {
    #[error("JWE is not valid flattened JSON: {0}")]
    Json(String),
    #[error("JWE is {len} bytes, more than the {max} allowed")]
    TooLarge { len: usize, max: usize },
    #[error("JWE member {0:?} is not supported")]
    UnsupportedMember(&'static str),
    #[error("JWE member {0:?} is not strict unpadded base64url")]
    Base64(&'static str),
    #[error("JWE protected header is not valid: {0}")]
    Header(String),
    #[error("RSA1_5 key management is refused")]
    Rsa1_5Refused,
    #[error("key management algorithm {0:?} is not supported")]
    UnsupportedAlgorithm(String),
    #[error("content encryption {0:?} is not supported")]
    UnsupportedEncryption(String),
    #[error("compressed JWE (zip) is not supported")]
    Compression,
    #[error("JWE header has critical extensions, none are supported")]
    CriticalHeader,
    #[error("algorithm {alg:?} does not match a {key} key")]
    KeyMismatch { alg: String, key: &'static str },
    #[error("recipient key use is {0:?}, not enc")]
    WrongKeyUse(String),
    #[error("ECDH-ES header has no epk")]
    MissingEpk,
    #[error("epk is on {found}, the key is on {expected}")]
    EpkCurveMismatch { expected: EcCurve, found: String },
    #[error("JWE member {member:?} has {found} bytes, expected {expected}")]
    BadLength {
        member: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("recipient or epk JWK: {0}")]
    Jwk(#[from] JwkError),
    #[error("key rejected: {0}")]
    KeyRejected(String),
    #[error("decryption failed (wrong key or modified JWE)")]
    DecryptionFailed,
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
}

/// A JWE in the flattened JSON serialisation; every member is base64url
/// without padding. This is the exact body of a KBS resource response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlattenedJwe {
    pub protected: String,
    pub encrypted_key: String,
    pub iv: String,
    pub ciphertext: String,
    pub tag: String,
}

/// The wire form read by [`FlattenedJwe::from_json`]: members that change
/// the meaning of the JWE and that Mamori does not support are captured so
/// they can be refused rather than silently ignored.
#[derive(Deserialize)]
struct FlattenedIn {
    protected: String,
    encrypted_key: String,
    iv: String,
    ciphertext: String,
    tag: String,
    #[serde(default)]
    aad: Option<serde_json::Value>,
    #[serde(default)]
    header: Option<serde_json::Value>,
    #[serde(default)]
    unprotected: Option<serde_json::Value>,
    #[serde(default)]
    recipients: Option<serde_json::Value>,
}

impl FlattenedJwe {
    /// The JSON text (members in the order above).
    #[must_use]
    pub fn to_json(&self) -> String {
        // Serialising five strings cannot fail; fall back to an empty object.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Parses the flattened JSON serialisation. `aad`, `header`,
    /// `unprotected` and `recipients` are refused (all parameters must be
    /// integrity-protected; one recipient only).
    ///
    /// # Errors
    /// [`JweError::Json`], [`JweError::TooLarge`], [`JweError::UnsupportedMember`].
    pub fn from_json(text: &str) -> Result<Self, JweError> {
        if text.len() > MAX_JWE_JSON_LEN {
            return Err(JweError::TooLarge {
                len: text.len(),
                max: MAX_JWE_JSON_LEN,
            });
        }
        if text.trim_start().as_bytes().first() != Some(&b'{') {
            return Err(JweError::Json("not a JSON object".to_owned()));
        }
        let raw: FlattenedIn =
            serde_json::from_str(text).map_err(|e| JweError::Json(e.to_string()))?;
        for (name, present) in [
            ("aad", raw.aad.is_some()),
            ("header", raw.header.is_some()),
            ("unprotected", raw.unprotected.is_some()),
            ("recipients", raw.recipients.is_some()),
        ] {
            if present {
                return Err(JweError::UnsupportedMember(name));
            }
        }
        Ok(FlattenedJwe {
            protected: raw.protected,
            encrypted_key: raw.encrypted_key,
            iv: raw.iv,
            ciphertext: raw.ciphertext,
            tag: raw.tag,
        })
    }
}

/// Key management algorithm (`alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyManagement {
    /// ECDH-ES with AES-128 key wrap (decryption only, behind an option).
    EcdhEsA128Kw,
    /// ECDH-ES with AES-256 key wrap.
    EcdhEsA256Kw,
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256.
    RsaOaep256,
}

impl KeyManagement {
    /// The `alg` name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            KeyManagement::EcdhEsA128Kw => ALG_ECDH_ES_A128KW,
            KeyManagement::EcdhEsA256Kw => ALG_ECDH_ES_A256KW,
            KeyManagement::RsaOaep256 => ALG_RSA_OAEP_256,
        }
    }

    /// Parses an `alg` name; `RSA1_5` is a distinct refusal.
    ///
    /// # Errors
    /// [`JweError::Rsa1_5Refused`], [`JweError::UnsupportedAlgorithm`].
    pub fn from_name(name: &str) -> Result<Self, JweError> {
        match name {
            ALG_ECDH_ES_A256KW => Ok(KeyManagement::EcdhEsA256Kw),
            ALG_ECDH_ES_A128KW => Ok(KeyManagement::EcdhEsA128Kw),
            ALG_RSA_OAEP_256 => Ok(KeyManagement::RsaOaep256),
            ALG_RSA1_5 => Err(JweError::Rsa1_5Refused),
            other => Err(JweError::UnsupportedAlgorithm(other.to_owned())),
        }
    }
}

/// Content encryption algorithm (`enc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncryption {
    /// AES-128-GCM (decryption only, behind an option).
    A128Gcm,
    /// AES-256-GCM.
    A256Gcm,
}

impl ContentEncryption {
    /// The `enc` name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            ContentEncryption::A128Gcm => ENC_A128GCM,
            ContentEncryption::A256Gcm => ENC_A256GCM,
        }
    }

    /// Parses an `enc` name.
    ///
    /// # Errors
    /// [`JweError::UnsupportedEncryption`].
    pub fn from_name(name: &str) -> Result<Self, JweError> {
        match name {
            ENC_A256GCM => Ok(ContentEncryption::A256Gcm),
            ENC_A128GCM => Ok(ContentEncryption::A128Gcm),
            other => Err(JweError::UnsupportedEncryption(other.to_owned())),
        }
    }

    /// Content-encryption key length in bytes.
    #[must_use]
    pub const fn key_len(self) -> usize {
        match self {
            ContentEncryption::A128Gcm => 16,
            ContentEncryption::A256Gcm => 32,
        }
    }

    fn aead(self) -> &'static aead::Algorithm {
        match self {
            ContentEncryption::A128Gcm => &aead::AES_128_GCM,
            ContentEncryption::A256Gcm => &aead::AES_256_GCM,
        }
    }
}

/// Optional ECDH-ES parameters for [`Recipient::encrypt_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct EncryptOptions<'a> {
    /// Agreement PartyUInfo (raw bytes; sent base64url-encoded as `apu`).
    pub apu: Option<&'a [u8]>,
    /// Agreement PartyVInfo (raw bytes; sent base64url-encoded as `apv`).
    pub apv: Option<&'a [u8]>,
}

/// What [`decrypt_with`] accepts besides Mamori's own algorithms.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecryptOptions {
    /// Also accept `ECDH-ES+A128KW` and `A128GCM` (not produced by Mamori).
    pub allow_128_bit: bool,
}

#[derive(Serialize, Deserialize)]
struct ProtectedHeader {
    alg: String,
    enc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    epk: Option<Jwk>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    apu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    apv: Option<String>,
    #[serde(default, skip_serializing)]
    zip: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    crit: Option<serde_json::Value>,
}

/// The protected header as the KBS client re-serialises it: `alg`, `enc`,
/// then every other member in key order, nested objects in key order
/// (serde_json's `Value` map is sorted without `preserve_order`).
fn client_canonical_header(header: &ProtectedHeader) -> Result<String, JweError> {
    let value = serde_json::to_value(header).map_err(|_| JweError::Crypto("header"))?;
    let serde_json::Value::Object(mut members) = value else {
        return Err(JweError::Crypto("header"));
    };
    let alg = members.remove("alg").unwrap_or(serde_json::Value::Null);
    let enc = members.remove("enc").unwrap_or(serde_json::Value::Null);
    let mut out = format!("{{\"alg\":{alg},\"enc\":{enc}");
    for (k, v) in &members {
        out.push(',');
        out.push_str(&serde_json::Value::String(k.clone()).to_string());
        out.push(':');
        out.push_str(&v.to_string());
    }
    out.push('}');
    Ok(out)
}

enum RecipientKey {
    Ec {
        curve: EcCurve,
        public: agreement::ParsedPublicKey,
    },
    Rsa(OaepPublicEncryptingKey),
}

/// A recipient public key, parsed and validated once.
pub struct Recipient {
    key: RecipientKey,
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.key {
            RecipientKey::Ec { curve, .. } => write!(f, "Recipient(EC {curve})"),
            RecipientKey::Rsa(k) => write!(f, "Recipient(RSA {} bits)", k.key_size_bits()),
        }
    }
}

impl Recipient {
    /// Parses a recipient JWK (the TEE public key).
    ///
    /// The algorithm follows the key type: EC → `ECDH-ES+A256KW`, RSA →
    /// `RSA-OAEP-256`. If the JWK names an `alg` it must be that one (`RSA1_5`
    /// is refused); if it has `use`, it must be `enc`.
    ///
    /// # Errors
    /// [`JweError::Rsa1_5Refused`], [`JweError::UnsupportedAlgorithm`],
    /// [`JweError::KeyMismatch`], [`JweError::WrongKeyUse`], [`JweError::Jwk`],
    /// [`JweError::KeyRejected`].
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, JweError> {
        if let Some(key_use) = jwk.key_use.as_deref() {
            if key_use != "enc" {
                return Err(JweError::WrongKeyUse(key_use.to_owned()));
            }
        }
        let named = jwk
            .alg
            .as_deref()
            .map(KeyManagement::from_name)
            .transpose()?;
        match jwk.key_material()? {
            PublicKeyMaterial::Ec { curve, point } => {
                if let Some(alg) = named.filter(|a| *a != KeyManagement::EcdhEsA256Kw) {
                    return Err(JweError::KeyMismatch {
                        alg: alg.name().to_owned(),
                        key: "EC",
                    });
                }
                let unparsed =
                    agreement::UnparsedPublicKey::new(curve.agreement_algorithm(), &point);
                let public = agreement::ParsedPublicKey::try_from(&unparsed)
                    .map_err(|e| JweError::KeyRejected(e.to_string()))?;
                Ok(Recipient {
                    key: RecipientKey::Ec { curve, public },
                })
            }
            PublicKeyMaterial::Rsa(c) => {
                if let Some(alg) = named.filter(|a| *a != KeyManagement::RsaOaep256) {
                    return Err(JweError::KeyMismatch {
                        alg: alg.name().to_owned(),
                        key: "RSA",
                    });
                }
                let public: PublicEncryptingKey = rsa::PublicKeyComponents { n: &c.n, e: &c.e }
                    .try_into()
                    .map_err(|_| JweError::KeyRejected("invalid RSA public key".to_owned()))?;
                let oaep = OaepPublicEncryptingKey::new(public)
                    .map_err(|_| JweError::KeyRejected("RSA key unusable for OAEP".to_owned()))?;
                Ok(Recipient {
                    key: RecipientKey::Rsa(oaep),
                })
            }
        }
    }

    /// The key management algorithm used for this recipient.
    #[must_use]
    pub fn algorithm(&self) -> KeyManagement {
        match self.key {
            RecipientKey::Ec { .. } => KeyManagement::EcdhEsA256Kw,
            RecipientKey::Rsa(_) => KeyManagement::RsaOaep256,
        }
    }

    /// Encrypts `plaintext` with A256GCM under a fresh content key.
    ///
    /// # Errors
    /// [`JweError::Crypto`] if a primitive fails.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<FlattenedJwe, JweError> {
        self.encrypt_with(plaintext, &EncryptOptions::default())
    }

    /// As [`Recipient::encrypt`], with `apu`/`apv` for ECDH-ES (ignored for RSA).
    ///
    /// # Errors
    /// [`JweError::Crypto`] if a primitive fails.
    pub fn encrypt_with(
        &self,
        plaintext: &[u8],
        options: &EncryptOptions<'_>,
    ) -> Result<FlattenedJwe, JweError> {
        let enc = ContentEncryption::A256Gcm;
        let mut cek = [0u8; 32];
        aws_lc_rs::rand::fill(&mut cek).map_err(|_| JweError::Crypto("random"))?;
        let (header, encrypted_key) = match &self.key {
            RecipientKey::Ec { curve, public } => {
                let alg = KeyManagement::EcdhEsA256Kw;
                let ephemeral = agreement::PrivateKey::generate(curve.agreement_algorithm())
                    .map_err(|_| JweError::Crypto("ephemeral key"))?;
                let epk_public = ephemeral
                    .compute_public_key()
                    .map_err(|_| JweError::Crypto("ephemeral public key"))?;
                let epk = Jwk::from_generated_ec_point(*curve, epk_public.as_ref())
                    .map_err(|_| JweError::Crypto("ephemeral public key encoding"))?;
                let apu = options.apu.unwrap_or_default();
                let apv = options.apv.unwrap_or_default();
                let mut kek = [0u8; 32];
                agreement::agree(&ephemeral, public.clone(), JweError::Crypto("ECDH"), |z| {
                    kdf::concat_kdf(z, alg.name(), apu, apv, &mut kek)
                })?;
                let wrapped = wrap(&kek, &cek)?;
                let header = ProtectedHeader {
                    alg: alg.name().to_owned(),
                    enc: enc.name().to_owned(),
                    epk: Some(epk),
                    apu: options.apu.map(b64::encode),
                    apv: options.apv.map(b64::encode),
                    zip: None,
                    crit: None,
                };
                (header, wrapped)
            }
            RecipientKey::Rsa(oaep) => {
                let mut out = vec![0u8; oaep.ciphertext_size()];
                let written = oaep
                    .encrypt(&OAEP_SHA256_MGF1SHA256, &cek, &mut out, None)
                    .map_err(|_| JweError::Crypto("RSA-OAEP"))?
                    .len();
                out.truncate(written);
                let header = ProtectedHeader {
                    alg: KeyManagement::RsaOaep256.name().to_owned(),
                    enc: enc.name().to_owned(),
                    epk: None,
                    apu: None,
                    apv: None,
                    zip: None,
                    crit: None,
                };
                (header, out)
            }
        };
        // Confidential Containers guests do not use the received `protected`
        // text as the GCM AAD: they decode the header and serialise it again
        // with `alg`, `enc`, then the other members (and nested members)
        // sorted. Emitting exactly that form makes both AADs identical.
        let header_json = client_canonical_header(&header)?.into_bytes();
        let protected = b64::encode(&header_json);
        let mut iv = [0u8; IV_LEN];
        aws_lc_rs::rand::fill(&mut iv).map_err(|_| JweError::Crypto("random"))?;
        let key = LessSafeKey::new(
            UnboundKey::new(enc.aead(), &cek).map_err(|_| JweError::Crypto("AES-GCM key"))?,
        );
        let mut buffer = plaintext.to_vec();
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(iv),
                Aad::from(protected.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| JweError::Crypto("AES-GCM seal"))?;
        Ok(FlattenedJwe {
            protected,
            encrypted_key: b64::encode(&encrypted_key),
            iv: b64::encode(&iv),
            ciphertext: b64::encode(&buffer),
            tag: b64::encode(tag.as_ref()),
        })
    }
}

fn wrap(kek: &[u8], cek: &[u8]) -> Result<Vec<u8>, JweError> {
    let kek = AesKek::new(&AES_256, kek).map_err(|_| JweError::Crypto("KEK"))?;
    let mut out = vec![0u8; cek.len() + 8];
    let len = kek
        .wrap(cek, &mut out)
        .map_err(|_| JweError::Crypto("AES key wrap"))?
        .len();
    out.truncate(len);
    Ok(out)
}

/// Encrypts `plaintext` to the recipient JWK (see [`Recipient::from_jwk`]).
///
/// # Errors
/// As [`Recipient::from_jwk`] and [`Recipient::encrypt`].
pub fn encrypt(recipient: &Jwk, plaintext: &[u8]) -> Result<FlattenedJwe, JweError> {
    Recipient::from_jwk(recipient)?.encrypt(plaintext)
}

/// A private key that can open JWEs (the TEE side), with its public JWK.
pub struct PrivateKey {
    inner: PrivateInner,
    public: Jwk,
}

enum PrivateInner {
    Ec {
        curve: EcCurve,
        key: agreement::PrivateKey,
    },
    Rsa {
        key: PrivateDecryptingKey,
        oaep: OaepPrivateDecryptingKey,
    },
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            PrivateInner::Ec { curve, .. } => write!(f, "PrivateKey(EC {curve})"),
            PrivateInner::Rsa { key, .. } => {
                write!(f, "PrivateKey(RSA {} bits)", key.key_size_bits())
            }
        }
    }
}

/// RSA key sizes [`PrivateKey::generate_rsa`] offers (all ≥ 2048 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaKeySize {
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl PrivateKey {
    /// Generates an EC key on `curve`.
    ///
    /// # Errors
    /// [`JweError::Crypto`] if generation fails.
    pub fn generate_ec(curve: EcCurve) -> Result<Self, JweError> {
        let key = agreement::PrivateKey::generate(curve.agreement_algorithm())
            .map_err(|_| JweError::Crypto("EC key generation"))?;
        Self::from_ec_key(curve, key)
    }

    /// Generates an RSA key.
    ///
    /// # Errors
    /// [`JweError::Crypto`] if generation fails.
    pub fn generate_rsa(size: RsaKeySize) -> Result<Self, JweError> {
        let size = match size {
            RsaKeySize::Rsa2048 => rsa::KeySize::Rsa2048,
            RsaKeySize::Rsa3072 => rsa::KeySize::Rsa3072,
            RsaKeySize::Rsa4096 => rsa::KeySize::Rsa4096,
        };
        let key = PrivateDecryptingKey::generate(size)
            .map_err(|_| JweError::Crypto("RSA key generation"))?;
        Self::from_rsa_key(key)
    }

    fn from_ec_key(curve: EcCurve, key: agreement::PrivateKey) -> Result<Self, JweError> {
        let point = key
            .compute_public_key()
            .map_err(|_| JweError::Crypto("EC public key"))?;
        let public = Jwk::from_ec_point(curve, point.as_ref())?.with_alg(ALG_ECDH_ES_A256KW);
        Ok(PrivateKey {
            inner: PrivateInner::Ec { curve, key },
            public,
        })
    }

    fn from_rsa_key(key: PrivateDecryptingKey) -> Result<Self, JweError> {
        if key.key_size_bits() < mamori_token::jwk::RSA_MIN_BITS {
            return Err(JweError::Jwk(JwkError::RsaModulusSize(key.key_size_bits())));
        }
        // The public JWK comes from the SubjectPublicKeyInfo: aws-lc-rs exposes
        // n and e on its RSA public key type, parsed from that DER.
        let spki = key
            .public_key()
            .as_der()
            .map_err(|_| JweError::Crypto("RSA public key encoding"))?;
        let public = rsa::PublicKey::from_der(spki.as_ref())
            .map_err(|e| JweError::KeyRejected(e.to_string()))?;
        let jwk = Jwk::from_rsa_components(
            public.modulus().big_endian_without_leading_zero(),
            public.exponent().big_endian_without_leading_zero(),
        )?
        .with_alg(ALG_RSA_OAEP_256);
        let oaep = OaepPrivateDecryptingKey::new(key.clone())
            .map_err(|_| JweError::KeyRejected("RSA key unusable for OAEP".to_owned()))?;
        Ok(PrivateKey {
            inner: PrivateInner::Rsa { key, oaep },
            public: jwk,
        })
    }

    /// An EC key from its PKCS#8 (or RFC 5915) DER encoding.
    ///
    /// # Errors
    /// [`JweError::KeyRejected`].
    pub fn from_ec_pkcs8(curve: EcCurve, der: &[u8]) -> Result<Self, JweError> {
        let key = agreement::PrivateKey::from_private_key_der(curve.agreement_algorithm(), der)
            .map_err(|e| JweError::KeyRejected(e.to_string()))?;
        Self::from_ec_key(curve, key)
    }

    /// An EC key from its big-endian scalar (JWK `d`, full coordinate length).
    ///
    /// # Errors
    /// [`JweError::KeyRejected`].
    pub fn from_ec_scalar(curve: EcCurve, d: &[u8]) -> Result<Self, JweError> {
        let key = agreement::PrivateKey::from_private_key(curve.agreement_algorithm(), d)
            .map_err(|e| JweError::KeyRejected(e.to_string()))?;
        Self::from_ec_key(curve, key)
    }

    /// An RSA key from PKCS#8 DER (≥ 2048 bits).
    ///
    /// # Errors
    /// [`JweError::KeyRejected`], [`JweError::Jwk`] for a small key.
    pub fn from_rsa_pkcs8(der: &[u8]) -> Result<Self, JweError> {
        let key = PrivateDecryptingKey::from_pkcs8(der)
            .map_err(|e| JweError::KeyRejected(e.to_string()))?;
        Self::from_rsa_key(key)
    }

    /// PKCS#8 v1 DER of the key (to persist it).
    ///
    /// # Errors
    /// [`JweError::Crypto`] if encoding fails.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, JweError> {
        let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> = match &self.inner {
            PrivateInner::Ec { key, .. } => key.as_der(),
            PrivateInner::Rsa { key, .. } => key.as_der(),
        }
        .map_err(|_| JweError::Crypto("PKCS#8 encoding"))?;
        Ok(der.as_ref().to_vec())
    }

    /// The public JWK to send as `tee-pubkey`, with `alg` set
    /// (`ECDH-ES+A256KW` or `RSA-OAEP-256`).
    #[must_use]
    pub fn public_jwk(&self) -> &Jwk {
        &self.public
    }

    /// The key management algorithm this key opens.
    #[must_use]
    pub fn algorithm(&self) -> KeyManagement {
        match self.inner {
            PrivateInner::Ec { .. } => KeyManagement::EcdhEsA256Kw,
            PrivateInner::Rsa { .. } => KeyManagement::RsaOaep256,
        }
    }
}

/// Decrypts a flattened JSON JWE with Mamori's algorithms
/// (`ECDH-ES+A256KW` or `RSA-OAEP-256`, `A256GCM`).
///
/// # Errors
/// The [`JweError`] naming the failed check; a wrong key or any modified
/// byte of the cryptographic members gives [`JweError::DecryptionFailed`].
pub fn decrypt(jwe_json: &str, key: &PrivateKey) -> Result<Vec<u8>, JweError> {
    decrypt_with(
        &FlattenedJwe::from_json(jwe_json)?,
        key,
        &DecryptOptions::default(),
    )
}

/// Decrypts a parsed JWE; `options` may admit the 128-bit algorithms.
///
/// Header checks: `alg` known and matching the key type (`RSA1_5` refused),
/// `enc` known, no `zip`, no `crit`, for ECDH-ES an `epk` on the key's curve
/// (validated point), `apu`/`apv` strict base64url; member lengths (IV 12,
/// tag 16, wrapped key) exact.
///
/// # Errors
/// As [`decrypt`].
pub fn decrypt_with(
    jwe: &FlattenedJwe,
    key: &PrivateKey,
    options: &DecryptOptions,
) -> Result<Vec<u8>, JweError> {
    let header_bytes = b64::decode(&jwe.protected).map_err(|_| JweError::Base64("protected"))?;
    // serde's derived structs also accept JSON arrays; a header is an object.
    if header_bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(JweError::Header("not a JSON object".to_owned()));
    }
    let header: ProtectedHeader =
        serde_json::from_slice(&header_bytes).map_err(|e| JweError::Header(e.to_string()))?;
    let alg = KeyManagement::from_name(&header.alg)?;
    let enc = ContentEncryption::from_name(&header.enc)?;
    if !options.allow_128_bit
        && (alg == KeyManagement::EcdhEsA128Kw || enc == ContentEncryption::A128Gcm)
    {
        return Err(if alg == KeyManagement::EcdhEsA128Kw {
            JweError::UnsupportedAlgorithm(header.alg)
        } else {
            JweError::UnsupportedEncryption(header.enc)
        });
    }
    if header.zip.is_some() {
        return Err(JweError::Compression);
    }
    if header.crit.is_some() {
        return Err(JweError::CriticalHeader);
    }
    let encrypted_key =
        b64::decode(&jwe.encrypted_key).map_err(|_| JweError::Base64("encrypted_key"))?;
    let iv = b64::decode(&jwe.iv).map_err(|_| JweError::Base64("iv"))?;
    let ciphertext = b64::decode(&jwe.ciphertext).map_err(|_| JweError::Base64("ciphertext"))?;
    let tag = b64::decode(&jwe.tag).map_err(|_| JweError::Base64("tag"))?;
    let iv: [u8; IV_LEN] = iv.as_slice().try_into().map_err(|_| JweError::BadLength {
        member: "iv",
        expected: IV_LEN,
        found: iv.len(),
    })?;
    if tag.len() != TAG_LEN {
        return Err(JweError::BadLength {
            member: "tag",
            expected: TAG_LEN,
            found: tag.len(),
        });
    }

    let cek = match (&key.inner, alg) {
        (
            PrivateInner::Ec { curve, key },
            KeyManagement::EcdhEsA256Kw | KeyManagement::EcdhEsA128Kw,
        ) => {
            let epk = header.epk.as_ref().ok_or(JweError::MissingEpk)?;
            let epk_curve = epk.ec_curve()?;
            if epk_curve != *curve {
                return Err(JweError::EpkCurveMismatch {
                    expected: *curve,
                    found: epk_curve.name().to_owned(),
                });
            }
            let (_, point) = epk.ec_point()?;
            let apu = header
                .apu
                .as_deref()
                .map(b64::decode)
                .transpose()
                .map_err(|_| JweError::Base64("apu"))?
                .unwrap_or_default();
            let apv = header
                .apv
                .as_deref()
                .map(b64::decode)
                .transpose()
                .map_err(|_| JweError::Base64("apv"))?
                .unwrap_or_default();
            let kek_len = if alg == KeyManagement::EcdhEsA256Kw {
                32
            } else {
                16
            };
            let expected = enc.key_len() + 8;
            if encrypted_key.len() != expected {
                return Err(JweError::BadLength {
                    member: "encrypted_key",
                    expected,
                    found: encrypted_key.len(),
                });
            }
            let mut kek = vec![0u8; kek_len];
            let peer = agreement::UnparsedPublicKey::new(curve.agreement_algorithm(), &point);
            agreement::agree(key, peer, JweError::Crypto("ECDH"), |z| {
                kdf::concat_kdf(z, alg.name(), &apu, &apv, &mut kek)
            })?;
            let kek = if kek_len == 32 {
                AesKek::new(&AES_256, &kek)
            } else {
                AesKek::new(&AES_128, &kek)
            }
            .map_err(|_| JweError::Crypto("KEK"))?;
            let mut out = vec![0u8; enc.key_len()];
            kek.unwrap(&encrypted_key, &mut out)
                .map_err(|_| JweError::DecryptionFailed)?;
            out
        }
        (PrivateInner::Rsa { oaep, .. }, KeyManagement::RsaOaep256) => {
            let expected = oaep.key_size_bytes();
            if encrypted_key.len() != expected {
                return Err(JweError::BadLength {
                    member: "encrypted_key",
                    expected,
                    found: encrypted_key.len(),
                });
            }
            let mut out = vec![0u8; oaep.min_output_size()];
            // RFC 7516 §11.5: on an RSA failure continue with a random CEK so
            // that padding errors and tag errors look the same to a sender.
            let mut random_cek = vec![0u8; enc.key_len()];
            aws_lc_rs::rand::fill(&mut random_cek).map_err(|_| JweError::Crypto("random"))?;
            match oaep.decrypt(&OAEP_SHA256_MGF1SHA256, &encrypted_key, &mut out, None) {
                Ok(cek) if cek.len() == enc.key_len() => cek.to_vec(),
                _ => random_cek,
            }
        }
        (PrivateInner::Ec { .. }, other) => {
            return Err(JweError::KeyMismatch {
                alg: other.name().to_owned(),
                key: "EC",
            })
        }
        (PrivateInner::Rsa { .. }, other) => {
            return Err(JweError::KeyMismatch {
                alg: other.name().to_owned(),
                key: "RSA",
            })
        }
    };

    let opening = LessSafeKey::new(
        UnboundKey::new(enc.aead(), &cek).map_err(|_| JweError::Crypto("AES-GCM key"))?,
    );
    let mut buffer = ciphertext;
    buffer.extend_from_slice(&tag);
    let plaintext_len = opening
        .open_in_place(
            Nonce::assume_unique_for_key(iv),
            Aad::from(jwe.protected.as_bytes()),
            &mut buffer,
        )
        .map_err(|_| JweError::DecryptionFailed)?
        .len();
    buffer.truncate(plaintext_len);
    Ok(buffer)
}
