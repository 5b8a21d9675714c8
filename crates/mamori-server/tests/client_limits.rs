//! Per-client request budgets (`[limits] client_requests_per_second`): a
//! client over its budget gets 429 with Retry-After in its API's error
//! form, others go on being served, probes are never counted, and
//! `X-Forwarded-For` is believed only from a trusted proxy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{temp_dir, TestServer};
use serde_json::{json, Value};

async fn challenge_from(s: &TestServer, client: &str) -> reqwest::Response {
    s.client
        .post(format!("{}/v1/challenge", s.url))
        .header("x-forwarded-for", client)
        .json(&json!({"tee": "sample"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_over_its_budget_waits_and_the_others_do_not() {
    let s = TestServer::start_in(temp_dir("client-limits"), |c| {
        c.limits.client_requests_per_second = 1;
        c.limits.client_burst = 2;
        c.limits.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    // A proxy on loopback forwards for two clients.
    for _ in 0..2 {
        assert_eq!(challenge_from(&s, "203.0.113.1").await.status(), 200);
    }
    let r = challenge_from(&s, "203.0.113.1").await;
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert!(r.headers().contains_key("x-request-id"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "TooManyRequests", "{body}");
    // The KBS API answers in its own error form, from the same budget.
    let r = s
        .client
        .post(format!("{}/kbs/v0/auth", s.url))
        .header("x-forwarded-for", "198.51.100.7, 203.0.113.1")
        .json(&json!({"version": "0.4.0", "tee": "sample", "extra-params": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["type"],
        "https://github.com/confidential-containers/kbs/errors/TooManyRequests"
    );
    // Another client is served; probes are not counted.
    assert_eq!(challenge_from(&s, "203.0.113.2").await.status(), 200);
    for path in ["/healthz", "/readyz", "/metrics"] {
        let r = s
            .client
            .get(format!("{}{path}", s.url))
            .header("x-forwarded-for", "203.0.113.1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    // The refusals are counted by route and status.
    assert!(
        s.metrics()
            .await
            .contains(r#"route="/v1/challenge",status="429"} 1"#),
        "{}",
        s.metrics().await
    );
    // After the wait, the client is served again.
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    assert_eq!(challenge_from(&s, "203.0.113.1").await.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_not_believed() {
    let s = TestServer::start_in(temp_dir("client-limits-untrusted"), |c| {
        c.limits.client_requests_per_second = 1;
        c.limits.client_burst = 1;
    })
    .await;
    // Loopback is no trusted proxy here: both requests are loopback's.
    assert_eq!(challenge_from(&s, "203.0.113.1").await.status(), 200);
    assert_eq!(challenge_from(&s, "203.0.113.2").await.status(), 429);
    s.stop().await;
}
