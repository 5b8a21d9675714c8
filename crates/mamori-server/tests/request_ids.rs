//! Request ids: every answer carries an `X-Request-Id` of the server's,
//! native error bodies repeat it, and the audit entries a request makes
//! record it, with the client's own id, when plain, beside it.
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
async fn every_answer_carries_an_id_of_the_servers() {
    let s = TestServer::start("request-ids-header").await;
    let get = |path: &'static str, id: Option<&str>| {
        let mut r = s.client.get(format!("{}{path}", s.url));
        if let Some(id) = id {
            r = r.header("x-request-id", id);
        }
        r.send()
    };
    let a = header(&get("/healthz", None).await.unwrap());
    let b = header(&get("/healthz", None).await.unwrap());
    assert_ne!(a, b, "each request gets its own id");
    // A client's id, plain or not, is never answered as the request's id:
    // anyone can send any id.
    for sent in [
        "0f9c6a5e-1b2c-4d3e-8f90-a1b2c3d4e5f6",
        "two words",
        a.as_str(),
    ] {
        let id = header(&get("/healthz", Some(sent)).await.unwrap());
        assert_ne!(id, sent);
        assert_ne!(id, a);
    }
    // Paths no route matches, too.
    let r = get("/no/such/path", Some("lost-1")).await.unwrap();
    assert_eq!(r.status(), 404);
    assert_ne!(header(&r), "lost-1");
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
    let id = header(&r);
    assert_ne!(id, "trace-native-1", "a client's id is not the request's");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["request_id"], id.as_str(), "{body}");
    assert_eq!(body["error"], "UnknownTee", "{body}");

    let r = s
        .client
        .post(format!("{}/kbs/v0/auth", s.url))
        .header("x-request-id", "trace-kbs-1")
        .json(&json!({"version": "0.4.0", "tee": "no-such-tee", "extra-params": ""}))
        .send()
        .await
        .unwrap();
    assert_ne!(header(&r), "trace-kbs-1");
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
    let change_id = header(&r);
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
    let attest_id = header(&r);
    let r = s
        .client
        .get(format!("{}/kbs/v0/resource/default/key/one", s.url))
        .header("cookie", format!("kbs-session-id={cookie}"))
        .header("x-request-id", "release-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let release_id = header(&r);
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
    let rejected_id = header(&r);

    let entries = s.svc.store().list_audit(0, 1_000).await.unwrap();
    let ids_of = |action: &str, outcome: &str| -> Vec<(String, String)> {
        entries
            .iter()
            .filter(|e| e.action == action && e.outcome == outcome)
            .map(|e| {
                let d: Value = serde_json::from_str(&e.detail).unwrap();
                let id = |k: &str| d[k].as_str().unwrap_or("").to_owned();
                (id("request_id"), id("client_request_id"))
            })
            .collect()
    };
    let change = &ids_of("resource.set", "ok")[0];
    assert_eq!(change, &(change_id, "change-42".to_owned()));
    assert_eq!(
        ids_of("attestation", "ok"),
        [(attest_id, "attest-1".to_owned())]
    );
    assert_eq!(
        ids_of("release", "ok"),
        [(release_id, "release-1".to_owned())]
    );
    assert_eq!(
        ids_of("attestation", "rejected"),
        [(rejected_id, "attest-2".to_owned())]
    );
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
