//! Signature schemes and public keys as they appear in X.509, mapped onto
//! aws-lc-rs verification algorithms.

use crate::CertError;
use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use x509_parser::der_parser::oid::Oid;
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const OID_RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
const OID_SHA256_RSA: &str = "1.2.840.113549.1.1.11";
const OID_SHA384_RSA: &str = "1.2.840.113549.1.1.12";
const OID_SHA512_RSA: &str = "1.2.840.113549.1.1.13";
const OID_MGF1: &str = "1.2.840.113549.1.1.8";
const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const OID_ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const OID_ECDSA_SHA512: &str = "1.2.840.10045.4.3.4";
const OID_ED25519: &str = "1.3.101.112";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_P521: &str = "1.3.132.0.35";
const OID_SHA256: &str = "2.16.840.1.101.3.4.2.1";
const OID_SHA384: &str = "2.16.840.1.101.3.4.2.2";
const OID_SHA512: &str = "2.16.840.1.101.3.4.2.3";

/// A signature algorithm we accept. SHA-1 and MD5 based schemes are not here
/// on purpose: no attestation PKI we trust uses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
    /// RSASSA-PSS with MGF1 over the same hash and a salt as long as the hash.
    RsaPssSha256,
    RsaPssSha384,
    RsaPssSha512,
    EcdsaSha256,
    EcdsaSha384,
    EcdsaSha512,
    Ed25519,
}

/// The kind of a subject public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    EcP521,
    Ed25519,
}

/// A subject public key: its kind and the bytes aws-lc-rs expects (PKCS#1
/// RSAPublicKey for RSA, the uncompressed point for EC, 32 bytes for Ed25519).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    pub kind: KeyKind,
    pub bytes: Vec<u8>,
}

fn oid_str(oid: &Oid<'_>) -> String {
    oid.to_id_string()
}

impl SignatureScheme {
    pub(crate) fn from_algorithm_identifier(
        alg: &AlgorithmIdentifier<'_>,
    ) -> Result<Self, CertError> {
        let oid = oid_str(&alg.algorithm);
        Ok(match oid.as_str() {
            OID_SHA256_RSA => Self::RsaPkcs1Sha256,
            OID_SHA384_RSA => Self::RsaPkcs1Sha384,
            OID_SHA512_RSA => Self::RsaPkcs1Sha512,
            OID_ECDSA_SHA256 => Self::EcdsaSha256,
            OID_ECDSA_SHA384 => Self::EcdsaSha384,
            OID_ECDSA_SHA512 => Self::EcdsaSha512,
            OID_ED25519 => Self::Ed25519,
            OID_RSASSA_PSS => {
                let params = alg
                    .parameters
                    .as_ref()
                    .ok_or_else(|| CertError::UnsupportedPssParameters("absent".into()))?;
                let params = RsaSsaPssParams::try_from(params)
                    .map_err(|e| CertError::UnsupportedPssParameters(e.to_string()))?;
                Self::from_pss_params(&params)?
            }
            other => return Err(CertError::UnsupportedSignatureAlgorithm(other.to_string())),
        })
    }

    fn from_pss_params(p: &RsaSsaPssParams<'_>) -> Result<Self, CertError> {
        let hash = oid_str(p.hash_algorithm_oid());
        let mgf = p
            .mask_gen_algorithm()
            .map_err(|e| CertError::UnsupportedPssParameters(e.to_string()))?;
        if oid_str(&mgf.mgf) != OID_MGF1 || oid_str(&mgf.hash) != hash {
            return Err(CertError::UnsupportedPssParameters(format!(
                "mask generation {} with {} for hash {hash}",
                mgf.mgf, mgf.hash
            )));
        }
        if p.trailer_field() != 1 {
            return Err(CertError::UnsupportedPssParameters(format!(
                "trailerField {}",
                p.trailer_field()
            )));
        }
        let (scheme, salt) = match hash.as_str() {
            OID_SHA256 => (Self::RsaPssSha256, 32),
            OID_SHA384 => (Self::RsaPssSha384, 48),
            OID_SHA512 => (Self::RsaPssSha512, 64),
            other => return Err(CertError::UnsupportedPssParameters(format!("hash {other}"))),
        };
        if p.salt_length() != salt {
            return Err(CertError::UnsupportedPssParameters(format!(
                "salt length {} (expected {salt})",
                p.salt_length()
            )));
        }
        Ok(scheme)
    }

