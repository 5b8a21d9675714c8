//! Evidence as guests send it, verified into claims. The verification
//! itself is the pure TEE crates'; this module decodes the wire shapes (the
//! KBS protocol's and Mamori's own), caches validated certificate chains and
//! reports what the evidence binds (report data, host data).

use crate::error::ServiceError;
use aws_lc_rs::digest::{digest, SHA256};
use base64::Engine;
use mamori_verifier::{decode_text, Encoding, UnixTime};
use mamori_x509::Certificate;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::RwLock;
use tee_snp::{EndorsementInfo, Report, SnpError, TrustStore, VerifiedSigner};

/// Evidence that verified: the claims for appraisal and what it binds.
#[derive(Clone, Debug)]
pub struct VerifiedEvidence {
    pub tee: &'static str,
    pub claims: Value,
    /// REPORT_DATA (or the TEE's equivalent) exactly as signed.
    pub report_data: Vec<u8>,
    /// SNP HOST_DATA, for init-data binding.
    pub host_data: Option<Vec<u8>>,
    /// SHA-256 of the signed evidence, for replay detection.
    pub digest: String,
}

/// Validated SEV-SNP endorsement-key chains, keyed by SHA-256 of the leaf
/// certificate's DER, so that a known VCEK costs one signature check.
pub struct SnpVerifier {
    trust: TrustStore,
    signers: RwLock<HashMap<[u8; 32], VerifiedSigner>>,
}

/// Bound on cached chains: one per VCEK/VLEK (chip and TCB) in the fleet.
const MAX_CACHED_SIGNERS: usize = 65_536;

pub(crate) fn sha256(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, b).as_ref());
    out
}

pub(crate) fn bad(msg: impl Into<String>) -> ServiceError {
    ServiceError::BadRequest(msg.into())
}

pub(crate) fn rejected(check: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::EvidenceRejected {
        check,
        message: message.into(),
    }
}

impl SnpVerifier {
    pub fn new(trust: TrustStore) -> Self {
        SnpVerifier {
            trust,
            signers: RwLock::new(HashMap::new()),
        }
    }

    /// Decodes and verifies SNP evidence in either wire shape:
    /// the KBS `{"attestation_report": {...}, "cert_chain": [...]}` or
    /// Mamori's `{"report": "<base64|hex>", "certificates": ["<PEM|base64 DER>"]}`.
    pub fn verify(
        &self,
        evidence: &Value,
        now: UnixTime,
    ) -> Result<VerifiedEvidence, ServiceError> {
        let (report, certs) = if let Some(r) = evidence.get("attestation_report") {
            let bytes = tee_snp::sev_json::report_bytes(r).map_err(|e| bad(e.to_string()))?;
            let chain =
                tee_snp::sev_json::cert_chain(evidence.get("cert_chain").unwrap_or(&Value::Null))
                    .map_err(|e| bad(e.to_string()))?;
            (
                bytes,
                chain.into_iter().map(|(_, der)| der).collect::<Vec<_>>(),
            )
        } else if let Some(Value::String(r)) = evidence.get("report") {
            let (raw, _) = decode_text(r.as_bytes());
            let ev = tee_snp::extract(&raw).map_err(|e| bad(format!("report: {e}")))?;
            let mut ders: Vec<Vec<u8>> = ev.certificates.iter().map(|c| c.der().to_vec()).collect();
            if let Some(Value::Array(list)) = evidence.get("certificates") {
                for (i, c) in list.iter().enumerate() {
                    let s = c
                        .as_str()
                        .ok_or_else(|| bad(format!("certificates[{i}]: not a string")))?;
                    ders.extend(cert_ders(s).map_err(|e| bad(format!("certificates[{i}]: {e}")))?);
                }
            }
            (ev.report, ders)
        } else {
            return Err(bad(
                "snp evidence: expected {\"attestation_report\", \"cert_chain\"} or {\"report\", \"certificates\"}",
            ));
        };
        let parsed =
            Report::parse(&report).map_err(|e| rejected("parse", format!("report: {e}")))?;
        let verified = self.verify_report(parsed, &certs, now)?;
        let claims = verified.claims();
        Ok(VerifiedEvidence {
            tee: "snp",
            claims: claims.to_json(),
            report_data: parsed.report_data().to_vec(),
            host_data: Some(parsed.host_data().to_vec()),
            digest: hex::encode(sha256(parsed.signed_bytes())),
        })
    }

