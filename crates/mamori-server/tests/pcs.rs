//! Intel TDX and SGX quotes verified with collateral fetched from Intel's
//! PCS (or a PCCS) when none is configured: a PCCS stand-in on loopback
//! serves a generated Intel-like hierarchy's TCB info, QE identity and PCK
//! CRL at the PCS v4 paths, with their issuer chains in the response
//! headers, and its root CA CRL as hex text at the PCCS's path; it counts
//! what it is asked, and can be made to fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use common::{expect_error, temp_dir, Guest, TestServer};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use tee_dcap_sim::{DcapSim, SimOptions, TdOptions};

struct FakePcs {
    files: HashMap<String, Vec<u8>>,
    root_pem: String,
    status: AtomicU16,
    /// Paths answered 404 (with `status` 200).
    missing: Mutex<Vec<&'static str>>,
    /// The root CA CRL served (DER).
    root_crl: Mutex<Vec<u8>>,
    /// The PCK CRL served (DER).
    pck_crl: Mutex<Vec<u8>>,
    asked: Mutex<Vec<String>>,
}

impl FakePcs {
    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Percent-encodes all but the unreserved characters, as PCS does.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn pcs_handler(State(p): State<Arc<FakePcs>>, req: Request) -> Response {
    let uri = req.uri().clone();
    p.asked.lock().unwrap().push(uri.to_string());
    let status = p.status.load(Ordering::SeqCst);
    if status != 200 {
        return StatusCode::from_u16(status).unwrap().into_response();
    }
    if p.missing.lock().unwrap().contains(&uri.path()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match uri.path() {
        // A PCCS: hex text of the DER.
        "/sgx/certification/v4/rootcacrl" => {
            return hex::encode(&*p.root_crl.lock().unwrap()).into_response()
        }
        // Intel's distribution point (or a mirror of it): the DER.
        "/mirror/IntelSGXRootCA.der" => return p.root_crl.lock().unwrap().clone().into_response(),
        _ => {}
    }
    let tcb_chain = format!(
        "{}{}",
        String::from_utf8(p.files["tcb-signing.pem"].clone()).unwrap(),
        p.root_pem
    );
    let ca_chain = format!(
        "{}{}",
        pem("CERTIFICATE", &p.files["pck-platform-ca.der"]),
        p.root_pem
    );
    let (file, header, chain) = match (uri.path(), uri.query().unwrap_or("")) {
        ("/tdx/certification/v4/tcb", "fmspc=001122334455") => {
            ("tcbinfo-tdx.json", "TCB-Info-Issuer-Chain", tcb_chain)
        }
        ("/sgx/certification/v4/tcb", "fmspc=001122334455") => {
            ("tcbinfo-sgx.json", "TCB-Info-Issuer-Chain", tcb_chain)
        }
        ("/tdx/certification/v4/qe/identity", "") => (
            "qeid-tdqe.json",
            "SGX-Enclave-Identity-Issuer-Chain",
            tcb_chain,
        ),
        ("/sgx/certification/v4/qe/identity", "") => (
            "qeid-qe.json",
            "SGX-Enclave-Identity-Issuer-Chain",
            tcb_chain,
        ),
        ("/sgx/certification/v4/pckcrl", "ca=platform&encoding=der") => {
            ("pckcrl.der", "SGX-PCK-CRL-Issuer-Chain", ca_chain)
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let body = if file == "pckcrl.der" {
        p.pck_crl.lock().unwrap().clone()
    } else {
        p.files[file].clone()
    };
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header, HeaderValue::from_str(&url_encode(&chain)).unwrap());
    r
}

/// The stand-in over TLS with a self-signed certificate for 127.0.0.1
/// (as a PCCS serves by default); returns its URL and the CA PEM.
async fn fake_pcs_tls(sim: &DcapSim) -> (String, Arc<FakePcs>, String) {
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use tokio_rustls::rustls;
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let p = new_fake(sim);
    let app = axum::Router::new()
        .fallback(pcs_handler)
        .with_state(p.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                // A client that does not trust the certificate fails here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                    .await;
            });
        }
    });
    (url, p, cert.cert.pem())
}

