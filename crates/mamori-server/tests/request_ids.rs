//! Request ids: every answer carries `X-Request-Id` (the client's when it is
//! a plain one, else a new one), native error bodies repeat it, and the
//! audit entries a request makes record it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Guest, TestServer};
use serde_json::{json, Value};

fn header(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-request-id")
        .expect("x-request-id on every answer")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn answers_carry_the_clients_plain_id_or_a_new_one() {
    let s = TestServer::start("request-ids-header").await;
    let get = |id: Option<&'static str>| {
        let mut r = s.client.get(format!("{}/healthz", s.url));
        if let Some(id) = id {
            r = r.header("x-request-id", id);
        }
        r.send()
    };
    let a = header(&get(None).await.unwrap());
    let b = header(&get(None).await.unwrap());
    assert_ne!(a, b, "each request gets its own id");
    let uuid = "0f9c6a5e-1b2c-4d3e-8f90-a1b2c3d4e5f6";
    assert_eq!(header(&get(Some(uuid)).await.unwrap()), uuid);
    // Not repeated: spaces, quotes, over 64 characters.
    for bad in ["two words", "a\"b", &*"x".repeat(65).leak()] {
        let id = header(&get(Some(bad)).await.unwrap());
        assert_ne!(id, bad);
        assert!(!id.is_empty() && id.len() <= 64, "{id}");
    }
    // Paths no route matches, too.
    let r = s
        .client
        .get(format!("{}/no/such/path", s.url))
        .header("x-request-id", "lost-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(header(&r), "lost-1");
    s.stop().await;
}

#[tokio::test]
async fn native_errors_name_the_request_and_kbs_errors_keep_their_two_members() {
    let s = TestServer::start("request-ids-errors").await;
    let r = s
        .client
        .post(format!("{}/v1/challenge", s.url))
        .header("x-request-id", "trace-native-1")
        .json(&json!({"tee": "no-such-tee"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(header(&r), "trace-native-1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["request_id"], "trace-native-1", "{body}");
    assert_eq!(body["error"], "UnknownTee", "{body}");

    let r = s
        .client
        .post(format!("{}/kbs/v0/auth", s.url))
        .header("x-request-id", "trace-kbs-1")
        .json(&json!({"version": "0.4.0", "tee": "no-such-tee", "extra-params": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r), "trace-kbs-1");
    let body: Value = r.json().await.unwrap();
    let members: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(members, ["detail", "type"], "{body}");
    s.stop().await;
}

#[tokio::test]
async fn audit_entries_record_the_request_that_made_them() {
    let s = TestServer::start("request-ids-audit").await;
    // An admin change.
    let r = s
        .client
        .put(format!("{}/v1/admin/resource/default/key/one", s.url))
        .bearer_auth(s.admin_token())
        .header("x-request-id", "change-42")
        .body(b"secret".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // An attestation, its release, and a refused attestation, over the KBS
    // protocol.
    let g = Guest::new();
    s.provision("default/key/one", b"secret").await;
    let auth = |id: &'static str| {
        s.client
            .post(format!("{}/kbs/v0/auth", s.url))
            .header("x-request-id", id)
            .json(&json!({"version": "0.4.0", "tee": "snp", "extra-params": ""}))
            .send()
    };
    let r = auth("auth-1").await.unwrap();
    let cookie = common::session_cookie(&r).unwrap();
    let nonce = r.json::<Value>().await.unwrap()["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .client
        .post(format!("{}/kbs/v0/attest", s.url))
        .header("cookie", format!("kbs-session-id={cookie}"))
        .header("x-request-id", "attest-1")
        .json(&g.kbs_attest_body(&nonce))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .get(format!("{}/kbs/v0/resource/default/key/one", s.url))
        .header("cookie", format!("kbs-session-id={cookie}"))
        .header("x-request-id", "release-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = auth("auth-2").await.unwrap();
    let cookie = common::session_cookie(&r).unwrap();
    let r = s
        .client
        .post(format!("{}/kbs/v0/attest", s.url))
        .header("cookie", format!("kbs-session-id={cookie}"))
        .header("x-request-id", "attest-2")
        .json(&g.kbs_attest_body("not the session nonce"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let entries = s.svc.store().list_audit(0, 1_000).await.unwrap();
    let request_of = |action: &str, outcome: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e.action == action && e.outcome == outcome)
            .map(|e| {
                let d: Value = serde_json::from_str(&e.detail).unwrap();
                d["request_id"].as_str().unwrap_or("").to_owned()
            })
            .collect()
    };
    assert_eq!(request_of("resource.set", "ok")[0], "change-42");
    assert_eq!(request_of("attestation", "ok"), ["attest-1"]);
    assert_eq!(request_of("release", "ok"), ["release-1"]);
    assert_eq!(request_of("attestation", "rejected"), ["attest-2"]);
    // The chain still verifies with the ids in it.
    let check = s.svc.store().verify_audit().await.unwrap();
    assert!(check.first_broken.is_none(), "{check:?}");
    s.stop().await;
}

#[tokio::test]
async fn the_agent_names_the_request_the_server_refused() {
    let s = TestServer::start("request-ids-agent").await;
    let kbs = mamori_agent::KbsClient::new(&s.url, s.client.clone());
    let key = mamori_agent::TeeKey::generate().unwrap();
    let (cookie, _) = kbs.attest(&mamori_agent::SampleTee, &key).await.unwrap();
    // The sample TEE is never affirming: the default policy denies.
    let e = kbs
        .resource(&cookie, &key, "default/key/none")
        .await
        .unwrap_err();
    let mamori_agent::AgentError::Refused { request_id, .. } = &e else {
        panic!("{e}");
    };
    let id = request_id.as_deref().expect("the answer's X-Request-Id");
    assert!(
        e.to_string().ends_with(&format!("(request id {id})")),
        "{e}"
    );
    s.stop().await;
}
