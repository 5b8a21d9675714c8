//! Intel TDX and SGX evidence (DCAP quotes) in the shapes guests send, verified
//! with tee-dcap against collateral loaded once at start-up.
//!
//! Wire shapes accepted (`primary_evidence` of the KBS protocol, or the
//! `evidence` of Mamori's native API):
//!
//! * `tdx`: `{"quote": "<b64>", "cc_eventlog": "<b64>" | null, "aa_eventlog": <string> | null}`
//!   as the Confidential Containers attester sends it. `cc_eventlog` is the
//!   TCG2 event log read from `/sys/firmware/acpi/tables/data/CCEL` (the log
//!   area, not the 56-byte ACPI table); when present it is replayed into
//!   RTMR0–3 and must equal the quote's.
//! * `sgx`: `{"quote": "<b64>"}`.
//! * native, both: `{"quote": "<base64 or hex>"}` (and optionally `cc_eventlog`).
//!
//! The quote's REPORTDATA (64 bytes) is what the session binding checks; the
//! init-data binding uses MRCONFIGID (TDX, 48 bytes) or CONFIGID (SGX, 64).

use crate::error::ServiceError;
use crate::evidence::{bad, rejected};
use base64::Engine;
use mamori_verifier::{decode_text, Encoding, UnixTime};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use tee_dcap::{Collateral, DcapError, Item, Quote, Verifier, VerifyOptions};

use crate::evidence::VerifiedEvidence;

/// Why DCAP collateral or a trust anchor could not be loaded (start-up).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct DcapLoadError {
    pub path: String,
    pub reason: String,
}

/// One verifier per trusted root: Intel's pinned SGX Root CA first, then any
/// development anchors from `[dcap] trust_anchors`. Each `tee_dcap::Verifier`
/// caches parsed PCK chains and successful collateral signature checks, so
/// the same instance is reused for every request.
pub struct DcapVerifier {
    intel: Verifier,
    extra: Vec<Verifier>,
    /// The development anchors' DER, to build verifiers over more
    /// collateral ([`DcapVerifier::with_fetched`]).
    anchors: Vec<Vec<u8>>,
    /// The configured collateral, which fetched collateral adds to.
    configured: Collateral,
    /// The same for every verifier (whether CRLs are required).
    options: VerifyOptions,
    /// Files the collateral came from, for start-up logs and errors.
    pub sources: Vec<PathBuf>,
}

/// Stable check names for `EvidenceRejected`, like SEV-SNP's.
fn check_of(e: &DcapError) -> &'static str {
    match e {
        DcapError::Quote(_) => "parse",
        DcapError::Collateral(_) => "collateral",
        DcapError::QuoteSignature | DcapError::AttestationKey => "signature",
        DcapError::QeReportSignature | DcapError::QeReportBinding => "qe-report",
        DcapError::Chain { .. } => "certificate-chain",
        DcapError::Revoked { .. } => "revocation",
        DcapError::PckExtension(_) => "pck-certificate",
        DcapError::MissingCollateral(_) => "collateral-missing",
        DcapError::CollateralSignature { .. } | DcapError::CrlSignature { .. } => {
            "collateral-signature"
        }
        DcapError::Stale { .. } => "collateral-freshness",
        DcapError::CollateralMismatch { .. } => "collateral-mismatch",
        DcapError::QeIdentityMismatch { .. } => "qe-identity",
        DcapError::TdxModuleMismatch { .. } => "tdx-module",
        DcapError::NoMatchingTcbLevel { .. } => "tcb-level",
    }
}

/// Files under `path` (recursively, sorted), each with whether it was named
/// explicitly: an explicit file must be collateral, a file found in a
/// directory that is not (a README, a key) is skipped with a warning.
fn collect(path: &Path, out: &mut Vec<(PathBuf, bool)>) -> Result<(), DcapLoadError> {
    let err = |reason: String| DcapLoadError {
        path: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| err(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                collect(&p, out)?;
            } else {
                out.push((p, false));
            }
        }
    } else {
        out.push((path.to_path_buf(), true));
    }
    Ok(())
}

