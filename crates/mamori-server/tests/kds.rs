//! SEV-SNP guests whose host provides no certificates (`cert_chain: null`,
//! as the Confidential Containers attester sends it then) attest with the
//! VCEK fetched from AMD's Key Distribution Service. A KDS stand-in on
//! loopback serves the simulated chip's VCEK at the path AMD's KDS uses,
//! counts what it is asked, and can be made to fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::{chain_arc, expect_error, temp_dir, Guest, TestServer};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use tee_sim::SnpSimChain;

const SECRET: &[u8] = b"model-key-0123456789";

/// What the stand-in answers: 200 with the item, or this status.
struct FakeKds {
    chain: Arc<SnpSimChain>,
    /// Serve this chain's VCEK instead (a KDS, or a proxy, gone wrong).
    vcek_of: Mutex<Option<Arc<SnpSimChain>>>,
    status: AtomicU16,
    /// The status of the Milan VCEK path alone (200: serve it).
    vcek_status: AtomicU16,
    asked: Mutex<Vec<String>>,
    /// The Milan CRL served, if any.
    crl: Mutex<Option<Vec<u8>>>,
}

impl FakeKds {
    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

async fn kds_handler(State(k): State<Arc<FakeKds>>, req: Request) -> Response {
    let uri = req.uri().clone();
    k.asked.lock().unwrap().push(uri.to_string());
    let status = k.status.load(Ordering::SeqCst);
    if status != 200 {
        let mut r = (StatusCode::from_u16(status).unwrap(), "no").into_response();
        if status == 429 {
            r.headers_mut()
                .insert("retry-after", "120".parse().unwrap());
        }
        return r;
    }
    let c = &k.chain;
    if uri.path() == "/vcek/v1/Milan/crl" {
        return match k.crl.lock().unwrap().clone() {
            Some(der) => der.into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    if uri.path() == "/vcek/v1/Milan/cert_chain" {
        return format!("{}{}", c.ask_pem(), c.ark_pem()).into_response();
    }
    // The VCEK: the chip id in hex, the TCB as AMD's KDS spells it.
    let tcb = &c.options().tcb;
    let expected_query = format!(
        "blSPL={:02}&teeSPL={:02}&snpSPL={:02}&ucodeSPL={:02}",
        tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode
    );
    if uri.path() == format!("/vcek/v1/Milan/{}", hex::encode(c.chip_id()))
        && uri.query() == Some(expected_query.as_str())
    {
        let status = k.vcek_status.load(Ordering::SeqCst);
        if status != 200 {
            return StatusCode::from_u16(status).unwrap().into_response();
        }
        let served = k
            .vcek_of
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| c.clone());
        return served.vcek_der().to_vec().into_response();
    }
    StatusCode::NOT_FOUND.into_response()
}

async fn fake_kds() -> (String, Arc<FakeKds>) {
    let k = Arc::new(FakeKds {
        chain: chain_arc(),
        vcek_of: Mutex::new(None),
        status: AtomicU16::new(200),
        vcek_status: AtomicU16::new(200),
        asked: Mutex::new(Vec::new()),
        crl: Mutex::new(None),
    });
    let app = axum::Router::new()
        .fallback(kds_handler)
        .with_state(k.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, k)
}

async fn server_with_kds(dir: std::path::PathBuf, kds: Option<&str>) -> TestServer {
    let kds = kds.map(str::to_owned);
    let s = TestServer::start_in(dir, move |c| c.snp.kds_url = kds).await;
    s.provision("default/key/1", SECRET).await;
    s
}

/// KBS RCAR with the SNP evidence as a guest sends it when its host has no
/// certificates; `bind` false puts another nonce in REPORT_DATA.
async fn attest_without_certs(
    s: &TestServer,
    g: &Guest,
    bind: bool,
) -> (String, reqwest::Response) {
    let (cookie, nonce) = s.kbs_auth("snp").await;
    let mut body = g.kbs_attest_body(&nonce);
    if !bind {
        body = g.kbs_attest_body(&format!("{}x", &nonce[1..]));
        body["runtime-data"]["nonce"] = json!(nonce);
    }
    let evidence = &mut body["tee-evidence"]["primary_evidence"];
    assert!(evidence["cert_chain"].is_array());
    evidence["cert_chain"] = Value::Null;
    let r = s.kbs_post_attest(&cookie, &body).await;
    (cookie, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_without_certificates_gets_its_secret_with_the_vcek_from_kds() {
    let (url, kds) = fake_kds().await;
    let dir = temp_dir("kds-ok");
    let s = server_with_kds(dir.clone(), Some(&url)).await;
    let g = Guest::new();
    let (cookie, r) = attest_without_certs(&s, &g, true).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = s.kbs_resource(&cookie, "default/key/1").await;
    assert_eq!(r.status(), 200);
    assert_eq!(g.decrypt(&r.text().await.unwrap()), SECRET);
    let asked = kds.asked();
    assert_eq!(
        asked.len(),
        2,
        "the VCEK and the chain, once each: {asked:?}"
    );
    assert!(asked.iter().any(|a| a == "/vcek/v1/Milan/cert_chain"));
    // Known now: more guests on that chip, nothing more asked.
    for _ in 0..3 {
        let (_, r) = attest_without_certs(&s, &Guest::new(), true).await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(kds.asked().len(), 2);
    let m = s.metrics().await;
    assert!(
        m.contains(r#"mamori_collateral_fetches_total{item="vcek",outcome="fetched"} 1"#),
        "{m}"
    );
    s.stop().await;

    // After a restart the VCEK comes from the store: KDS may be down.
    kds.status.store(503, Ordering::SeqCst);
    let s = TestServer::start_in(dir, |c| c.snp.kds_url = Some(url)).await;
    let (_, r) = attest_without_certs(&s, &Guest::new(), true).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(kds.asked().len(), 2, "nothing fetched after the restart");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_kds_or_with_it_failing_the_guest_is_refused_clearly() {
    // Fetching is off by default: refused, saying how to turn it on.
    let s = server_with_kds(temp_dir("kds-off"), None).await;
    let (_, r) = attest_without_certs(&s, &Guest::new(), true).await;
    expect_error(r, 401, "EvidenceRejected", "kds_url").await;
    s.stop().await;

    // A report that does not bind the session costs no request to AMD.
    let (url, kds) = fake_kds().await;
    let s = server_with_kds(temp_dir("kds-fail"), Some(&url)).await;
    let (_, r) = attest_without_certs(&s, &Guest::new(), false).await;
    expect_error(r, 401, "BindingFailed", "was not fetched").await;
    assert!(kds.asked().is_empty());

    // KDS failing: 503, then not asked again for a while.
    kds.status.store(500, Ordering::SeqCst);
    let (_, r) = attest_without_certs(&s, &Guest::new(), true).await;
    assert_eq!(r.headers()["retry-after"], "30");
    expect_error(r, 503, "CollateralUnavailable", "HTTP 500").await;
    let (_, r) = attest_without_certs(&s, &Guest::new(), true).await;
    assert_eq!(r.status(), 503);
    assert_eq!(
        kds.asked().len(),
        1,
        "a remembered failure is not retried at once"
    );
    let m = s.metrics().await;
    assert!(
        m.contains(r#"mamori_collateral_fetches_total{item="vcek",outcome="http_error"} 1"#)
            && m.contains(
                r#"mamori_collateral_fetches_total{item="vcek",outcome="remembered_failure"} 1"#
            ),
        "{m}"
    );
    s.stop().await;

    // KDS knowing no such chip: the evidence is refused (401, not 503).
    let (url, kds) = fake_kds().await;
    kds.status.store(404, Ordering::SeqCst);
    let s = server_with_kds(temp_dir("kds-404"), Some(&url)).await;
    let (_, r) = attest_without_certs(&s, &Guest::new(), true).await;
    expect_error(r, 401, "EvidenceRejected", "404").await;
    s.stop().await;

    // Rate limited: 503, and Retry-After is honoured.
    let (url, kds) = fake_kds().await;
    kds.status.store(429, Ordering::SeqCst);
    let s = server_with_kds(temp_dir("kds-429"), Some(&url)).await;
    let (_, r) = attest_without_certs(&s, &Guest::new(), true).await;
    assert_eq!(r.headers()["retry-after"], "120");
    expect_error(r, 503, "CollateralUnavailable", "120 s").await;
    s.stop().await;
}

/// A KDS (or proxy) serving another chip's VCEK at this chip's path: the
/// answer is refused before it is kept or used (503: the KDS is at fault,
/// and may be fixed), and nothing is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_vcek_from_kds_is_refused() {
    let other = Arc::new(SnpSimChain::generate(tee_sim::SimChainOptions::default()).unwrap());
    let (url, kds) = fake_kds().await;
    *kds.vcek_of.lock().unwrap() = Some(other);
    let s = server_with_kds(temp_dir("kds-wrong"), Some(&url)).await;
    let (cookie, r) = attest_without_certs(&s, &Guest::new(), true).await;
    expect_error(
        r,
        503,
        "CollateralUnavailable",
        "the VCEK of the chip and TCB asked for",
    )
    .await;
    let chip = hex::encode(chain_arc().chip_id());
    assert!(
        kds.asked().iter().any(|a| a.contains(&chip)),
        "{:?}",
        kds.asked()
    );
    let r = s.kbs_resource(&cookie, "default/key/1").await;
    assert_eq!(r.status(), 401);
    s.stop().await;
}

/// The housekeeping of `mamori serve` fetches the CRLs at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn housekeeping_fetches_the_crls_at_start() {
    let chain = chain_arc();
    let t0 = mamori_server::now();
    let (url, kds) = fake_kds().await;
    *kds.crl.lock().unwrap() = Some(chain.crl(false, &[77], t0 - 60, t0 + 86_400 * 7).unwrap());
    let s = server_with_kds(temp_dir("kds-housekeeping"), Some(&url)).await;
    let task = mamori_server::spawn_housekeeping(s.svc.clone());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    // Both hierarchies' CRLs (VCEK and VLEK) of every product.
    while ![
        "/vcek/v1/Milan/crl",
        "/vlek/v1/Milan/crl",
        "/vcek/v1/Turin/crl",
    ]
    .iter()
    .all(|path| kds.asked().iter().any(|a| a == path))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no CRL asked for: {:?}",
            kds.asked()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    task.abort();
    s.stop().await;
}

/// AMD's CRLs come from KDS too: installed when signed by the trusted
/// root, applied to every chain (a revoked ASK refuses its chips' reports,
/// whether their VCEK came from the guest or from KDS), kept in the store
/// for a restart while KDS is down; one signed by anyone else is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crls_from_kds_are_verified_applied_and_kept() {
    let chain = chain_arc();
    let t0 = mamori_server::now();
    let week = 7 * 86_400;
    let (url, kds) = fake_kds().await;
    *kds.crl.lock().unwrap() = Some(chain.crl(false, &[77], t0 - 60, t0 + week).unwrap());
    let dir = temp_dir("kds-crl");
    let s = server_with_kds(dir.clone(), Some(&url)).await;
    assert_eq!(
        s.svc.refresh_snp_crls(t0).await,
        1,
        "Milan's (the others 404)"
    );
    let (_, r) = attest_without_certs(&s, &Guest::new(), true).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Not due yet: nothing asked.
    let asked = kds.asked().len();
    s.svc.refresh_snp_crls(t0 + 60).await;
    assert_eq!(kds.asked().len(), asked);

    // A CRL revoking the ASK, but signed by another ARK of the same name:
    // ignored when due.
    let impostor = SnpSimChain::generate(tee_sim::SimChainOptions::default()).unwrap();
    *kds.crl.lock().unwrap() = Some(
        impostor
            .crl(false, &[tee_sim::snp::ASK_SERIAL], t0, t0 + week)
            .unwrap(),
    );
    let later = t0 + 7 * 3600;
    s.svc.refresh_snp_crls(later).await;
    let (_, r) = attest_without_certs(&s, &Guest::new(), true).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // The real ARK revokes the ASK: every report under it is refused, with
    // certificates sent by the guest or fetched.
    *kds.crl.lock().unwrap() = Some(
        chain
            .crl(false, &[tee_sim::snp::ASK_SERIAL], t0, t0 + week)
            .unwrap(),
    );
    s.svc.refresh_snp_crls(later + 7 * 3600).await;
    let (_, r) = attest_without_certs(&s, &Guest::new(), true).await;
    expect_error(r, 401, "EvidenceRejected", "revoked").await;
    let (cookie, nonce) = s.kbs_auth("snp").await;
    let r = s
        .kbs_post_attest(&cookie, &Guest::new().kbs_attest_body(&nonce))
        .await;
    assert_eq!(r.status(), 401);
    // An impostor's newer CRL that revokes nothing is neither applied nor
    // kept in place of the real one.
    *kds.crl.lock().unwrap() = Some(impostor.crl(false, &[77], t0 + 1, t0 + week).unwrap());
    s.svc.refresh_snp_crls(later + 14 * 3600).await;
    let (_, r) = attest_without_certs(&s, &Guest::new(), true).await;
    assert_eq!(r.status(), 401);
    s.stop().await;

    // Restarted while KDS is down: the revocation still holds.
    kds.status.store(503, Ordering::SeqCst);
    let s = TestServer::start_in(dir, |c| c.snp.kds_url = Some(url)).await;
    assert_eq!(s.svc.refresh_snp_crls(mamori_server::now()).await, 1);
    let (_, r) = attest_without_certs(&s, &Guest::new(), true).await;
    assert_eq!(r.status(), 401);
    s.stop().await;
}

/// The KBS attest body of a v2 report from the simulated chip, sent
/// without certificates.
fn v2_body(g: &Guest, nonce: &str) -> Value {
    let v2 = mamori_agent::SimulatedSnp {
        chain: chain_arc(),
        options: tee_sim::ReportOptions {
            version: 2,
            measurement: common::MEASUREMENT,
            ..tee_sim::ReportOptions::default()
        },
    };
    let mut evidence =
        mamori_agent::EvidenceSource::evidence(&v2, &g.report_data(nonce, true), true).unwrap();
    evidence["cert_chain"] = Value::Null;
    let mut body = g.kbs_attest_body(nonce);
    body["tee-evidence"]["primary_evidence"] = evidence;
    body
}

/// A v2 report names no product, so Milan and Genoa are both asked for: a
/// Milan outage is reported as one (503), not hidden behind Genoa's 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_report_reports_an_outage_not_the_other_products_404() {
    let (url, kds) = fake_kds().await;
    kds.vcek_status.store(500, Ordering::SeqCst);
    let s = server_with_kds(temp_dir("kds-v2"), Some(&url)).await;
    let g = Guest::new();
    let (cookie, nonce) = s.kbs_auth("snp").await;
    let r = s.kbs_post_attest(&cookie, &v2_body(&g, &nonce)).await;
    expect_error(r, 503, "CollateralUnavailable", "").await;
    let asked = kds.asked();
    assert!(
        asked.iter().any(|a| a.starts_with("/vcek/v1/Milan/")),
        "{asked:?}"
    );
    assert!(
        asked.iter().any(|a| a.starts_with("/vcek/v1/Genoa/")),
        "{asked:?}"
    );
    s.stop().await;
    // Milan's back: the v2 report verifies (on a node that remembers no
    // failure).
    kds.vcek_status.store(200, Ordering::SeqCst);
    let s = server_with_kds(temp_dir("kds-v2b"), Some(&url)).await;
    let (cookie, nonce) = s.kbs_auth("snp").await;
    let r = s.kbs_post_attest(&cookie, &v2_body(&g, &nonce)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    s.stop().await;
}
