//! Intel TDX and SGX over real HTTP on loopback: the KBS protocol with the
//! evidence shapes Confidential Containers guests send (`tdx`:
//! `{"cc_eventlog", "quote", "aa_eventlog"}`, `sgx`: `{"quote"}`), and the
//! native API.
//!
//! The server uses the real clock, and Intel's collateral for the real
//! vectors expired long ago, so real quotes are only used here for what does
//! not depend on time (a tampered quote, missing collateral, the wrong TEE
//! kind); their binding check runs at the service level with injected time
//! (`crates/mamori-service/tests/dcap.rs`). The positive flows use a
//! generated Intel-like hierarchy (tee-dcap-sim) trusted through
//! `[dcap] trust_anchors`, with collateral valid now.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use common::{temp_dir, Guest, TestServer};
use serde_json::{json, Value};
use tee_dcap_sim::{DcapSim, EnclaveOptions, SimOptions, TdOptions};

const SECRET: &[u8] = b"tdx-disk-key-0123456789";
const COS_QUOTE: &str = "tdx-quote-v4/tdx-v4-gcp-cos113-gotdxguest.dat";
const COS_LOG: &str = "tdx-quote-v4/tdx-v4-gcp-cos113-ccel-data-gotdxguest.bin";
const SGX_QUOTE: &str = "sgx-quote-v3/sgx-v3-00a067-dcapqvl.bin";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn b64url(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .unwrap()
}

/// A server trusting a freshly generated DCAP hierarchy whose collateral is
/// valid at the real time.
async fn sim_server(name: &str) -> (TestServer, DcapSim) {
    let sim = DcapSim::generate(&SimOptions {
        now: mamori_server::now(),
        ..SimOptions::default()
    })
    .unwrap();
    let dir = temp_dir(name);
    let (collateral, root) = sim.write_to(&dir).unwrap();
    let s = TestServer::start_in(dir, |cfg| {
        cfg.dcap.collateral = vec![collateral];
        cfg.dcap.trust_anchors = vec![root];
    })
    .await;
    (s, sim)
}

/// A server with the real Intel collateral of the GCP TDX vector (expired
/// by now: only useful for checks that come before collateral freshness).
async fn real_server(name: &str, with_collateral: bool) -> Option<TestServer> {
    let files = [
        "dcap-collateral/tcbinfo-tdx-00806f05-2025-10-automata.json",
        "dcap-collateral/qeid-tdqe-2025-10-automata.json",
        "derived/dcap-collateral/intel-tcb-signing-chain-derived.pem",
    ];
    let paths: Vec<_> = files
        .iter()
        .map(|f| mamori_testvectors::path(f))
        .collect::<Option<_>>()?;
    Some(
        TestServer::start_in(temp_dir(name), |cfg| {
            if with_collateral {
                cfg.dcap.collateral = paths;
            }
            cfg.limits.max_body_bytes = 1 << 20;
        })
        .await,
    )
}