/// Reads collateral files and directories into one bag, recognised by
/// content (certificates, CRLs, PCS TCB info / QE identity bodies, PCCS or
/// dcap-qvl combined JSON).
pub fn load_collateral(paths: &[PathBuf]) -> Result<(Collateral, Vec<PathBuf>), DcapLoadError> {
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files)?;
    }
    let mut bag = Collateral::new();
    let mut used = Vec::new();
    for (i, (path, explicit)) in files.into_iter().enumerate() {
        let bytes = std::fs::read(&path).map_err(|e| DcapLoadError {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        match bag.add_input(i, &bytes) {
            Ok(what) => {
                tracing::debug!(file = %path.display(), ?what, "DCAP collateral loaded");
                used.push(path);
            }
            Err(e) if explicit => {
                return Err(DcapLoadError {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "not DCAP collateral; skipped")
            }
        }
    }
    Ok((bag, used))
}

/// A development trust anchor: a self-signed P-256 root (PEM or DER).
fn load_anchor(path: &Path) -> Result<Vec<u8>, DcapLoadError> {
    let err = |reason: String| DcapLoadError {
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let pem = x509_parser::pem::Pem::iter_from_buffer(&bytes)
            .filter_map(Result::ok)
            .find(|p| p.label == "CERTIFICATE")
            .ok_or_else(|| err("no CERTIFICATE block".into()))?;
        return Ok(pem.contents);
    }
    Ok(bytes)
}

impl DcapVerifier {
    /// Builds the verifiers from configured collateral and anchors.
    pub fn load(
        collateral: &[PathBuf],
        anchors: &[PathBuf],
        options: VerifyOptions,
    ) -> Result<Self, DcapLoadError> {
        let (bag, sources) = load_collateral(collateral)?;
        let mut extra = Vec::new();
        let mut anchor_ders = Vec::new();
        for a in anchors {
            let der = load_anchor(a)?;
            anchor_ders.push(der.clone());
            let v = Verifier::with_trust_anchor(bag.clone(), &der, options).map_err(|e| {
                DcapLoadError {
                    path: a.display().to_string(),
                    reason: e.to_string(),
                }
            })?;
            tracing::warn!(anchor = %a.display(), "INSECURE: trusting an extra Intel DCAP root besides Intel's pinned SGX Root CA (development only)");
            extra.push(v);
        }
        if !sources.is_empty() {
            tracing::info!(
                files = sources.len(),
                tcb_infos = bag.tcb_infos.len(),
                qe_identities = bag.qe_identities.len(),
                crls = bag.crls.len(),
                "DCAP collateral loaded"
            );
        }
        Ok(DcapVerifier {
            intel: Verifier::with_options(bag.clone(), options),
            extra,
            anchors: anchor_ders,
            configured: bag,
            options,
            sources,
        })
    }

    /// A verifier over the configured collateral and `fetched` inputs
    /// (TCB info and QE identity bodies, CRLs, issuer chains), with the
    /// same anchors. Fetched inputs are added after the configured ones;
    /// where both hold an item, verification picks by its own rules (the
    /// newest evaluation data in force).
    ///
    /// # Errors
    /// An input is not collateral.
    pub fn with_fetched(&self, fetched: &[Vec<u8>]) -> Result<Self, String> {
        let mut bag = self.configured.clone();
        for (i, input) in fetched.iter().enumerate() {
            bag.add_input(usize::MAX - i, input)
                .map_err(|e| format!("fetched collateral: {e}"))?;
        }
        let mut extra = Vec::new();
        for der in &self.anchors {
            extra.push(
                Verifier::with_trust_anchor(bag.clone(), der, self.options)
                    .map_err(|e| e.to_string())?,
            );
        }
        Ok(DcapVerifier {
            intel: Verifier::with_options(bag, self.options),
            extra,
            anchors: self.anchors.clone(),
            configured: self.configured.clone(),
            options: self.options,
            sources: self.sources.clone(),
        })
    }

    /// The quote in `tdx`/`sgx` evidence, and its REPORTDATA.
    ///
    /// # Errors
    /// The evidence or the quote does not parse.
    pub fn quote_of(tee: &str, evidence: &Value) -> Result<(Vec<u8>, Vec<u8>), ServiceError> {
        let shape = Shape::decode(tee, evidence)?;
        let (qbytes, _) = tee_dcap::unwrap_container(&shape.quote);
        let q = Quote::parse(qbytes).map_err(|e| rejected("parse", format!("quote: {e}")))?;
        let report_data = match (q.body.td(), q.body.sgx()) {
            (Some(td), _) => td.report_data.to_vec(),
            (None, Some(e)) => e.report_data.to_vec(),
            (None, None) => return Err(rejected("parse", "quote has no report body")),
        };
        Ok((shape.quote, report_data))
    }

    /// No collateral: every quote is refused, naming the missing item.
    pub fn empty() -> Self {
        DcapVerifier {
            intel: Verifier::new(Collateral::new()),
            extra: Vec::new(),
            anchors: Vec::new(),
            configured: Collateral::new(),
            options: VerifyOptions::default(),
            sources: Vec::new(),
        }
    }

    /// Verifies with Intel's root; only when the PCK chain does not lead
    /// there are development anchors tried, so a real quote's error is never
    /// masked by theirs.
    fn verify_quote(&self, bytes: &[u8], now: i64) -> Result<tee_dcap::VerifiedQuote, DcapError> {
        match self.intel.verify(bytes, now) {
            Err(
                e @ DcapError::Chain {
                    item: Item::PckChain,
                    ..
                },
            ) if !self.extra.is_empty() => {
                let mut last = e;
                for v in &self.extra {
                    match v.verify(bytes, now) {
                        Ok(q) => return Ok(q),
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
            other => other,
        }
    }

    /// Whether the quote in `tdx`/`sgx` evidence verifies with this
    /// verifier's collateral: the quote alone, not what the evidence adds
    /// (an event log is the attester's to get right, and must not decide
    /// whether fetched collateral is good).
    ///
    /// # Errors
    /// The evidence does not decode, or the quote does not verify.
    pub fn verify_collateral(
        &self,
        tee: &str,
        evidence: &Value,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        let shape = Shape::decode(tee, evidence)?;
        self.verify_quote(&shape.quote, now.seconds())
            .map(|_| ())
            .map_err(|e| rejected(check_of(&e), e.to_string()))
    }

    /// Decodes and verifies `tdx` or `sgx` evidence for a session of kind
    /// `tee` at `now`.
    pub fn verify(
        &self,
        tee: &'static str,
        evidence: &Value,
        now: UnixTime,
    ) -> Result<VerifiedEvidence, ServiceError> {
        let shape = Shape::decode(tee, evidence)?;
        let (qbytes, _) = tee_dcap::unwrap_container(&shape.quote);
        // Parse first (cheap, zero-copy) to refuse a quote of the other TEE
        // kind before any signature work, with a message that says so.
        let q = Quote::parse(qbytes).map_err(|e| rejected("parse", format!("quote: {e}")))?;
        let kind = if q.is_tdx() { "tdx" } else { "sgx" };
        if kind != tee {
            return Err(rejected(
                "tee-type",
                format!(
                    "the quote is an Intel {} quote, but the session is for {tee}",
                    kind.to_uppercase()
                ),
            ));
        }
        let verified = self
            .verify_quote(&shape.quote, now.seconds())
            .map_err(|e| rejected(check_of(&e), e.to_string()))?;
        let mut claims = verified.claims_json();
        let (report_data, init_field, measurement) = match (q.body.td(), q.body.sgx()) {
            (Some(td), _) => (
                td.report_data.to_vec(),
                td.mr_config_id.to_vec(),
                hex::encode(td.mr_td),
            ),
            (None, Some(e)) => (
                e.report_data.to_vec(),
                e.config_id.to_vec(),
                hex::encode(e.mr_enclave),
            ),
            (None, None) => return Err(rejected("parse", "quote has no report body")),
        };
        if let Value::Object(m) = &mut claims {
            // The generic name tooling and audit entries look for.
            m.insert("measurement".into(), json!(measurement));
            m.insert("hardware_signed".into(), json!(true));
        }
        match (&shape.cc_eventlog, q.body.td()) {
            (Some(log), Some(td)) => {
                let el = tdx_eventlog::parse(log)
                    .map_err(|e| rejected("event-log", format!("cc_eventlog: {e}")))?;
                el.verify_rtmrs(td.rtmr)
                    .map_err(|e| rejected("event-log", format!("cc_eventlog: {e}")))?;
                if let Value::Object(m) = &mut claims {
                    m.insert(
                        "event_log".into(),
                        serde_json::to_value(el.claims()).unwrap_or(Value::Null),
                    );
                    m.insert("event_log_verified".into(), json!(true));
                }
            }
            (Some(_), None) => {
                return Err(bad("sgx evidence: cc_eventlog is only meaningful for tdx"))
            }
            (None, _) => {
                if let Value::Object(m) = &mut claims {
                    if tee == "tdx" {
                        m.insert("event_log_verified".into(), json!(false));
                    }
                }
            }
        }
        Ok(VerifiedEvidence {
            tee,
            claims: crate::evidence::Claims::Json(claims),
            report_data,
            host_data: Some(init_field),
        })
    }
}

/// The decoded wire shape.
struct Shape {
    quote: Vec<u8>,
    cc_eventlog: Option<Vec<u8>>,
}

/// ACPI CCEL table length: what a guest sends by mistake when it reads
/// `/sys/firmware/acpi/tables/CCEL` instead of `.../data/CCEL`.
const CCEL_TABLE_LEN: usize = 56;

impl Shape {
    fn decode(tee: &str, evidence: &Value) -> Result<Shape, ServiceError> {
        // Older attesters handed the evidence over as a JSON string.
        let parsed;
        let evidence = match evidence {
            Value::String(s) => {
                parsed = serde_json::from_str::<Value>(s)
                    .map_err(|e| bad(format!("{tee} evidence: a string that is not JSON: {e}")))?;
                &parsed
            }
            v => v,
        };
        let obj = evidence.as_object().ok_or_else(|| {
            bad(format!(
                "{tee} evidence: expected {{\"quote\": \"<base64>\"{}}}",
                if tee == "tdx" {
                    ", \"cc_eventlog\": \"<base64>\" | null"
                } else {
                    ""
                }
            ))
        })?;
        let quote = match obj.get("quote") {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                let (b, enc) = decode_text(s.as_bytes());
                if enc == Encoding::Raw {
                    return Err(bad(format!(
                        "{tee} evidence: quote is neither base64 nor hex"
                    )));
                }
                b
            }
            Some(Value::String(_)) => return Err(bad(format!("{tee} evidence: quote is empty"))),
            Some(_) => return Err(bad(format!("{tee} evidence: quote is not a string"))),
            None => return Err(bad(format!("{tee} evidence: quote missing"))),
        };
        let cc_eventlog = match obj.get("cc_eventlog") {
            None | Some(Value::Null) => None,
            // The CoCo verifier treats an empty string as "no event log".
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => {
                let b = base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .map_err(|e| {
                        bad(format!(
                            "{tee} evidence: cc_eventlog is not standard base64: {e}"
                        ))
                    })?;
                if b.len() == CCEL_TABLE_LEN && b.starts_with(b"CCEL") {
                    return Err(bad(format!(
                        "{tee} evidence: cc_eventlog holds the 56-byte CCEL ACPI table, not the event log it points to (/sys/firmware/acpi/tables/data/CCEL)"
                    )));
                }
                Some(b)
            }
            Some(_) => {
                return Err(bad(format!(
                    "{tee} evidence: cc_eventlog is not a string or null"
                )))
            }
        };
        // `aa_eventlog` (the attestation agent's runtime log, extended into
        // RTMR3) is accepted but not replayed: RTMR3 itself is a claim, and
        // policies appraise it through reference values.
        match obj.get("aa_eventlog") {
            None | Some(Value::Null | Value::String(_)) => {}
            Some(_) => {
                return Err(bad(format!(
                    "{tee} evidence: aa_eventlog is not a string or null"
                )))
            }
        }
        Ok(Shape { quote, cc_eventlog })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn vector(rel: &str) -> Option<Vec<u8>> {
        mamori_testvectors::read(rel)
    }

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    fn at(s: &str) -> UnixTime {
        UnixTime(tee_dcap::pcs::parse_time(s).unwrap())
    }

    const COS_QUOTE: &str = "tdx-quote-v4/tdx-v4-gcp-cos113-gotdxguest.dat";
    const COS_LOG: &str = "tdx-quote-v4/tdx-v4-gcp-cos113-ccel-data-gotdxguest.bin";

    fn cos_verifier() -> Option<DcapVerifier> {
        let paths: Vec<PathBuf> = [
            "dcap-collateral/tcbinfo-tdx-00806f05-2025-10-automata.json",
            "dcap-collateral/qeid-tdqe-2025-10-automata.json",
            "dcap-collateral/pckcrl-platform-2025-10-automata.der",
            "derived/dcap-collateral/intel-tcb-signing-chain-derived.pem",
        ]
        .iter()
        .map(|f| mamori_testvectors::path(f))
        .collect::<Option<_>>()?;
        Some(DcapVerifier::load(&paths, &[], VerifyOptions::default()).unwrap())
    }

    #[test]
    fn kbs_tdx_shape_verifies_and_replays_the_event_log() {
        let (Some(v), Some(q), Some(log)) = (cos_verifier(), vector(COS_QUOTE), vector(COS_LOG))
        else {
            return;
        };
        let ev = json!({"cc_eventlog": b64(&log), "quote": b64(&q), "aa_eventlog": null});
        let out = v.verify("tdx", &ev, at("2025-10-20T00:00:00Z")).unwrap();
        assert_eq!(out.tee, "tdx");
        assert_eq!(out.claims.to_json()["tcb_status"], "UpToDate");
        assert_eq!(out.claims.to_json()["event_log_verified"], true);
        assert_eq!(
            out.claims.to_json()["event_log"]["kernel_path"],
            "/syslinux/vmlinuz.A"
        );
        assert_eq!(
            out.claims.to_json()["measurement"],
            out.claims.to_json()["mr_td"]
        );
        assert_eq!(out.report_data.len(), 64);
        // The vector's REPORT_DATA is the go-tdx-guest nonce file.
        if let Some(nonce) = vector("tdx-quote-v4/tdx-v4-gcp-cos113-nonce-gotdxguest.bin") {
            assert_eq!(out.report_data, nonce);
        }
        assert_eq!(out.host_data.as_ref().map(Vec::len), Some(48));

        // Native shape: hex quote, no event log.
        let ev = json!({"quote": hex::encode(&q)});
        let out = v.verify("tdx", &ev, at("2025-10-20T00:00:00Z")).unwrap();
        assert_eq!(out.claims.to_json()["event_log_verified"], false);
        // An older attester's JSON-in-a-string.
        let ev = Value::String(json!({"quote": b64(&q), "cc_eventlog": ""}).to_string());
        v.verify("tdx", &ev, at("2025-10-20T00:00:00Z")).unwrap();
    }

    #[test]
    fn tampering_and_mismatches_are_rejected_with_the_check() {
        let (Some(v), Some(q), Some(log)) = (cos_verifier(), vector(COS_QUOTE), vector(COS_LOG))
        else {
            return;
        };
        let now = at("2025-10-20T00:00:00Z");
        let kind = |r: Result<VerifiedEvidence, ServiceError>| match r {
            Err(ServiceError::EvidenceRejected { check, .. }) => check,
            Err(e) => panic!("expected EvidenceRejected, got {e}"),
            Ok(_) => panic!("expected a rejection"),
        };
        // A flipped REPORTDATA byte breaks the quote signature.
        let mut bad_q = q.clone();
        bad_q[48 + 520] ^= 1;
        assert_eq!(
            kind(v.verify("tdx", &json!({"quote": b64(&bad_q)}), now)),
            "signature"
        );
        // An event log that does not replay to the quote's RTMRs.
        let mut bad_log = log.clone();
        let el = tdx_eventlog::parse(&log).unwrap();
        let off = el
            .events
            .iter()
            .find(|e| e.rtmr() == Some(1))
            .unwrap()
            .offset;
        bad_log[off + 19] ^= 1;
        let ev = json!({"quote": b64(&q), "cc_eventlog": b64(&bad_log)});
        assert_eq!(kind(v.verify("tdx", &ev, now)), "event-log");
        // A TDX quote for an sgx session.
        assert_eq!(
            kind(v.verify("sgx", &json!({"quote": b64(&q)}), now)),
            "tee-type"
        );
        // Stale collateral.
        assert_eq!(
            kind(v.verify(
                "tdx",
                &json!({"quote": b64(&q)}),
                at("2026-06-01T00:00:00Z")
            )),
            "collateral-freshness"
        );
        // No collateral at all: refused, naming what is missing.
        match DcapVerifier::empty().verify("tdx", &json!({"quote": b64(&q)}), now) {
            Err(ServiceError::EvidenceRejected { check, message }) => {
                assert_eq!(check, "collateral-missing");
                assert!(message.contains("TCB info"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_shapes_are_bad_requests_never_panics() {
        let v = DcapVerifier::empty();
        let now = UnixTime(1_800_000_000);
        for ev in [
            json!(null),
            json!([]),
            json!({}),
            json!({"quote": 5}),
            json!({"quote": ""}),
            json!({"quote": "not base64 !!"}),
            json!({"quote": "AAAA", "cc_eventlog": 3}),
            json!({"quote": "AAAA", "cc_eventlog": "***"}),
            json!({"quote": "AAAA", "aa_eventlog": {}}),
            json!("not json"),
        ] {
            match v.verify("tdx", &ev, now) {
                Err(ServiceError::BadRequest(_)) => {}
                other => panic!("{ev}: expected BadRequest, got {other:?}"),
            }
        }
        // The ACPI table instead of the log is named.
        let mut table = b"CCEL".to_vec();
        table.resize(CCEL_TABLE_LEN, 0);
        match v.verify(
            "tdx",
            &json!({"quote": "AAAA", "cc_eventlog": b64(&table)}),
            now,
        ) {
            Err(ServiceError::BadRequest(m)) => assert!(m.contains("ACPI table"), "{m}"),
            other => panic!("{other:?}"),
        }
        // Bytes that are not a quote: a parse rejection.
        for junk in [vec![], vec![0u8; 10], vec![0xffu8; 2000]] {
            let r = v.verify("tdx", &json!({"quote": b64(&junk)}), now);
            assert!(
                matches!(
                    r,
                    Err(ServiceError::EvidenceRejected { check: "parse", .. })
                        | Err(ServiceError::BadRequest(_))
                ),
                "{r:?}"
            );
        }
    }

    #[test]
    fn explicit_files_must_be_collateral_and_errors_name_them() {
        let dir = std::env::temp_dir().join(format!("mamori-dcap-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("notes.txt");
        std::fs::write(&junk, b"hello").unwrap();
        let e = DcapVerifier::load(std::slice::from_ref(&junk), &[], VerifyOptions::default())
            .err()
            .expect("refused");
        assert!(e.to_string().contains("notes.txt"), "{e}");
        // Inside a directory the same file is skipped.
        let v =
            DcapVerifier::load(std::slice::from_ref(&dir), &[], VerifyOptions::default()).unwrap();
        assert!(v.sources.is_empty());
        let missing = dir.join("absent.json");
        let e = DcapVerifier::load(
            std::slice::from_ref(&missing),
            &[],
            VerifyOptions::default(),
        )
        .err()
        .expect("refused");
        assert!(e.to_string().contains("absent.json"), "{e}");
        let e = DcapVerifier::load(&[], std::slice::from_ref(&junk), VerifyOptions::default())
            .err()
            .expect("anchor refused");
        assert!(e.to_string().contains("notes.txt"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
