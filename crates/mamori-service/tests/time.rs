//! What depends on time, with time injected: token expiry, nonce expiry,
//! reference-value expiry and key rotation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mamori_agent::{report_data, EvidenceSource, SimulatedSnp, TeeKey};
use mamori_service::{AttestRequest, Config, Credential, Service, ServiceError};
use serde_json::json;
use std::sync::Arc;
use tee_sim::{ReportOptions, SimChainOptions, SnpSimChain};

const T0: i64 = 1_800_000_000;
const MEASUREMENT: [u8; 48] = [0x77; 48];

async fn service(name: &str) -> (Arc<Service>, Arc<SnpSimChain>) {
    service_with(name, |_| {}).await
}

async fn service_with(
    name: &str,
    tweak: impl FnOnce(&mut Config),
) -> (Arc<Service>, Arc<SnpSimChain>) {
    let dir = std::env::temp_dir().join(format!("mamori-svc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let chain = Arc::new(SnpSimChain::generate(SimChainOptions::default()).unwrap());
    std::fs::write(dir.join("ark.pem"), chain.ark_pem()).unwrap();
    let mut cfg = Config {
        data_dir: dir.join("data"),
        ..Config::default()
    };
    cfg.snp.trust_anchors = vec![dir.join("ark.pem")];
    cfg.token.lifetime_secs = 60;
    cfg.session.nonce_ttl_secs = 30;
    tweak(&mut cfg);
    let svc = Service::start(cfg, T0).await.unwrap();
    svc.set_resource("admin:test", "default/key/1", b"s3cret", T0)
        .await
        .unwrap();
    (svc, chain)
}

fn source(chain: &Arc<SnpSimChain>) -> SimulatedSnp {
    SimulatedSnp {
        chain: chain.clone(),
        options: ReportOptions {
            measurement: MEASUREMENT,
            ..ReportOptions::default()
        },
    }
}

async fn attest(
    svc: &Service,
    src: &SimulatedSnp,
    key: &TeeKey,
    at: i64,
    challenge_at: i64,
) -> Result<String, ServiceError> {
    let c = svc.challenge("snp", challenge_at).await.unwrap();
    let jwk = key.jwk();
    let rd = report_data(&c.nonce, &jwk, None).unwrap();
    let req = AttestRequest {
        session_id: c.session_id,
        nonce: c.nonce,
        tee_pubkey: jwk,
        additional_evidence: None,
        evidence: src.evidence(&rd, false).unwrap(),
        init_data: None,
    };
    svc.attest(req, at).await.map(|a| a.token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_nonces_and_reference_values_expire() {
    let (svc, chain) = service("expiry").await;
    let src = source(&chain);
    let key = TeeKey::generate().unwrap();
    svc.set_reference_value(
        "admin:test",
        "snp_launch_measurement",
        vec![json!(hex::encode(MEASUREMENT))],
        Some(T0 + 100),
        T0,
    )
    .await
    .unwrap();
    let token = attest(&svc, &src, &key, T0 + 1, T0).await.unwrap();
    let jwe = svc
        .release(Credential::Token(&token), "default/key/1", T0 + 2)
        .await
        .unwrap();
    assert_eq!(key.decrypt(&jwe).unwrap(), b"s3cret");
    // The token expires (60 s lifetime; the verifier allows 30 s of skew).
    let e = svc
        .release(Credential::Token(&token), "default/key/1", T0 + 1 + 60 + 31)
        .await
        .unwrap_err();
    assert!(
        matches!(e, ServiceError::Token(ref m) if m.contains("expired")),
        "{e}"
    );
    // A nonce used after its 30 s lifetime is refused.
    let e = attest(&svc, &src, &key, T0 + 40, T0).await.unwrap_err();
    assert!(
        matches!(e, ServiceError::Session(m) if m.contains("expired")),
        "{e}"
    );
    // After the reference value expires the measurement is unknown again,
    // so the appraisal is no longer affirming and nothing is released.
    let token = attest(&svc, &src, &key, T0 + 101, T0 + 100).await.unwrap();
    let e = svc
        .release(Credential::Token(&token), "default/key/1", T0 + 102)
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::Denied { .. }), "{e}");
    // The audit chain recorded it all and holds.
    let check = svc.audit_verify().await.unwrap();
    assert!(check.first_broken.is_none());
    assert!(check.entries >= 7, "{check:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_keys_verify_until_their_tokens_expire() {
    let (svc, chain) = service("rotation").await;
    let src = source(&chain);
    let key = TeeKey::generate().unwrap();
    svc.set_reference_value(
        "admin:test",
        "snp_launch_measurement",
        vec![json!(hex::encode(MEASUREMENT))],
        None,
        T0,
    )
    .await
    .unwrap();
    let old = attest(&svc, &src, &key, T0, T0).await.unwrap();
    svc.rotate_signing_key("admin:test", T0 + 10).await.unwrap();
    assert_eq!(svc.jwks()["keys"].as_array().unwrap().len(), 2);
    let new = attest(&svc, &src, &key, T0 + 11, T0 + 11).await.unwrap();
    assert_ne!(
        old.split('.').next(),
        new.split('.').next(),
        "a new kid signs"
    );
    svc.release(Credential::Token(&old), "default/key/1", T0 + 12)
        .await
        .unwrap();
    // Long after the old tokens expired, the retired key leaves the JWKS.
    svc.reload(T0 + 10 + 60 + 61).await.unwrap();
    assert_eq!(svc.jwks()["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn audit_retention_removes_old_entries_and_the_rest_still_verify() {
    let dir = std::env::temp_dir().join(format!("mamori-svc-retention-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = Config {
        data_dir: dir.join("data"),
        ..Config::default()
    };
    const DAY: i64 = 86_400;
    // Off by default: nothing is removed, however old.
    let svc = Service::start(cfg.clone(), T0).await.unwrap();
    svc.set_resource("admin:test", "default/key/0", b"a", T0)
        .await
        .unwrap();
    assert_eq!(svc.prune_audit(T0 + 100 * DAY).await.unwrap(), 0);
    drop(svc);

    cfg.audit.retain_days = 2;
    let svc = Service::start(cfg, T0).await.unwrap();
    for i in 1..=3 {
        svc.set_resource("admin:test", &format!("default/key/{i}"), b"b", T0 + i)
            .await
            .unwrap();
    }
    svc.set_resource("admin:test", "default/key/new", b"c", T0 + 3 * DAY)
        .await
        .unwrap();
    let before = svc.audit_list(0, 1000).await.unwrap();
    let old = before.iter().filter(|e| e.at < T0 + DAY).count() as u64;
    assert!(old >= 4, "{before:?}");
    // Three days on, with two days' retention: the entries of day 0 go.
    let now = T0 + 3 * DAY + 10;
    assert_eq!(svc.prune_audit(now).await.unwrap(), old);
    assert_eq!(
        svc.prune_audit(now).await.unwrap(),
        0,
        "nothing left to remove"
    );
    let check = svc.audit_verify().await.unwrap();
    assert_eq!(check.first_broken, None, "{check:?}");
    assert!(check.starts_after.is_some());
    let after = svc.audit_list(0, 1000).await.unwrap();
    assert!(after.iter().all(|e| e.at >= T0 + DAY));
    let record = after
        .iter()
        .find(|e| e.action == "audit.prune")
        .expect("the removal is recorded");
    let detail: serde_json::Value = serde_json::from_str(&record.detail).unwrap();
    assert_eq!(detail["removed"], json!(old));
    assert_eq!(detail["retain_days"], 2);
}

/// Sessions that expire unattested stop counting against `[session]
/// max_open` once they are counted again (at most once a second when a
/// challenge finds the limit reached).
#[tokio::test]
async fn expired_sessions_make_room_under_the_open_session_limit() {
    let (svc, _) = service_with("max-open", |c| c.session.max_open = 2).await;
    svc.challenge("snp", T0).await.unwrap();
    svc.challenge("snp", T0 + 20).await.unwrap();
    let busy = svc.challenge("snp", T0 + 25).await.unwrap_err();
    assert!(matches!(busy, ServiceError::Busy(_)), "{busy}");
    // At T0 + 31 the first session's nonce (30 s) has expired.
    svc.challenge("snp", T0 + 31).await.unwrap();
    assert!(matches!(
        svc.challenge("snp", T0 + 31).await,
        Err(ServiceError::Busy(_))
    ));
    assert_eq!(svc.count_open_sessions(T0 + 31).await.unwrap(), 2);
    svc.store().close().await;
}