async fn set_reference(s: &TestServer, name: &str, values: Value) {
    let r = s
        .admin_put(
            "/v1/admin/reference-value",
            json!({"name": name, "values": values})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn kbs_attest(
    s: &TestServer,
    cookie: &str,
    nonce: &str,
    g: &Guest,
    evidence: Value,
) -> reqwest::Response {
    let body = json!({
        "init-data": null,
        "runtime-data": {"nonce": nonce, "tee-pubkey": g.jwk()},
        "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""},
    });
    s.client
        .post(format!("{}/kbs/v0/attest", s.url))
        .header("cookie", format!("kbs-session-id={cookie}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn kbs_error(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let e: Value = r.json().await.unwrap();
    let kind = e["type"]
        .as_str()
        .unwrap()
        .strip_prefix("https://github.com/confidential-containers/kbs/errors/")
        .unwrap()
        .to_owned();
    (status, kind, e["detail"].as_str().unwrap_or("").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kbs_tdx_end_to_end_with_a_generated_platform() {
    let (s, sim) = sim_server("dcap-kbs-tdx").await;
    let mr_td = [0x3c; 48];
    set_reference(&s, "tdx_mr_td", json!([hex::encode(mr_td)])).await;
    let r = s
        .admin_put("/v1/admin/resource/default/tdx/key", SECRET.to_vec())
        .await;
    assert_eq!(r.status(), 200);

    let g = Guest::new();
    let (cookie, nonce) = s.kbs_auth("tdx").await;
    let quote = sim
        .tdx_quote(&TdOptions {
            report_data: g.report_data(&nonce, true),
            mr_td,
            ..TdOptions::default()
        })
        .unwrap();
    // Exactly the attester's shape: no event log on this platform.
    let evidence = json!({"cc_eventlog": null, "quote": b64(&quote), "aa_eventlog": null});
    let r = kbs_attest(&s, &cookie, &nonce, &g, evidence).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims: Value = serde_json::from_slice(&b64url(token.split('.').nth(1).unwrap())).unwrap();
    let cpu = &claims["submods"]["cpu0"];
    assert_eq!(cpu["ear.status"], "affirming", "{cpu}");
    assert_eq!(cpu["ear.appraisal-policy-id"], "default-tdx");
    let ev = &cpu["ear.veraison.annotated-evidence"];
    assert_eq!(ev["tcb_status"], "UpToDate");
    assert_eq!(ev["mr_td"], hex::encode(mr_td));
    assert_eq!(ev["event_log_verified"], false);

    // Background check with the cookie: the secret, encrypted to the guest.
    let r = s.kbs_resource(&cookie, "default/tdx/key").await;
    assert_eq!(r.status(), 200);
    assert_eq!(g.decrypt(&r.text().await.unwrap()), SECRET);

    // A quote that binds another nonce: BindingFailed, after verification.
    let (cookie, nonce) = s.kbs_auth("tdx").await;
    let quote = sim
        .tdx_quote(&TdOptions {
            report_data: g.report_data("another nonce", true),
            mr_td,
            ..TdOptions::default()
        })
        .unwrap();
    let r = kbs_attest(&s, &cookie, &nonce, &g, json!({"quote": b64(&quote)})).await;
    let (status, kind, _) = kbs_error(r).await;
    assert_eq!((status, kind.as_str()), (401, "BindingFailed"));

    // A debug TD verifies but is contraindicated, so nothing is released.
    let (cookie, nonce) = s.kbs_auth("tdx").await;
    let quote = sim
        .tdx_quote(&TdOptions {
            report_data: g.report_data(&nonce, true),
            mr_td,
            debug: true,
            ..TdOptions::default()
        })
        .unwrap();
    let r = kbs_attest(&s, &cookie, &nonce, &g, json!({"quote": b64(&quote)})).await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims: Value = serde_json::from_slice(&b64url(token.split('.').nth(1).unwrap())).unwrap();
    assert_eq!(claims["submods"]["cpu0"]["ear.status"], "contraindicated");
    let r = s
        .client
        .get(format!("{}/kbs/v0/resource/default/tdx/key", s.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sgx_over_kbs_and_the_native_api() {
    let (s, sim) = sim_server("dcap-sgx").await;
    let e = EnclaveOptions::default();
    set_reference(&s, "sgx_mr_enclave", json!([hex::encode(e.mr_enclave)])).await;
    let g = Guest::new();

    // KBS: `{"quote": "<b64>"}`.
    let (cookie, nonce) = s.kbs_auth("sgx").await;
    let quote = sim
        .sgx_quote(&EnclaveOptions {
            report_data: g.report_data(&nonce, true),
            ..e.clone()
        })
        .unwrap();
    let r = kbs_attest(&s, &cookie, &nonce, &g, json!({"quote": b64(&quote)})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // Native: challenge, then `{"quote": "<hex>"}` bound without additional-evidence.
    let c: Value = s.challenge("sgx").await;
    let nonce = c["nonce"].as_str().unwrap();
    let quote = sim
        .sgx_quote(&EnclaveOptions {
            report_data: g.report_data(nonce, false),
            ..e.clone()
        })
        .unwrap();
    let r = s
        .client
        .post(format!("{}/v1/attest", s.url))
        .json(
            &json!({"session_id": c["session_id"], "nonce": nonce, "tee_pubkey": g.jwk(),
                      "evidence": {"quote": hex::encode(&quote)}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["status"], "affirming", "{out}");

    // A TDX quote for an sgx session is refused before anything else.
    let (cookie, nonce) = s.kbs_auth("sgx").await;
    let quote = sim
        .tdx_quote(&TdOptions {
            report_data: g.report_data(&nonce, true),
            ..TdOptions::default()
        })
        .unwrap();
    let r = kbs_attest(&s, &cookie, &nonce, &g, json!({"quote": b64(&quote)})).await;
    let (status, kind, detail) = kbs_error(r).await;
    assert_eq!(
        (status, kind.as_str()),
        (401, "EvidenceRejected"),
        "{detail}"
    );
    assert!(detail.contains("tee-type"), "{detail}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_quotes_refused_for_time_independent_reasons() {
    let (Some(s), Some(quote), Some(log), Some(sgx)) = (
        real_server("dcap-real", true).await,
        mamori_testvectors::read(COS_QUOTE),
        mamori_testvectors::read(COS_LOG),
        mamori_testvectors::read(SGX_QUOTE),
    ) else {
        return;
    };
    let g = Guest::new();

    // A flipped byte in the signed body: the quote signature fails, first.
    let mut tampered = quote.clone();
    tampered[48 + 136] ^= 1; // MRTD
    let (cookie, nonce) = s.kbs_auth("tdx").await;
    let ev = json!({"cc_eventlog": b64(&log), "quote": b64(&tampered), "aa_eventlog": null});
    let (status, kind, detail) = kbs_error(kbs_attest(&s, &cookie, &nonce, &g, ev).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (401, "EvidenceRejected"),
        "{detail}"
    );
    assert!(detail.contains("(signature)"), "{detail}");

    // An SGX quote for a tdx session.
    let (cookie, nonce) = s.kbs_auth("tdx").await;
    let (status, kind, detail) =
        kbs_error(kbs_attest(&s, &cookie, &nonce, &g, json!({"quote": b64(&sgx)})).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (401, "EvidenceRejected"),
        "{detail}"
    );
    assert!(detail.contains("SGX quote"), "{detail}");

    // Malformed shapes are bad requests, named.
    let (cookie, nonce) = s.kbs_auth("tdx").await;
    let ev = json!({"quote": b64(&quote), "cc_eventlog": 7});
    let (status, kind, detail) = kbs_error(kbs_attest(&s, &cookie, &nonce, &g, ev).await).await;
    assert_eq!((status, kind.as_str()), (400, "BadRequest"), "{detail}");
    assert!(detail.contains("cc_eventlog"), "{detail}");
    s.stop().await;

    // No collateral configured: the genuine quote's chain verifies (the PCK
    // certificate is valid until 2031), then the TCB info is named missing.
    let Some(s) = real_server("dcap-none", false).await else {
        return;
    };
    let (cookie, nonce) = s.kbs_auth("tdx").await;
    let (status, kind, detail) =
        kbs_error(kbs_attest(&s, &cookie, &nonce, &g, json!({"quote": b64(&quote)})).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (401, "EvidenceRejected"),
        "{detail}"
    );
    assert!(
        detail.contains("missing collateral: TCB info for Tdx FMSPC 00806f050000"),
        "{detail}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_collateral_stops_the_server_naming_the_file() {
    let dir = temp_dir("dcap-bad");
    let junk = dir.join("not-collateral.txt");
    std::fs::write(&junk, b"hello").unwrap();
    let cfg = mamori_service::Config {
        data_dir: dir.join("data"),
        dcap: mamori_service::config::DcapConfig {
            collateral: vec![junk],
            ..Default::default()
        },
        ..mamori_service::Config::default()
    };
    let e = mamori_service::Service::start(cfg, mamori_server::now())
        .await
        .err()
        .expect("refused");
    assert!(e.to_string().contains("not-collateral.txt"), "{e}");
}
