//! Real Intel TDX and SGX quotes through the whole service with injected
//! time (their collateral is only fresh at the vectors' as-of dates): they
//! verify, the CCEL event log replays, and they are refused at the binding
//! check, because a real quote cannot bind a fresh session nonce. Tampering
//! and stale collateral are refused earlier, as evidence rejections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use mamori_agent::TeeKey;
use mamori_service::{AttestRequest, Config, Service, ServiceError};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn at(s: &str) -> i64 {
    tee_dcap::pcs::parse_time(s).unwrap()
}

async fn service(name: &str, collateral: &[&str], now: i64) -> Option<Arc<Service>> {
    let paths: Vec<PathBuf> = collateral
        .iter()
        .map(|f| mamori_testvectors::path(f))
        .collect::<Option<_>>()?;
    let dir = std::env::temp_dir().join(format!("mamori-svc-dcap-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg = Config {
        data_dir: dir.join("data"),
        ..Config::default()
    };
    cfg.dcap.collateral = paths;
    Some(Service::start(cfg, now).await.unwrap())
}

async fn attest(svc: &Service, tee: &str, evidence: Value, now: i64) -> Result<(), ServiceError> {
    let c = svc.challenge(tee, now).await.unwrap();
    let key = TeeKey::generate().unwrap();
    svc.attest(
        AttestRequest {
            session_id: c.session_id,
            nonce: c.nonce,
            tee_pubkey: key.jwk(),
            additional_evidence: Some(String::new()),
            evidence,
            init_data: None,
        },
        now,
    )
    .await
    .map(|_| ())
}

const TDX_COLLATERAL: &[&str] = &[
    "dcap-collateral/tcbinfo-tdx-00806f05-2025-10-automata.json",
    "dcap-collateral/qeid-tdqe-2025-10-automata.json",
    "dcap-collateral/pckcrl-platform-2025-10-automata.der",
    "derived/dcap-collateral/intel-root-ca-crl-2025-derived.der",
    "derived/dcap-collateral/intel-tcb-signing-chain-derived.pem",
];

#[tokio::test]
async fn real_tdx_quote_with_event_log_reaches_the_binding_check() {
    let now = at("2025-10-20T00:00:00Z");
    let (Some(svc), Some(q), Some(log)) = (
        service("tdx", TDX_COLLATERAL, now).await,
        mamori_testvectors::read("tdx-quote-v4/tdx-v4-gcp-cos113-gotdxguest.dat"),
        mamori_testvectors::read("tdx-quote-v4/tdx-v4-gcp-cos113-ccel-data-gotdxguest.bin"),
    ) else {
        return;
    };
    let ev = json!({"cc_eventlog": b64(&log), "quote": b64(&q), "aa_eventlog": null});
    match attest(&svc, "tdx", ev.clone(), now).await {
        Err(e @ ServiceError::Binding(_)) => assert_eq!(e.kind(), "BindingFailed"),
        other => panic!("expected BindingFailed, got {other:?}"),
    }
    // Native shape (hex), same outcome.
    match attest(&svc, "tdx", json!({"quote": hex::encode(&q)}), now).await {
        Err(ServiceError::Binding(_)) => {}
        other => panic!("expected BindingFailed, got {other:?}"),
    }
    // A tampered quote is refused before the binding check.
    let mut bad = q.clone();
    bad[48 + 520] ^= 0x80; // REPORTDATA
    match attest(&svc, "tdx", json!({"quote": b64(&bad)}), now).await {
        Err(ServiceError::EvidenceRejected { check, .. }) => assert_eq!(check, "signature"),
        other => panic!("expected EvidenceRejected, got {other:?}"),
    }
    // An event log that does not replay is refused, naming the register.
    let el = tdx_eventlog::parse(&log).unwrap();
    let off = el
        .events
        .iter()
        .find(|e| e.rtmr() == Some(2))
        .unwrap()
        .offset;
    let mut bad_log = log.clone();
    bad_log[off + 19] ^= 1;
    let ev = json!({"cc_eventlog": b64(&bad_log), "quote": b64(&q)});
    match attest(&svc, "tdx", ev, now).await {
        Err(ServiceError::EvidenceRejected { check, message }) => {
            assert_eq!(check, "event-log");
            assert!(message.contains("RTMR2"), "{message}");
        }
        other => panic!("expected EvidenceRejected, got {other:?}"),
    }
    // Eight months later the collateral is stale, and the rejection says which.
    let later = at("2026-06-20T00:00:00Z");
    match attest(&svc, "tdx", json!({"quote": b64(&q)}), later).await {
        Err(ServiceError::EvidenceRejected { check, message }) => {
            assert_eq!(check, "collateral-freshness");
            assert!(message.contains("stale"), "{message}");
        }
        other => panic!("expected EvidenceRejected, got {other:?}"),
    }
    svc.store().close().await;
}

#[tokio::test]
async fn real_sgx_quote_reaches_the_binding_check() {
    let now = at("2025-06-20T00:00:00Z");
    let (Some(svc), Some(q)) = (
        service(
            "sgx",
            &["dcap-collateral/collateral-sgx-00a067-2025-06-dcapqvl.json"],
            now,
        )
        .await,
        mamori_testvectors::read("sgx-quote-v3/sgx-v3-00a067-dcapqvl.bin"),
    ) else {
        return;
    };
    match attest(&svc, "sgx", json!({"quote": b64(&q)}), now).await {
        Err(ServiceError::Binding(_)) => {}
        other => panic!("expected BindingFailed, got {other:?}"),
    }
    // The same quote for a tdx session.
    match attest(&svc, "tdx", json!({"quote": b64(&q)}), now).await {
        Err(ServiceError::EvidenceRejected { check, .. }) => assert_eq!(check, "tee-type"),
        other => panic!("expected EvidenceRejected, got {other:?}"),
    }
    svc.store().close().await;
}
