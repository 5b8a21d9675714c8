//! `mamori inspect`: what the evidence says, without judging it.

use crate::cli::InspectArgs;
use crate::detect::{detect, read_file, Evidence, UsageError};
use crate::output::{out, outln};
use serde_json::{json, Value};
use std::process::ExitCode;
use tee_snp::{Container, Report, SnpClaims};

fn run_inner(args: &InspectArgs) -> Result<(String, Value), (u8, String)> {
    let bytes = read_file(&args.file).map_err(|UsageError(m)| (2, m))?;
    let evidence = detect(&bytes, args.tee).map_err(|UsageError(m)| (2, m))?;
    match evidence {
        Evidence::Dcap { quote, container } => {
            let q = tee_dcap::inspect(&quote).map_err(|e| (1, format!("quote: {e}")))?;
            let mut j = q.to_json();
            j["container"] = json!(container);
            let tee = if q.info.tee_type == 0 { "sgx" } else { "tdx" };
            Ok((q.describe(), json!({"tee": tee, "claims": j})))
        }
        Evidence::Snp(ev) => {
            let report = Report::parse(&ev.report).map_err(|e| (1, format!("report: {e}")))?;
            let claims = SnpClaims::new(&report, None, None);
            let mut text = tee_snp::inspect::render(
                &report,
                &claims,
                ev.container.name(),
                ev.encoding.as_str(),
            );
            let mut j = claims.to_json();
            if let (Container::AzureHcl(hcl), Value::Object(m)) = (&ev.container, &mut j) {
                let holds = hcl.binding_holds(report.report_data());
                text.push_str(&format!(
                    "  {:<22}{} bytes, REPORT_DATA binds its hash: {}\n",
                    "HCL runtime data",
                    hcl.runtime_data.len(),
                    if holds { "yes" } else { "NO" }
                ));
                m.insert(
                    "runtime_data".into(),
                    hcl.runtime_json().unwrap_or(Value::Null),
                );
                m.insert("runtime_data_bound".into(), json!(holds));
            }
            if let Value::Object(m) = &mut j {
                m.insert("container".into(), json!(ev.container.name()));
                m.insert("encoding".into(), json!(ev.encoding.as_str()));
            }
            if !ev.certificates.is_empty() {
                text.push_str(&format!(
                    "  {:<22}{} certificate(s) carried with the evidence\n",
                    "Certificates",
                    ev.certificates.len()
                ));
            }
            Ok((text, json!({"tee": "snp", "claims": j})))
        }
    }
}

pub fn run(args: &InspectArgs) -> ExitCode {
    match run_inner(args) {
        Ok((text, j)) => {
            if args.json {
                outln(&serde_json::to_string_pretty(&j).unwrap_or_default());
            } else {
                out(&text);
            }
            ExitCode::SUCCESS
        }
        Err((code, msg)) => {
            eprintln!("mamori inspect: {msg}");
            ExitCode::from(code)
        }
    }
}