fn new_fake(sim: &DcapSim) -> Arc<FakePcs> {
    let files: HashMap<String, Vec<u8>> = sim.collateral().iter().cloned().collect();
    Arc::new(FakePcs {
        root_crl: Mutex::new(files["rootcrl.der"].clone()),
        pck_crl: Mutex::new(files["pckcrl.der"].clone()),
        files,
        root_pem: sim.root_pem().to_owned(),
        status: AtomicU16::new(200),
        missing: Mutex::new(Vec::new()),
        asked: Mutex::new(Vec::new()),
    })
}

async fn fake_pcs(sim: &DcapSim) -> (String, Arc<FakePcs>) {
    let p = new_fake(sim);
    let app = axum::Router::new()
        .fallback(pcs_handler)
        .with_state(p.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, p)
}

/// A server trusting the generated hierarchy's root, with no collateral
/// configured: only what it fetches from `pcs`.
async fn server(dir: std::path::PathBuf, sim: &DcapSim, pcs: Option<&str>) -> TestServer {
    server_with_ca(dir, sim, pcs, None).await
}

async fn server_with_ca(
    dir: std::path::PathBuf,
    sim: &DcapSim,
    pcs: Option<&str>,
    ca_pem: Option<&str>,
) -> TestServer {
    let root = dir.join("dcap-root.pem");
    std::fs::write(&root, sim.root_pem()).unwrap();
    let ca = ca_pem.map(|pem| {
        let path = dir.join("pccs-ca.pem");
        std::fs::write(&path, pem).unwrap();
        path
    });
    let pcs = pcs.map(str::to_owned);
    TestServer::start_in(dir, move |cfg| {
        cfg.dcap.trust_anchors = vec![root];
        cfg.dcap.pcs_url = pcs;
        cfg.dcap.pcs_ca_file = ca;
    })
    .await
}

/// KBS RCAR for `tdx` with a quote whose REPORTDATA binds the session
/// (or, with `bind` false, another nonce).
async fn attest(s: &TestServer, sim: &DcapSim, bind: bool) -> reqwest::Response {
    let g = Guest::new();
    let (cookie, nonce) = s.kbs_auth("tdx").await;
    let bound = if bind {
        nonce.clone()
    } else {
        format!("{nonce}x")
    };
    let quote = sim
        .tdx_quote(&TdOptions {
            report_data: g.report_data(&bound, true),
            ..TdOptions::default()
        })
        .unwrap();
    let evidence = json!({"cc_eventlog": null, "quote": base64::engine::general_purpose::STANDARD.encode(&quote), "aa_eventlog": null});
    let body = json!({
        "init-data": null,
        "runtime-data": {"nonce": nonce, "tee-pubkey": g.jwk()},
        "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""},
    });
    s.kbs_post_attest(&cookie, &body).await
}

/// KBS RCAR for `sgx` with a quote that binds the session.
async fn attest_sgx(s: &TestServer, sim: &DcapSim) -> reqwest::Response {
    let g = Guest::new();
    let (cookie, nonce) = s.kbs_auth("sgx").await;
    let quote = sim
        .sgx_quote(&tee_dcap_sim::EnclaveOptions {
            report_data: g.report_data(&nonce, true),
            ..tee_dcap_sim::EnclaveOptions::default()
        })
        .unwrap();
    let body = json!({
        "init-data": null,
        "runtime-data": {"nonce": nonce, "tee-pubkey": g.jwk()},
        "tee-evidence": {"primary_evidence": {"quote": base64::engine::general_purpose::STANDARD.encode(&quote)}, "additional_evidence": ""},
    });
    s.kbs_post_attest(&cookie, &body).await
}

