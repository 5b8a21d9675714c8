//! `mamori agent`: what runs inside a confidential VM — attest to a key
//! broker (KBS protocol or native) and fetch secrets, with evidence from
//! configfs-tsm or, for development, a simulated SEV-SNP platform.

use crate::cli::{AgentArgs, AgentCommand, ProtocolArg};
use crate::output::outln;
use mamori_agent::{ConfigfsTsm, EvidenceSource, KbsClient, NativeClient, SimulatedSnp, TeeKey};
use serde_json::json;
use std::process::ExitCode;
use std::sync::Arc;
use tee_sim::{ReportOptions, SimChainOptions};

fn source(a: &AgentArgs) -> Result<Box<dyn EvidenceSource>, String> {
    match &a.sim_platform {
        Some(dir) => {
            let chain = crate::sim::platform(Some(dir), SimChainOptions::default())?;
            let mut options = ReportOptions::default();
            if let Some(m) = &a.measurement {
                options.measurement = crate::sim::hex_field("measurement", m, false)?;
            }
            if a.debug {
                options.policy |= tee_sim::snp::POLICY_DEBUG;
            }
            Ok(Box::new(SimulatedSnp {
                chain: Arc::new(chain),
                options,
            }))
        }
        None => {
            if a.measurement.is_some() || a.debug {
                return Err("--measurement and --debug apply to --sim-platform only".into());
            }
            let tsm = ConfigfsTsm::probe(std::path::Path::new(mamori_agent::tsm::DEFAULT_ROOT))
                .map_err(|e| e.to_string())?;
            Ok(Box::new(tsm))
        }
    }
}

async fn run_async(a: &AgentArgs) -> Result<(), String> {
    let source = source(a)?;
    let key = TeeKey::generate().map_err(|e| e.to_string())?;
    let http = mamori_agent::http_client_with_ca_file(a.ca.as_deref())?;
    if mamori_agent::is_unauthenticated_remote(&a.url) {
        // The secret is encrypted to this TEE's key, but over plain HTTP
        // nothing says who encrypted it: anyone on the path could answer.
        eprintln!(
            "mamori agent: warning: {} is plain HTTP to another machine; the key broker is not authenticated (use https)",
            a.url
        );
    }
    match (&a.command, a.protocol) {
        (AgentCommand::Attest, ProtocolArg::Kbs) => {
            let (_, token) = KbsClient::new(&a.url, http)
                .attest(source.as_ref(), &key)
                .await
                .map_err(|e| e.to_string())?;
            outln(&json!({"token": token}).to_string());
        }
        (AgentCommand::Attest, ProtocolArg::Native) => {
            let p = NativeClient::new(&a.url, http)
                .attest(source.as_ref(), &key)
                .await
                .map_err(|e| e.to_string())?;
            outln(&json!({"token": p.token, "status": p.status, "reasons": p.reasons}).to_string());
        }
        (AgentCommand::GetResource { path, out: dest }, protocol) => {
            let secret = match protocol {
                ProtocolArg::Kbs => {
                    let c = KbsClient::new(&a.url, http);
                    let (cookie, _) = c
                        .attest(source.as_ref(), &key)
                        .await
                        .map_err(|e| e.to_string())?;
                    c.resource(&cookie, &key, path)
                        .await
                        .map_err(|e| e.to_string())?
                }
                ProtocolArg::Native => {
                    let c = NativeClient::new(&a.url, http);
                    let p = c
                        .attest(source.as_ref(), &key)
                        .await
                        .map_err(|e| e.to_string())?;
                    c.resource(&p.token, &key, path).await.map_err(|e| {
                        if p.status != "affirming" {
                            format!("{e} (appraisal: {}; {})", p.status, p.reasons.join("; "))
                        } else {
                            e.to_string()
                        }
                    })?
                }
            };
            match dest {
                Some(f) => mamori_service::kek::write_private(f, &secret)
                    .map_err(|e| format!("cannot write {}: {e}", f.display()))?,
                None => {
                    // The secret as is: it may be binary (a disk key).
                    use std::io::Write;
                    let mut o = std::io::stdout().lock();
                    o.write_all(&secret)
                        .and_then(|_| o.flush())
                        .map_err(|e| e.to_string())?;
                }
            }
        }
    }
    Ok(())
}

pub fn run(a: &AgentArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mamori agent: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run_async(a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mamori agent: {e}");
            ExitCode::from(1)
        }
    }
}