    /// The aws-lc-rs algorithm for this scheme and key kind.
    pub fn verification_algorithm(
        self,
        key: KeyKind,
    ) -> Result<&'static dyn VerificationAlgorithm, CertError> {
        use SignatureScheme as S;
        Ok(match (self, key) {
            (S::RsaPkcs1Sha256, KeyKind::Rsa) => &signature::RSA_PKCS1_2048_8192_SHA256,
            (S::RsaPkcs1Sha384, KeyKind::Rsa) => &signature::RSA_PKCS1_2048_8192_SHA384,
            (S::RsaPkcs1Sha512, KeyKind::Rsa) => &signature::RSA_PKCS1_2048_8192_SHA512,
            (S::RsaPssSha256, KeyKind::Rsa) => &signature::RSA_PSS_2048_8192_SHA256,
            (S::RsaPssSha384, KeyKind::Rsa) => &signature::RSA_PSS_2048_8192_SHA384,
            (S::RsaPssSha512, KeyKind::Rsa) => &signature::RSA_PSS_2048_8192_SHA512,
            (S::EcdsaSha256, KeyKind::EcP256) => &signature::ECDSA_P256_SHA256_ASN1,
            (S::EcdsaSha384, KeyKind::EcP256) => &signature::ECDSA_P256_SHA384_ASN1,
            (S::EcdsaSha512, KeyKind::EcP256) => &signature::ECDSA_P256_SHA512_ASN1,
            (S::EcdsaSha256, KeyKind::EcP384) => &signature::ECDSA_P384_SHA256_ASN1,
            (S::EcdsaSha384, KeyKind::EcP384) => &signature::ECDSA_P384_SHA384_ASN1,
            (S::EcdsaSha512, KeyKind::EcP384) => &signature::ECDSA_P384_SHA512_ASN1,
            (S::EcdsaSha256, KeyKind::EcP521) => &signature::ECDSA_P521_SHA256_ASN1,
            (S::EcdsaSha384, KeyKind::EcP521) => &signature::ECDSA_P521_SHA384_ASN1,
            (S::EcdsaSha512, KeyKind::EcP521) => &signature::ECDSA_P521_SHA512_ASN1,
            (S::Ed25519, KeyKind::Ed25519) => &signature::ED25519,
            (scheme, key) => return Err(CertError::KeyAlgorithmMismatch { scheme, key }),
        })
    }
}

impl PublicKey {
    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, CertError> {
        let alg = oid_str(&spki.algorithm.algorithm);
        let bytes = spki.subject_public_key.data.to_vec();
        let kind = match alg.as_str() {
            // AMD and others sometimes label RSA keys with the PSS OID.
            OID_RSA_ENCRYPTION | OID_RSASSA_PSS => KeyKind::Rsa,
            OID_ED25519 => KeyKind::Ed25519,
            OID_EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| oid_str(&o))
                    .ok_or_else(|| {
                        CertError::UnsupportedKey("EC key without named curve".into())
                    })?;
                match curve.as_str() {
                    OID_P256 => KeyKind::EcP256,
                    OID_P384 => KeyKind::EcP384,
                    OID_P521 => KeyKind::EcP521,
                    other => return Err(CertError::UnsupportedKey(format!("EC curve {other}"))),
                }
            }
            other => return Err(CertError::UnsupportedKey(other.to_string())),
        };
        Ok(Self { kind, bytes })
    }

    /// Verifies `sig` over `msg` with this key under `scheme`.
    pub fn verify(&self, scheme: SignatureScheme, msg: &[u8], sig: &[u8]) -> Result<(), CertError> {
        let alg = scheme.verification_algorithm(self.kind)?;
        signature::UnparsedPublicKey::new(alg, &self.bytes)
            .verify(msg, sig)
            .map_err(|_| CertError::BadSignature)
    }

    /// A parsed key for repeated verification with one fixed algorithm (hot
    /// paths cache it once the certificate path is validated).
    pub fn parsed(
        &self,
        alg: &'static dyn VerificationAlgorithm,
    ) -> Result<ParsedPublicKey, CertError> {
        ParsedPublicKey::new(alg, &self.bytes)
            .map_err(|e| CertError::UnsupportedKey(format!("key rejected: {e}")))
    }
}