fn sim() -> DcapSim {
    DcapSim::generate(&SimOptions {
        now: mamori_server::now(),
        ..SimOptions::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tdx_quote_verifies_with_collateral_fetched_from_pcs_and_kept() {
    let sim = sim();
    let (url, pcs) = fake_pcs(&sim).await;
    let dir = temp_dir("pcs-ok");
    let s = server(dir.clone(), &sim, Some(&url)).await;
    let r = attest(&s, &sim, true).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let asked = pcs.asked();
    assert_eq!(
        asked,
        [
            "/sgx/certification/v4/rootcacrl",
            "/sgx/certification/v4/pckcrl?ca=platform&encoding=der",
            "/tdx/certification/v4/tcb?fmspc=001122334455",
            "/tdx/certification/v4/qe/identity",
        ]
    );
    // Held now: more quotes, nothing more asked.
    for _ in 0..3 {
        assert_eq!(attest(&s, &sim, true).await.status(), 200);
    }
    assert_eq!(pcs.asked().len(), 4);
    // An SGX quote on the same server: its family's items are fetched,
    // and the TDX platform keeps its own.
    let r = attest_sgx(&s, &sim).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let asked = pcs.asked();
    assert!(
        asked.contains(&"/sgx/certification/v4/tcb?fmspc=001122334455".to_owned())
            && asked.contains(&"/sgx/certification/v4/qe/identity".to_owned()),
        "{asked:?}"
    );
    let after_sgx = asked.len();
    assert_eq!(attest(&s, &sim, true).await.status(), 200);
    assert_eq!(pcs.asked().len(), after_sgx);
    let m = s.metrics().await;
    assert!(
        m.contains(r#"mamori_collateral_fetches_total{item="tcb_info",outcome="fetched"} 2"#),
        "{m}"
    );
    s.stop().await;

    // Restarted while PCS is down: the kept collateral verifies.
    pcs.status.store(503, Ordering::SeqCst);
    let s = server(dir, &sim, Some(&url)).await;
    let r = attest(&s, &sim, true).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        pcs.asked().len(),
        after_sgx,
        "nothing fetched after the restart"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_pcs_or_with_it_failing_the_quote_is_refused_clearly() {
    let sim = sim();
    // No collateral and no PCS: refused, naming what is missing.
    let s = server(temp_dir("pcs-off"), &sim, None).await;
    expect_error(
        attest(&s, &sim, true).await,
        401,
        "EvidenceRejected",
        "TCB info",
    )
    .await;
    s.stop().await;

    let (url, pcs) = fake_pcs(&sim).await;
    let s = server(temp_dir("pcs-fail"), &sim, Some(&url)).await;
    // A quote that does not bind the session costs no request to Intel.
    expect_error(
        attest(&s, &sim, false).await,
        401,
        "BindingFailed",
        "no collateral was fetched",
    )
    .await;
    assert!(pcs.asked().is_empty());
    // PCS failing: 503 with a Retry-After; not asked again at once.
    pcs.status.store(500, Ordering::SeqCst);
    let r = attest(&s, &sim, true).await;
    assert_eq!(r.headers()["retry-after"], "30");
    expect_error(r, 503, "CollateralUnavailable", "HTTP 500").await;
    expect_error(
        attest(&s, &sim, true).await,
        503,
        "CollateralUnavailable",
        "remembered",
    )
    .await;
    // Asked once each: the root CA CRL (its failure does not stop the
    // others, a held one may be in force) and the PCK CRL.
    assert_eq!(pcs.asked().len(), 2);
    s.stop().await;

    // PCS not knowing the platform: the evidence is refused (401).
    refused_when_missing(
        &sim,
        "/tdx/certification/v4/tcb",
        401,
        "EvidenceRejected",
        "tcb?fmspc=001122334455: no such item (HTTP 404)",
    )
    .await;
    // No root CA CRL where it is looked for says nothing about the quote:
    // 503, naming the setting to fix.
    refused_when_missing(
        &sim,
        "/sgx/certification/v4/rootcacrl",
        503,
        "CollateralUnavailable",
        "the root CA CRL could not be fetched from",
    )
    .await;
}

/// A server whose PCS answers 404 at `path` refuses the quote so.
async fn refused_when_missing(
    sim: &DcapSim,
    path: &'static str,
    status: u16,
    kind: &str,
    says: &str,
) {
    let (url, pcs) = fake_pcs(sim).await;
    pcs.missing.lock().unwrap().push(path);
    let s = server(temp_dir("pcs-missing"), sim, Some(&url)).await;
    expect_error(attest(&s, sim, true).await, status, kind, says).await;
    s.stop().await;
}

/// The root CA CRL from `root_ca_crl_url` (DER, as Intel's distribution
/// point serves it); once held, its source failing does not stop another
/// platform's items from being fetched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_ca_crl_comes_from_its_own_url_and_a_held_one_carries_on() {
    let sim = sim();
    let (url, pcs) = fake_pcs(&sim).await;
    let root = temp_dir("pcs-root-url");
    let anchor = root.join("dcap-root.pem");
    std::fs::write(&anchor, sim.root_pem()).unwrap();
    let crl_url = format!("{url}mirror/IntelSGXRootCA.der");
    let s = TestServer::start_in(root, move |cfg| {
        cfg.dcap.trust_anchors = vec![anchor];
        cfg.dcap.pcs_url = Some(url);
        cfg.dcap.root_ca_crl_url = Some(crl_url);
    })
    .await;
    let r = attest(&s, &sim, true).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(pcs.asked()[0], "/mirror/IntelSGXRootCA.der");
    assert!(!pcs
        .asked()
        .contains(&"/sgx/certification/v4/rootcacrl".to_owned()));
    // The mirror fails; an SGX quote's items are still fetched, and the
    // root CA CRL held is used.
    pcs.missing
        .lock()
        .unwrap()
        .push("/mirror/IntelSGXRootCA.der");
    let r = attest_sgx(&s, &sim).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        pcs.asked().last().map(String::as_str),
        Some("/sgx/certification/v4/qe/identity")
    );
    s.stop().await;
}

/// Another hierarchy's collateral (what a wrong or hostile PCS would
/// serve) does not verify the quote and is not installed or kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_hierarchys_collateral_is_refused() {
    let sim = sim();
    let other = self::sim();
    let (url, pcs) = fake_pcs(&other).await;
    let dir = temp_dir("pcs-wrong");
    let s = server(dir.clone(), &sim, Some(&url)).await;
    expect_error(
        attest(&s, &sim, true).await,
        401,
        "EvidenceRejected",
        "signature",
    )
    .await;
    let asked = pcs.asked().len();
    assert_eq!(asked, 4);
    // Not installed (the quote still lacks its collateral, the root CA
    // CRL checked first), and not asked for again at once.
    expect_error(
        attest(&s, &sim, true).await,
        401,
        "EvidenceRejected",
        "missing collateral: root CA CRL",
    )
    .await;
    assert_eq!(pcs.asked().len(), asked);
    s.stop().await;
    // Not kept: a node on the same store with the right PCS fetches.
    let (url, pcs) = fake_pcs(&sim).await;
    let s = server(dir, &sim, Some(&url)).await;
    assert_eq!(attest(&s, &sim, true).await.status(), 200);
    assert_eq!(pcs.asked().len(), 4);
    s.stop().await;
}

/// A PCCS with its default self-signed certificate: used over https when
/// its CA is given (`pcs_ca_file`), refused without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pccs_with_a_private_certificate_is_trusted_through_its_ca_file() {
    let sim = sim();
    let (url, pcs, ca) = fake_pcs_tls(&sim).await;
    let s = server(temp_dir("pccs-untrusted"), &sim, Some(&url)).await;
    expect_error(
        attest(&s, &sim, true).await,
        503,
        "CollateralUnavailable",
        "",
    )
    .await;
    assert!(pcs.asked().is_empty(), "no request got through TLS");
    s.stop().await;
    let s = server_with_ca(temp_dir("pccs-trusted"), &sim, Some(&url), Some(&ca)).await;
    let r = attest(&s, &sim, true).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(pcs.asked().len(), 4);
    s.stop().await;
}

/// The root CA CRL is fetched and applied: one that revokes the PCK
/// Platform CA refuses the quote, and nothing is installed or kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetched_root_ca_crl_revoking_the_pck_ca_refuses_the_quote() {
    let sim = DcapSim::generate(&SimOptions {
        now: mamori_server::now(),
        // Serial 2: the PCK Platform CA (tee_dcap_sim::pki::Hierarchy).
        root_crl_revokes: vec![2],
        ..SimOptions::default()
    })
    .unwrap();
    let (url, pcs) = fake_pcs(&sim).await;
    let s = server(temp_dir("pcs-root-revoked"), &sim, Some(&url)).await;
    expect_error(
        attest(&s, &sim, true).await,
        401,
        "EvidenceRejected",
        "Intel SGX PCK Platform CA, O=Mamori DCAP Simulation) is revoked by the root CA CRL",
    )
    .await;
    assert_eq!(pcs.asked()[0], "/sgx/certification/v4/rootcacrl");
    s.stop().await;
}

