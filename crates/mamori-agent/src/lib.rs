//! The attester side of Mamori: what runs inside a confidential VM. It owns
//! the TEE's ephemeral key, binds it with the verifier's nonce into the
//! evidence's report data, and speaks the KBS 0.4.0 protocol (as
//! Confidential Containers guests do) or Mamori's native API to obtain a
//! token and secrets, which arrive as JWE encrypted to that key.
//!
//! Evidence sources: real hardware through Linux configfs-tsm (SEV-SNP and
//! TDX guests), a simulated SEV-SNP platform (development, demos, load
//! tests) and the KBS `sample` TEE.
#![forbid(unsafe_code)]

mod client;
mod http;
mod source;
pub mod tsm;

pub use client::{session_cookie, AgentError, KbsClient, NativeClient, Passport};
pub use http::{http_client, http_client_with_ca_file, is_loopback_url, is_unauthenticated_remote};
pub use source::{EvidenceSource, SampleTee, SimulatedSnp};
pub use tsm::ConfigfsTsm;

use mamori_jwe::PrivateKey;
use mamori_token::EcCurve;
use serde_json::{json, Value};

/// The TEE's ephemeral key pair; secrets are released encrypted to it.
pub struct TeeKey {
    key: PrivateKey,
}

impl TeeKey {
    /// An EC P-256 key, the Confidential Containers guest default.
    pub fn generate() -> Result<Self, AgentError> {
        Ok(TeeKey {
            key: PrivateKey::generate_ec(EcCurve::P256)
                .map_err(|e| AgentError::Crypto(e.to_string()))?,
        })
    }

    /// The public key as the `tee-pubkey` JWK (with `alg` as guests send it).
    pub fn jwk(&self) -> Value {
        let mut j = serde_json::to_value(self.key.public_jwk()).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut j {
            m.insert("alg".into(), json!("ECDH-ES+A256KW"));
        }
        j
    }

    /// Opens a JWE released to this key.
    pub fn decrypt(&self, jwe: &str) -> Result<Vec<u8>, AgentError> {
        mamori_jwe::decrypt(jwe, &self.key).map_err(|e| AgentError::Crypto(format!("JWE: {e}")))
    }
}

/// REPORT_DATA for a session: SHA-384 of the RFC 8785 canonical JSON of the
/// runtime data, zero-padded to 64 bytes. The KBS protocol adds the
/// `additional-evidence` member (`Some("")` when there is none).
pub fn report_data(
    nonce: &str,
    tee_pubkey: &Value,
    additional_evidence: Option<&str>,
) -> Result<[u8; 64], AgentError> {
    let digest = mamori_token::runtime_data::digest_sha384(nonce, tee_pubkey, additional_evidence)
        .map_err(|e| AgentError::Crypto(e.to_string()))?;
    let mut out = [0u8; 64];
    out[..48].copy_from_slice(&digest);
    Ok(out)
}
