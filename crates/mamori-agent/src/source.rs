use crate::AgentError;
use base64::Engine;
use serde_json::{json, Value};
use std::sync::Arc;
use tee_sim::{ReportOptions, SnpSimChain};

/// Where evidence comes from. `kbs` selects the KBS protocol's JSON shape.
pub trait EvidenceSource: Send + Sync {
    /// The TEE kind as the protocols name it (`snp`, `sample`, …).
    fn tee(&self) -> &'static str;
    fn evidence(&self, report_data: &[u8; 64], kbs: bool) -> Result<Value, AgentError>;
}

/// A simulated SEV-SNP platform (see `tee-sim`): genuine-format reports
/// signed by a development chain the verifier must trust explicitly.
pub struct SimulatedSnp {
    pub chain: Arc<SnpSimChain>,
    pub options: ReportOptions,
}

fn bytes_json(b: &[u8]) -> Value {
    Value::Array(b.iter().map(|x| json!(x)).collect())
}

impl EvidenceSource for SimulatedSnp {
    fn tee(&self) -> &'static str {
        "snp"
    }

    fn evidence(&self, report_data: &[u8; 64], kbs: bool) -> Result<Value, AgentError> {
        let bytes = self
            .chain
            .report(&ReportOptions {
                report_data: *report_data,
                ..self.options.clone()
            })
            .map_err(|e| AgentError::Evidence(e.to_string()))?;
        if kbs {
            // The serde form of the `sev` crate, as the CoCo attester sends it.
            let report =
                tee_snp::Report::parse(&bytes).map_err(|e| AgentError::Evidence(e.to_string()))?;
            Ok(json!({
                "attestation_report": tee_snp::sev_json::report_json(&report),
                "cert_chain": [
                    {"cert_type": "VCEK", "data": bytes_json(self.chain.vcek_der())},
                    {"cert_type": "ASK", "data": bytes_json(self.chain.ask_der())},
                    {"cert_type": "ARK", "data": bytes_json(self.chain.ark_der())},
                ],
            }))
        } else {
            Ok(json!({
                "report": base64::engine::general_purpose::STANDARD.encode(&bytes),
                "certificates": [self.chain.vcek_pem(), self.chain.ask_pem()],
            }))
        }
    }
}

/// The KBS protocol's unsigned `sample` TEE: the digest in clear.
pub struct SampleTee;

impl EvidenceSource for SampleTee {
    fn tee(&self) -> &'static str {
        "sample"
    }

    fn evidence(&self, report_data: &[u8; 64], _kbs: bool) -> Result<Value, AgentError> {
        Ok(json!({
            "svn": "1",
            "report_data": base64::engine::general_purpose::STANDARD.encode(&report_data[..48]),
        }))
    }
}