/// With a PCS, both CRLs are required: configured collateral without them
/// is completed by fetching them, not used with revocation unchecked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_collateral_without_crls_gets_them_fetched() {
    let sim = sim();
    let dir = temp_dir("pcs-no-crls");
    let collateral = dir.join("collateral");
    std::fs::create_dir_all(&collateral).unwrap();
    for (name, bytes) in sim.collateral() {
        if !name.ends_with("crl.der") {
            std::fs::write(collateral.join(name), bytes).unwrap();
        }
    }
    let root = dir.join("dcap-root.pem");
    std::fs::write(&root, sim.root_pem()).unwrap();

    // Without a PCS the CRLs are checked when present: the quote verifies.
    let (anchor, files) = (root.clone(), collateral.clone());
    let s = TestServer::start_in(temp_dir("pcs-no-crls-offline"), move |cfg| {
        cfg.dcap.trust_anchors = vec![anchor];
        cfg.dcap.collateral = vec![files];
    })
    .await;
    let r = attest(&s, &sim, true).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    s.stop().await;

    let (url, pcs) = fake_pcs(&sim).await;
    let s = TestServer::start_in(temp_dir("pcs-no-crls-online"), move |cfg| {
        cfg.dcap.trust_anchors = vec![root];
        cfg.dcap.collateral = vec![collateral];
        cfg.dcap.pcs_url = Some(url);
    })
    .await;
    let r = attest(&s, &sim, true).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let asked = pcs.asked();
    assert!(
        asked.contains(&"/sgx/certification/v4/rootcacrl".to_owned())
            && asked.contains(&"/sgx/certification/v4/pckcrl?ca=platform&encoding=der".to_owned()),
        "{asked:?}"
    );
    s.stop().await;
}