    fn verify_report<'a>(
        &self,
        report: Report<'a>,
        ders: &[Vec<u8>],
        now: UnixTime,
    ) -> Result<tee_snp::VerifiedReport<'a>, ServiceError> {
        let mut last: Option<SnpError> = None;
        // Cached chains first: no certificate parsing on the hot path.
        for der in ders {
            let key = sha256(der);
            let cached = self.signers.read().ok().and_then(|m| m.get(&key).cloned());
            if let Some(signer) = cached {
                match signer.verify_report(report, now) {
                    Ok(v) => return Ok(v),
                    Err(e) => last = Some(e),
                }
            }
        }
        let certs: Vec<Certificate> = ders
            .iter()
            .filter_map(|d| Certificate::from_der(d).ok())
            .collect();
        for (der, cert) in ders.iter().zip(certs.iter()) {
            if !EndorsementInfo::is_endorsement_key(cert) {
                continue;
            }
            let signer = match VerifiedSigner::validate(cert, &certs, &[], &self.trust, now) {
                Ok(s) => s,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            let outcome = signer.verify_report(report, now);
            if outcome.is_ok() {
                if let Ok(mut m) = self.signers.write() {
                    if m.len() >= MAX_CACHED_SIGNERS {
                        m.clear();
                    }
                    m.insert(sha256(der), signer);
                }
            }
            match outcome {
                Ok(v) => return Ok(v),
                Err(e) => last = Some(e),
            }
        }
        let e = last.unwrap_or(SnpError::NoEndorsementKey {
            wanted: match report.signing_key() {
                tee_snp::SigningKey::Vlek => "VLEK",
                _ => "VCEK",
            },
        });
        Err(rejected(e.check(), e.to_string()))
    }
}

/// DER certificates from PEM text or base64/hex DER. Only the armour is
/// removed here: certificates are parsed on a cache miss, not per request.
fn cert_ders(s: &str) -> Result<Vec<Vec<u8>>, String> {
    if s.contains("-----BEGIN") {
        let mut out = Vec::new();
        for pem in x509_parser::pem::Pem::iter_from_buffer(s.as_bytes()) {
            let pem = pem.map_err(|e| format!("PEM: {e}"))?;
            if pem.label == "CERTIFICATE" {
                out.push(pem.contents);
            }
        }
        return Ok(out);
    }
    match decode_text(s.as_bytes()) {
        (b, Encoding::Base64 | Encoding::Hex) => Ok(vec![b]),
        _ => Err("not PEM, base64 or hex".into()),
    }
}

/// The KBS `sample` TEE: `{"svn": "1", "report_data": "<base64>"}`. It is
/// not signed by anything, so it proves nothing about hardware; it exists so
/// that the protocol can be exercised without a TEE.
pub fn verify_sample(evidence: &Value) -> Result<VerifiedEvidence, ServiceError> {
    let obj = evidence
        .as_object()
        .ok_or_else(|| bad("sample evidence: not an object"))?;
    let rd = obj
        .get("report_data")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("sample evidence: report_data missing"))?;
    let report_data = base64::engine::general_purpose::STANDARD
        .decode(rd)
        .map_err(|e| bad(format!("sample evidence: report_data is not base64: {e}")))?;
    let svn = obj.get("svn").cloned().unwrap_or(Value::Null);
    Ok(VerifiedEvidence {
        tee: "sample",
        claims: json!({
            "svn": svn,
            "report_data": hex::encode(&report_data),
            "debug": false,
            "hardware_signed": false,
        }),
        digest: hex::encode(sha256(evidence.to_string().as_bytes())),
        report_data,
        host_data: None,
    })
}
