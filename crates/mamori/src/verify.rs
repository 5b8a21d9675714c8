//! `mamori verify`: offline verification with the exit-status contract
//! 0 verified, 1 evidence rejected, 2 usage error or unreadable input.

use crate::cli::VerifyArgs;
use crate::detect::{detect, load_collateral, read_file, Evidence, UsageError};
use crate::output::outln;
use mamori_verifier::UnixTime;
use mamori_x509::Certificate;
use serde_json::{json, Value};
use std::process::ExitCode;
use tee_snp::{Container, TrustStore};

/// The outcome of one verification, ready to print.
pub struct Outcome {
    pub tee: &'static str,
    pub result: Result<Value, Rejection>,
}

/// Why evidence was rejected: the check that failed and the reason.
pub struct Rejection {
    pub check: &'static str,
    pub message: String,
}

fn parse_time(s: &str) -> Result<UnixTime, UsageError> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| UsageError(format!("--as-of {s:?} is not an RFC 3339 time: {e}")))?;
    Ok(UnixTime(t.unix_timestamp()))
}

pub fn now() -> UnixTime {
    UnixTime(time::OffsetDateTime::now_utc().unix_timestamp())
}

fn load_anchor(path: &std::path::Path) -> Result<Vec<Certificate>, UsageError> {
    let bytes = read_file(path)?;
    match mamori_x509::split_blobs(&bytes) {
        Ok(Some(blobs)) => {
            let certs: Vec<Certificate> = blobs
                .into_iter()
                .filter_map(|b| match b {
                    mamori_x509::Blob::Certificate(c) => Some(*c),
                    mamori_x509::Blob::Crl(_) => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(UsageError(format!("{}: no certificate", path.display())));
            }
            Ok(certs)
        }
        Ok(None) => Err(UsageError(format!("{}: not a certificate", path.display()))),
        Err(e) => Err(UsageError(format!("{}: {e}", path.display()))),
    }
}

/// Verifies the evidence file as `args` say.
pub fn evaluate(args: &VerifyArgs) -> Result<Outcome, UsageError> {
    let bytes = read_file(&args.file)?;
    let now = match &args.as_of {
        Some(s) => parse_time(s)?,
        None => now(),
    };
    let loaded = load_collateral(&args.collateral)?;
    let collateral = &loaded.bag;
    let mut trust = TrustStore::amd();
    let mut anchors = Vec::new();
    for p in &args.trust_anchor {
        for c in load_anchor(p)? {
            anchors.push((p.clone(), c.der().to_vec()));
            trust = trust.with_anchor(c);
        }
    }
    let evidence = detect(&bytes, args.tee)?;
    let tee = evidence.tee();
    let result = match evidence {
        Evidence::Snp(ev) => verify_snp(&ev, collateral, &trust, now),
        Evidence::Dcap { quote, container } => {
            verify_dcap(&quote, container, &loaded.files, &anchors, now)?
        }
    };
    Ok(Outcome { tee, result })
}

/// Intel DCAP: the collateral files are recognised by tee-dcap (PCK and
/// TCB-signing chains, CRLs, PCS TCB info and QE identity, combined JSON).
/// Intel's pinned root is tried first; the `--trust-anchor` roots (private
/// PKIs, `tee-dcap-sim` hierarchies) only when the PCK chain does not lead
/// to it, as `mamori serve` does with `[dcap] trust_anchors`.
fn verify_dcap(
    quote: &[u8],
    container: &str,
    files: &[(std::path::PathBuf, bool, Vec<u8>)],
    anchors: &[(std::path::PathBuf, Vec<u8>)],
    now: UnixTime,
) -> Result<Result<Value, Rejection>, UsageError> {
    let mut bag = tee_dcap::Collateral::new();
    for (i, (path, explicit, bytes)) in files.iter().enumerate() {
        if let Err(e) = bag.add_input(i, bytes) {
            if *explicit {
                return Err(UsageError(format!("collateral {}: {e}", path.display())));
            }
        }
    }
    let mut root = "intel";
    let mut result = tee_dcap::Verifier::new(bag.clone()).verify(quote, now.seconds());
    // Roots DCAP cannot use (the SEV-SNP ones of the same list) are passed
    // over; only when none of those named is usable is that an error.
    let mut unusable = Vec::new();
    let mut tried = false;
    for (path, der) in anchors {
        let chain_refused = matches!(
            result,
            Err(tee_dcap::DcapError::Chain {
                item: tee_dcap::Item::PckChain,
                ..
            })
        );
        if !chain_refused {
            break;
        }
        match tee_dcap::Verifier::with_trust_anchor(
            bag.clone(),
            der,
            tee_dcap::VerifyOptions::default(),
        ) {
            Ok(verifier) => {
                result = verifier.verify(quote, now.seconds());
                root = "explicit";
                tried = true;
            }
            Err(e) => unusable.push(format!("{}: {e}", path.display())),
        }
    }
    if !tried && !unusable.is_empty() {
        if let Err(e) = &result {
            // Say why Intel's root did not do, too: an expired certificate
            // is not a matter of which roots were named.
            return Err(UsageError(format!(
                "--trust-anchor: not usable for Intel DCAP: {}; with Intel's root the quote was refused: {e}",
                unusable.join("; ")
            )));
        }
    }
    Ok(match result {
        Ok(v) => {
            let mut claims = v.claims_json();
            if let Value::Object(m) = &mut claims {
                m.insert("container".into(), json!(container));
                m.insert("root".into(), json!(root));
            }
            Ok(claims)
        }
        Err(e) => Err(Rejection {
            check: "dcap",
            message: e.to_string(),
        }),
    })
}

fn verify_snp(
    ev: &tee_snp::SnpEvidence,
    collateral: &mamori_verifier::Collateral,
    trust: &TrustStore,
    now: UnixTime,
) -> Result<Value, Rejection> {
    let mut certs = collateral.certificates.clone();
    certs.extend(ev.certificates.iter().cloned());
    let reject = |e: tee_snp::SnpError| Rejection {
        check: e.check(),
        message: e.to_string(),
    };
    let verified =
        tee_snp::verify_report(&ev.report, &certs, &collateral.crls, trust, now).map_err(reject)?;
    let mut claims = verified.claims().to_json();
    if let Value::Object(m) = &mut claims {
        m.insert("container".into(), json!(ev.container.name()));
        m.insert(
            "root".into(),
            json!(if verified.anchor_pinned() {
                "amd"
            } else {
                "explicit"
            }),
        );
        if let Container::AzureHcl(hcl) = &ev.container {
            if !hcl.binding_holds(verified.report().report_data()) {
                return Err(Rejection {
                    check: "runtime-data-binding",
                    message: "runtime-data binding: REPORT_DATA does not start with the hash of the HCL runtime data".into(),
                });
            }
            m.insert(
                "runtime_data".into(),
                hcl.runtime_json().unwrap_or(Value::Null),
            );
        }
    }
    Ok(claims)
}

pub fn run(args: &VerifyArgs) -> ExitCode {
    let outcome = match evaluate(args) {
        Ok(o) => o,
        Err(UsageError(msg)) => {
            if args.json {
                // The contract's shape: the TEE (when `--tee` named it),
                // no claims, the error.
                let tee = args.tee.map(|t| format!("{t:?}").to_lowercase());
                outln(
                    &json!({"tee": tee, "verified": false, "claims": {}, "error": msg}).to_string(),
                );
            }
            eprintln!("mamori verify: {msg}");
            return ExitCode::from(2);
        }
    };
    match outcome.result {
        Ok(claims) => {
            if args.json {
                outln(&json!({"tee": outcome.tee, "verified": true, "claims": claims}).to_string());
            } else {
                outln(&format!("verified: {} evidence", outcome.tee));
                for k in [
                    "product",
                    "signing_key",
                    "container",
                    "measurement",
                    "mr_td",
                    "mr_enclave",
                    "mr_signer",
                    "tcb_status",
                    "advisory_ids",
                    "report_data",
                ] {
                    match claims.get(k) {
                        Some(Value::String(v)) if !v.is_empty() => outln(&format!("  {k:<13}{v}")),
                        Some(Value::Array(a)) if !a.is_empty() => {
                            outln(&format!("  {k:<13}{}", Value::Array(a.clone())))
                        }
                        _ => {}
                    }
                }
                if claims.get("root").and_then(Value::as_str) == Some("explicit") {
                    outln("  note: the root is an explicitly named trust anchor, not a pinned vendor root");
                }
            }
            ExitCode::SUCCESS
        }
        Err(r) => {
            if args.json {
                outln(
                    &json!({"tee": outcome.tee, "verified": false, "claims": {}, "check": r.check, "error": r.message})
                        .to_string(),
                );
            }
            eprintln!("rejected: {}", r.message);
            ExitCode::from(1)
        }
    }
}
