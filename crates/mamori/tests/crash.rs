//! Killing the server (SIGKILL) in the middle of admin writes loses no
//! write that was acknowledged, and the audit chain stays intact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mamori_agent::{KbsClient, SampleTee, TeeKey};
use serde_json::Value;
use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

/// The server on `dir`, ready, and its URL (a port of its own each start).
fn start(dir: &Path) -> (Child, String) {
    let (child, port) = common::spawn_ready(dir, |command| {
        command
            .arg("--insecure-allow-sample-tee")
            .arg("--admin-public-key")
            .arg(dir.join("admin.pub"))
            .env("MAMORI_LOG", "warn");
    });
    (child, format!("http://127.0.0.1:{port}"))
}

fn token(key: &str) -> String {
    mamori_service::admin::sign_token(key.as_bytes(), mamori_server::now(), 300).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_admin_writes_loses_nothing_acknowledged() {
    let dir = std::env::temp_dir().join(format!("mamori-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (private, public) = mamori_service::admin::generate_key_pair().unwrap();
    std::fs::write(dir.join("admin.pub"), public).unwrap();
    let (mut server, url) = start(&dir);
    let http = mamori_agent::http_client(None).unwrap();
    // A permissive policy for the `sample` TEE, to read secrets back later.
    let r = http
        .put(format!("{url}/v1/admin/resource-policy"))
        .bearer_auth(token(&private))
        .body(serde_json::json!({"prefix": "crash", "policy": "package mamori.resource\nimport rego.v1\ndefault allow := false\nallow if count(input.token.submods) > 0\n"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let acked = Arc::new(Mutex::new(Vec::<u32>::new()));
    let mut writers = Vec::new();
    for w in 0..4u32 {
        let (url, http, acked, private) =
            (url.clone(), http.clone(), acked.clone(), private.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..10_000u32 {
                let n = w * 100_000 + i;
                let r = http
                    .put(format!("{url}/v1/admin/resource/crash/key/{n}"))
                    .bearer_auth(token(&private))
                    .body(format!("secret-{n}"))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().push(n),
                    _ => return,
                }
            }
        }));
    }
    // Let writes flow, then kill -9 mid-stream.
    while acked.lock().unwrap().len() < 120 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 120);

    let (mut server, url) = start(&dir);
    let list: Value = http
        .get(format!("{url}/v1/admin/resources"))
        .bearer_auth(token(&private))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let present: std::collections::HashSet<String> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    for n in &acked {
        assert!(
            present.contains(&format!("crash/key/{n}")),
            "acknowledged write {n} was lost"
        );
    }
    // The chain is intact and secrets open: read two back through the KBS flow.
    let check: Value = http
        .get(format!("{url}/v1/admin/audit/verify"))
        .bearer_auth(token(&private))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(check["first_broken"].is_null(), "{check}");
    assert!(check["entries"].as_u64().unwrap() as usize >= acked.len());
    let key = TeeKey::generate().unwrap();
    let kbs = KbsClient::new(&url, http.clone());
    for n in [acked[0], acked[acked.len() - 1]] {
        let (cookie, _) = kbs.attest(&SampleTee, &key).await.unwrap();
        let secret = kbs
            .resource(&cookie, &key, &format!("crash/key/{n}"))
            .await
            .unwrap();
        assert_eq!(secret, format!("secret-{n}").into_bytes());
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
