//! Admin authentication: a compact JWT signed by a key whose public half is
//! in the configuration. Ed25519 (`EdDSA`, what Confidential Containers'
//! kbs-client sends) and P-256 (`ES256`) are accepted. `exp` is required;
//! keys are never taken from the token.

use crate::error::ServiceError;
use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519};
use base64::Engine;
use serde::Deserialize;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

const OID_ED25519: &str = "1.3.101.112";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
/// Clock skew tolerated on `exp`/`iat`, seconds.
const LEEWAY: i64 = 60;
/// Admin tokens may not claim a lifetime beyond this (limits a stolen token).
const MAX_LIFETIME: i64 = 24 * 3600;

#[derive(Clone, Debug)]
pub struct AdminKey {
    /// SHA-256 of the SubjectPublicKeyInfo, hex: names the key in the audit log.
    pub id: String,
    alg: AdminAlg,
    raw: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AdminAlg {
    Ed25519,
    Es256,
}

/// Parses a PEM (or DER) SubjectPublicKeyInfo of an Ed25519 or P-256 key.
pub fn parse_public_key(bytes: &[u8]) -> Result<AdminKey, String> {
    let der = if bytes.starts_with(b"-----BEGIN") || bytes.windows(10).any(|w| w == b"-----BEGIN") {
        let (_, pem) = x509_parser::pem::parse_x509_pem(bytes).map_err(|e| format!("PEM: {e}"))?;
        if pem.label != "PUBLIC KEY" {
            return Err(format!("PEM label {:?}, expected PUBLIC KEY", pem.label));
        }
        pem.contents
    } else {
        bytes.to_vec()
    };
    let (rest, spki) =
        SubjectPublicKeyInfo::from_der(&der).map_err(|e| format!("SubjectPublicKeyInfo: {e}"))?;
    if !rest.is_empty() {
        return Err("trailing bytes after the public key".into());
    }
    let alg_oid = spki.algorithm.algorithm.to_id_string();
    let raw = spki.subject_public_key.data.to_vec();
    let alg = match alg_oid.as_str() {
        OID_ED25519 if raw.len() == 32 => AdminAlg::Ed25519,
        OID_EC => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            if curve.as_deref() != Some(OID_P256) {
                return Err("EC admin keys must be P-256".into());
            }
            AdminAlg::Es256
        }
        other => return Err(format!("unsupported admin key algorithm {other}")),
    };
    let id = hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der));
    Ok(AdminKey { id, alg, raw })
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    jwk: Option<serde_json::Value>,
    #[serde(default)]
    jku: Option<String>,
    #[serde(default)]
    x5c: Option<serde_json::Value>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Claims {
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
}

fn b64(part: &str) -> Result<Vec<u8>, ServiceError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| ServiceError::AdminAuth("token is not base64url".into()))
}

