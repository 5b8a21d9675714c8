//! Two nodes sharing one PostgreSQL store, over real HTTP: a Confidential
//! Containers guest may reach a different node on each request behind a
//! load balancer, and the KBS protocol must work unchanged.
//!
//! Runs against the server named by `MAMORI_TEST_POSTGRES` (libpq string),
//! by default the local one; without one the tests say so and pass, unless
//! `MAMORI_TEST_POSTGRES_REQUIRED=1` (CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{temp_dir, Guest, TestServer};
use mamori_service::{Service, StartError};
use serde_json::Value;
use std::path::Path;

const SECRET: &[u8] = b"cluster-disk-key-0123456789abcdef";

/// The key-encryption key both nodes are given (an operator distributes it).
fn shared_kek(dir: &Path) -> std::path::PathBuf {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("shared.kek");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    f.write_all(&[0x42; 32]).unwrap();
    path
}

async fn node(dir: &Path, name: &str, url: &str, kek: &Path) -> TestServer {
    let own = dir.join(name);
    std::fs::create_dir_all(&own).unwrap();
    for f in ["admin.key", "admin.pub", "ark.pem"] {
        if dir.join(f).exists() {
            std::fs::copy(dir.join(f), own.join(f)).unwrap();
        }
    }
    let (url, kek) = (url.to_owned(), kek.to_owned());
    let s = TestServer::start_in(own.clone(), move |cfg| {
        cfg.store.postgres_url = url;
        cfg.kek.file = kek;
    })
    .await;
    // The second node uses the first one's admin key and development root.
    for f in ["admin.key", "admin.pub", "ark.pem"] {
        if !dir.join(f).exists() {
            std::fs::copy(own.join(f), dir.join(f)).unwrap();
        }
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_attests_and_fetches_its_key_across_two_nodes() {
    let Some(db) = mamori_store::testing::postgres_schema("cluster_kbs").await else {
        return;
    };
    let url = db.url();
    let dir = temp_dir("cluster");
    let kek = shared_kek(&dir);
    let a = node(&dir, "a", &url, &kek).await;
    let b = node(&dir, "b", &url, &kek).await;
    // Both nodes run on the one signing key made by the first.
    let jwks = |s: &TestServer| {
        let (client, url) = (s.client.clone(), s.url.clone());
        async move {
            client
                .get(format!("{url}/.well-known/jwks.json"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(jwks(&a).await, jwks(&b).await);

    // The operator provisions through node A; B picks the change up on its
    // periodic reload.
    a.provision("default/disk-key/vm1", SECRET).await;
    b.svc.reload(mamori_server::now()).await.unwrap();

    // auth on A, attest on B, the resource from A with the cookie.
    let g = Guest::new();
    let (cookie, nonce) = a.kbs_auth("snp").await;
    let body = g.kbs_attest_body(&nonce);
    let r = b.kbs_post_attest(&cookie, &body).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = a.kbs_resource(&cookie, "default/disk-key/vm1").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(g.decrypt(&r.text().await.unwrap()), SECRET);
    // The token B issued is honoured by A as a bearer token.
    let r = a
        .kbs_resource_with_token(&token, "default/disk-key/vm1")
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(g.decrypt(&r.text().await.unwrap()), SECRET);

    // The nonce B spent cannot be spent again on A.
    let r = a.kbs_post_attest(&cookie, &body).await;
    assert_eq!(r.status(), 401, "{}", r.text().await.unwrap());

    // A rotates its signing key; B has not reloaded, yet honours a token
    // signed with the new key at once (an unknown kid re-reads the keys).
    let r = a
        .client
        .post(format!("{}/v1/admin/signing-key/rotate", a.url))
        .bearer_auth(a.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (cookie2, nonce2) = a.kbs_auth("snp").await;
    let r = a
        .kbs_post_attest(&cookie2, &g.kbs_attest_body(&nonce2))
        .await;
    assert_eq!(r.status(), 200);
    let rotated = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(jwks(&a).await, jwks(&b).await, "B has not reloaded yet");
    let r = b
        .kbs_resource_with_token(&rotated, "default/disk-key/vm1")
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(jwks(&a).await, jwks(&b).await);

    // One audit chain, written by both nodes, verifies from either.
    for s in [&a, &b] {
        let r = s
            .client
            .get(format!("{}/v1/admin/audit/verify", s.url))
            .bearer_auth(s.admin_token())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let check: Value = r.json().await.unwrap();
        assert_eq!(check["first_broken"], Value::Null, "{check}");
        assert!(check["entries"].as_u64().unwrap() >= 4, "{check}");
    }
    // A resource deleted through A is no longer released by B as soon as
    // A's announcement reaches B's housekeeping, well before its 5 s timer.
    let housekeeping = mamori_server::spawn_housekeeping(b.svc.clone());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Released once after the timer's first reload: B now has its copy.
    let r = b
        .kbs_resource_with_token(&rotated, "default/disk-key/vm1")
        .await;
    assert_eq!(r.status(), 200);
    let r = a
        .client
        .delete(format!("{}/v1/admin/resource/default/disk-key/vm1", a.url))
        .bearer_auth(a.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let deleted = std::time::Instant::now();
    loop {
        let r = b
            .kbs_resource_with_token(&rotated, "default/disk-key/vm1")
            .await;
        if r.status() == 404 {
            break;
        }
        assert_eq!(r.status(), 200);
        assert!(
            deleted.elapsed() < std::time::Duration::from_secs(3),
            "B still releases a resource deleted through A"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    housekeeping.abort();

    // The nodes' pools on /metrics.
    let metrics = a.metrics().await;
    for gauge in [
        "mamori_store_pool_max 16",
        "mamori_store_pool_open ",
        "mamori_store_pool_waiting ",
    ] {
        assert!(metrics.contains(gauge), "{gauge} missing");
    }
    a.stop().await;
    b.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_shared_store_needs_the_key_from_the_operator() {
    let Some(db) = mamori_store::testing::postgres_schema("cluster_nokek").await else {
        return;
    };
    let url = db.url();
    let dir = temp_dir("cluster-nokek");
    let mut cfg = mamori_service::Config {
        data_dir: dir.join("data"),
        ..Default::default()
    };
    cfg.store.postgres_url = url;
    let err = match Service::start(cfg, mamori_server::now()).await {
        Ok(_) => panic!("started without a key-encryption key"),
        Err(e) => e,
    };
    assert!(matches!(err, StartError::KekNotShared { .. }), "{err}");
    assert!(err.to_string().contains("every node"), "{err}");
    // Nothing was created in its place.
    assert!(!dir.join("data").join("kek").exists());
    db.drop().await;
}