/// An older root CA CRL (one from before a revocation, replayed) is
/// neither installed nor kept: the store keeps the newer one for restarts
/// and other nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_root_ca_crl_replayed_replaces_nothing() {
    let now = mamori_server::now();
    let sim = sim();
    let (url, pcs) = fake_pcs(&sim).await;
    let newer = pcs.root_crl.lock().unwrap().clone();
    let dir = temp_dir("pcs-root-replay");
    let s = server(dir.clone(), &sim, Some(&url)).await;
    assert_eq!(attest(&s, &sim, true).await.status(), 200);
    // Issued a day before the collateral's, and still in force.
    let older = sim.root_crl(now - 2 * 86_400, now + 86_400, &[]).unwrap();
    *pcs.root_crl.lock().unwrap() = older;
    assert_eq!(attest_sgx(&s, &sim).await.status(), 200);
    assert_eq!(
        pcs.asked()
            .iter()
            .filter(|p| *p == "/sgx/certification/v4/rootcacrl")
            .count(),
        2,
        "the older one was fetched"
    );
    s.stop().await;
    let store = mamori_store::Store::open(&dir.join("data").join("mamori.db"))
        .await
        .unwrap();
    let kept = store
        .get_collateral("pcs:root_ca_crl:rootcacrl")
        .await
        .unwrap()
        .expect("the root CA CRL is kept");
    assert_eq!(
        String::from_utf8(kept.body).unwrap(),
        hex::encode(&newer),
        "the newer root CA CRL is what the store keeps"
    );
}