/// Verifies an admin bearer token; returns the key id that signed it.
pub fn verify(token: &str, keys: &[AdminKey], now: i64) -> Result<String, ServiceError> {
    let err = |m: &str| ServiceError::AdminAuth(m.to_owned());
    if keys.is_empty() {
        return Err(err("no admin public key is configured on this server"));
    }
    if token.len() > 16 * 1024 {
        return Err(err("token too large"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(err("not a compact JWT"));
    };
    let header: Header = serde_json::from_slice(&b64(h)?).map_err(|_| err("header is not JSON"))?;
    if header.jwk.is_some() || header.jku.is_some() || header.x5c.is_some() {
        return Err(err("keys carried in the token are never trusted"));
    }
    if header.crit.is_some() {
        return Err(err("crit header not supported"));
    }
    let alg = match header.alg.as_str() {
        "EdDSA" => AdminAlg::Ed25519,
        "ES256" => AdminAlg::Es256,
        other => {
            return Err(ServiceError::AdminAuth(format!(
                "algorithm {other:?} not accepted"
            )))
        }
    };
    let sig = b64(s)?;
    let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
    let key = keys
        .iter()
        .filter(|k| k.alg == alg)
        .find(|k| {
            let v: &'static dyn aws_lc_rs::signature::VerificationAlgorithm = match k.alg {
                AdminAlg::Ed25519 => &ED25519,
                AdminAlg::Es256 => &ECDSA_P256_SHA256_FIXED,
            };
            UnparsedPublicKey::new(v, &k.raw)
                .verify(signed, &sig)
                .is_ok()
        })
        .ok_or_else(|| err("signature does not verify with any configured admin key"))?;
    let claims: Claims =
        serde_json::from_slice(&b64(p)?).map_err(|_| err("claims are not JSON"))?;
    let exp = claims.exp.ok_or_else(|| err("exp claim is required"))?;
    // Saturating: the times are the token's, and may be anything.
    if now > exp.saturating_add(LEEWAY) {
        return Err(err("token expired"));
    }
    // The lifetime cap holds with or without `iat`: a token must not be
    // valid for more than a day from now either.
    if exp.saturating_sub(now) > MAX_LIFETIME.saturating_add(LEEWAY) {
        return Err(err("token lifetime exceeds 24 hours"));
    }
    if let Some(nbf) = claims.nbf {
        if now.saturating_add(LEEWAY) < nbf {
            return Err(err("token not yet valid"));
        }
    }
    if let Some(iat) = claims.iat {
        if now.saturating_add(LEEWAY) < iat {
            return Err(err("token issued in the future"));
        }
        if exp.saturating_sub(iat) > MAX_LIFETIME {
            return Err(err("token lifetime exceeds 24 hours"));
        }
    }
    Ok(key.id.clone())
}

/// A new Ed25519 admin key pair as PEM: (PKCS#8 private key, SPKI public key).
pub fn generate_key_pair() -> Result<(String, String), String> {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
        .map_err(|_| "key generation failed".to_owned())?;
    let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| e.to_string())?;
    // SubjectPublicKeyInfo for Ed25519: fixed 12-byte prefix + 32-byte key.
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(kp.public_key().as_ref());
    Ok((pem("PRIVATE KEY", pkcs8.as_ref()), pem("PUBLIC KEY", &spki)))
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Signs an admin token (`EdDSA`, `{"iat", "exp"}`) with a PEM or DER
/// PKCS#8 Ed25519 private key, as kbs-client does.
pub fn sign_token(private_key: &[u8], now: i64, ttl_secs: i64) -> Result<String, String> {
    use aws_lc_rs::signature::Ed25519KeyPair;
    let der = if private_key.windows(10).any(|w| w == b"-----BEGIN") {
        let (_, p) =
            x509_parser::pem::parse_x509_pem(private_key).map_err(|e| format!("PEM: {e}"))?;
        p.contents
    } else {
        private_key.to_vec()
    };
    let kp = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
        .map_err(|e| format!("not an Ed25519 PKCS#8 private key: {e}"))?;
    let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let header = e(br#"{"typ":"JWT","alg":"EdDSA"}"#);
    let claims = e(serde_json::json!({"iat": now, "exp": now + ttl_secs})
        .to_string()
        .as_bytes());
    let signing_input = format!("{header}.{claims}");
    let sig = kp.sign(signing_input.as_bytes());
    Ok(format!("{signing_input}.{}", e(sig.as_ref())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn generated_keys_sign_tokens_that_verify() {
        let (private, public) = generate_key_pair().unwrap();
        let key = parse_public_key(public.as_bytes()).unwrap();
        let t = sign_token(private.as_bytes(), 1000, 300).unwrap();
        assert_eq!(
            verify(&t, std::slice::from_ref(&key), 1000).unwrap(),
            key.id
        );
        // expired, other key, tampered, unsigned
        assert!(verify(&t, std::slice::from_ref(&key), 1000 + 300 + LEEWAY + 1).is_err());
        let (_, other) = generate_key_pair().unwrap();
        let other = parse_public_key(other.as_bytes()).unwrap();
        assert!(verify(&t, &[other], 1000).is_err());
        let mut bad = t.clone();
        bad.pop();
        bad.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert!(verify(&bad, std::slice::from_ref(&key), 1000).is_err());
        let none = format!(
            "{}.{}.",
            e64(br#"{"alg":"none"}"#),
            e64(br#"{"exp":9999999999}"#)
        );
        assert!(verify(&none, std::slice::from_ref(&key), 1000).is_err());
        assert!(verify(&t, &[], 1000).is_err());
    }

    /// An Ed25519 token with the given claims, signed with `private`.
    fn signed(private: &str, claims: &serde_json::Value) -> String {
        use aws_lc_rs::signature::Ed25519KeyPair;
        let (_, p) = x509_parser::pem::parse_x509_pem(private.as_bytes()).unwrap();
        let kp = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&p.contents).unwrap();
        let input = format!(
            "{}.{}",
            e64(br#"{"alg":"EdDSA"}"#),
            e64(claims.to_string().as_bytes())
        );
        format!("{input}.{}", e64(kp.sign(input.as_bytes()).as_ref()))
    }

    #[test]
    fn no_token_is_valid_for_more_than_a_day_whatever_its_times() {
        let (private, public) = generate_key_pair().unwrap();
        let keys = [parse_public_key(public.as_bytes()).unwrap()];
        let now = 1_000_000;
        let ok = |c: serde_json::Value| verify(&signed(&private, &c), &keys, now).is_ok();
        assert!(ok(serde_json::json!({"exp": now + 3600})));
        assert!(ok(serde_json::json!({"exp": now + MAX_LIFETIME})));
        // Without `iat` the cap still applies.
        assert!(!ok(
            serde_json::json!({"exp": now + MAX_LIFETIME + LEEWAY + 1})
        ));
        assert!(!ok(serde_json::json!({"exp": 4_102_444_800_i64})));
        // Times at the ends of the range neither wrap nor panic.
        assert!(!ok(serde_json::json!({"exp": i64::MAX, "iat": i64::MIN})));
        assert!(!ok(serde_json::json!({"exp": i64::MAX})));
        assert!(!ok(serde_json::json!({"exp": i64::MIN})));
        assert!(!ok(serde_json::json!({"exp": now + 60, "nbf": i64::MAX})));
        assert!(!ok(serde_json::json!({"exp": now + 60, "iat": i64::MIN})));
    }

    fn e64(b: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }
}