/// Housekeeping fetches a platform's collateral again once a day and
/// installs (and keeps) what is newer; a CRL that revokes the platform's
/// own chain is installed alone, so its quotes are refused at once; a
/// failed refresh leaves what is held in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collateral_is_refreshed_once_a_day() {
    let now = mamori_server::now();
    let sim = sim();
    let (url, pcs) = fake_pcs(&sim).await;
    let dir = temp_dir("pcs-refresh");
    let s = server(dir.clone(), &sim, Some(&url)).await;
    assert_eq!(
        s.svc.refresh_dcap_collateral(now).await,
        0,
        "no platform yet"
    );
    assert_eq!(attest(&s, &sim, true).await.status(), 200);
    assert_eq!(pcs.asked().len(), 4);
    assert_eq!(
        s.svc.refresh_dcap_collateral(now + 3_600).await,
        0,
        "not due"
    );
    assert_eq!(pcs.asked().len(), 4);

    // A day later Intel has issued a newer root CA CRL: fetched with the
    // rest, installed and kept.
    let newer = sim.root_crl(now - 3_600, now + 30 * 86_400, &[99]).unwrap();
    *pcs.root_crl.lock().unwrap() = newer.clone();
    let day = now + 25 * 3_600;
    assert_eq!(s.svc.refresh_dcap_collateral(day).await, 1);
    assert_eq!(pcs.asked().len(), 8);
    assert_eq!(attest(&s, &sim, true).await.status(), 200);

    // The next day PCS is down: nothing refreshed, what is held stays in
    // use, and the refresh is tried again after an hour, not sooner.
    pcs.status.store(503, Ordering::SeqCst);
    let down = day + 25 * 3_600;
    assert_eq!(s.svc.refresh_dcap_collateral(down).await, 0);
    assert_eq!(pcs.asked().len(), 10, "the root CA CRL and the PCK CRL");
    assert_eq!(attest(&s, &sim, true).await.status(), 200);
    assert_eq!(s.svc.refresh_dcap_collateral(down + 600).await, 0);
    assert_eq!(pcs.asked().len(), 10, "not within the hour");
    pcs.status.store(200, Ordering::SeqCst);

    // An hour later the root CA CRL revokes the platform's own PCK CA:
    // that CRL is installed (and kept), and the platform's quotes are
    // refused from then on.
    let revoking = sim.root_crl(now, now + 30 * 86_400, &[2]).unwrap();
    *pcs.root_crl.lock().unwrap() = revoking.clone();
    let next = down + 3_600;
    assert_eq!(s.svc.refresh_dcap_collateral(next).await, 0);
    assert_eq!(pcs.asked().len(), 14, "fetched");
    expect_error(
        attest(&s, &sim, true).await,
        401,
        "EvidenceRejected",
        "is revoked by the root CA CRL",
    )
    .await;
    // The revoked machine's quote is no test for later collateral: the
    // platform is forgotten, and nothing more is asked for it.
    assert_eq!(s.svc.refresh_dcap_collateral(next + 25 * 3_600).await, 0);
    assert_eq!(pcs.asked().len(), 14, "forgotten");
    s.stop().await;

    let store = mamori_store::Store::open(&dir.join("data").join("mamori.db"))
        .await
        .unwrap();
    let kept = store
        .get_collateral("pcs:root_ca_crl:rootcacrl")
        .await
        .unwrap()
        .expect("the root CA CRL is kept");
    assert_eq!(
        String::from_utf8(kept.body).unwrap(),
        hex::encode(&revoking),
        "the revoking root CA CRL is what the store keeps"
    );
    // The platform's other items, under the keys the test of what is not
    // kept looks for.
    for key in [
        "pcs:pck_crl:sgx/certification/v4/pckcrl?ca=platform&encoding=der",
        "pcs:tcb_info:tdx/certification/v4/tcb?fmspc=001122334455",
        "pcs:qe_identity:tdx/certification/v4/qe/identity",
    ] {
        assert!(store.get_collateral(key).await.unwrap().is_some(), "{key}");
    }
}

/// A root CA CRL that revokes the quote's PCK CA is installed and kept on
/// its own: the PCK CRL fetched with it was never consulted (its CA is
/// revoked), so it is not installed, whatever it is (here another
/// hierarchy's, with the same issuer name, which would fail its signature
/// for every platform if it were picked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_crl_that_revoked_is_installed() {
    let now = mamori_server::now();
    let sim = sim();
    let other = self::sim();
    let (url, pcs) = fake_pcs(&sim).await;
    *pcs.root_crl.lock().unwrap() = sim.root_crl(now - 3_600, now + 86_400, &[2]).unwrap();
    let foreign = other
        .collateral()
        .iter()
        .find(|(name, _)| name == "pckcrl.der")
        .map(|(_, der)| der.clone())
        .unwrap();
    *pcs.pck_crl.lock().unwrap() = foreign;
    let dir = temp_dir("pcs-only-revoking");
    let s = server(dir.clone(), &sim, Some(&url)).await;
    expect_error(
        attest(&s, &sim, true).await,
        401,
        "EvidenceRejected",
        "is revoked by the root CA CRL",
    )
    .await;
    s.stop().await;
    let store = mamori_store::Store::open(&dir.join("data").join("mamori.db"))
        .await
        .unwrap();
    assert!(store
        .get_collateral("pcs:root_ca_crl:rootcacrl")
        .await
        .unwrap()
        .is_some());
    for key in [
        "pcs:pck_crl:sgx/certification/v4/pckcrl?ca=platform&encoding=der",
        "pcs:tcb_info:tdx/certification/v4/tcb?fmspc=001122334455",
        "pcs:qe_identity:tdx/certification/v4/qe/identity",
    ] {
        assert!(
            store.get_collateral(key).await.unwrap().is_none(),
            "{key} kept"
        );
    }
}
