//! Per-client request budgets (`[limits] client_requests_per_second`): a
//! client over its budget gets 429 with Retry-After in its API's error
//! form, others go on being served, health probes are never counted, and
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

/// Requests from `client` until the first 429: the burst is served, and a
/// refusal comes within a few more requests (a token may come back while
/// a loaded machine is slow, so not at a fixed count).
async fn spend_budget(s: &TestServer, client: &str, burst: usize) -> reqwest::Response {
    for sent in 0..burst + 8 {
        let r = challenge_from(s, client).await;
        if r.status() == 429 {
            assert!(sent >= burst, "refused after {sent} of a burst of {burst}");
            return r;
        }
        assert_eq!(r.status(), 200);
    }
    panic!("no 429 for {client}");
}

#[tokio::test]
async fn a_client_over_its_budget_waits_and_the_others_do_not() {
    let s = TestServer::start_in(temp_dir("client-limits"), |c| {
        c.limits.client_requests_per_second = 1;
        c.limits.client_burst = 3;
        c.limits.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    // A proxy on loopback forwards for several clients.
    let r = spend_budget(&s, "203.0.113.1", 3).await;
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "TooManyRequests", "{body}");
    assert_eq!(body["request_id"], id.as_str(), "{body}");
    // The KBS API answers in its own error form, from the same budget
    // (the client named left of it is the client's own say-so).
    let kbs_auth = || {
        s.client
            .post(format!("{}/kbs/v0/auth", s.url))
            .header("x-forwarded-for", "198.51.100.7, 203.0.113.1")
            .json(&json!({"version": "0.4.0", "tee": "sample", "extra-params": ""}))
            .send()
    };
    let mut r = kbs_auth().await.unwrap();
    for _ in 0..5 {
        if r.status() == 429 {
            break;
        }
        r = kbs_auth().await.unwrap();
    }
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["type"],
        "https://github.com/confidential-containers/kbs/errors/TooManyRequests"
    );
    // Another client is served; health and readiness probes are not
    // counted.
    assert_eq!(challenge_from(&s, "203.0.113.2").await.status(), 200);
    for path in ["/healthz", "/readyz"] {
        for _ in 0..10 {
            let r = s
                .client
                .get(format!("{}{path}", s.url))
                .header("x-forwarded-for", "203.0.113.1")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
        }
    }
    // The refusals are counted by route and status.
    let metrics = s.metrics().await;
    assert!(
        metrics.contains(r#"route="/v1/challenge",status="429"}"#),
        "{metrics}"
    );
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
            .parse()
            .unwrap()
    };
    assert!(
        value("mamori_client_budget_refusals_total") >= 2.0,
        "{metrics}"
    );
    assert!(value("mamori_client_budgets_tracked") >= 3.0, "{metrics}");
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
    // Loopback is no trusted proxy here: whatever the header says, every
    // request is loopback's, so loopback's budget runs out.
    for n in 0..10 {
        let r = challenge_from(&s, &format!("203.0.113.{n}")).await;
        if r.status() == 429 {
            s.stop().await;
            return;
        }
        assert_eq!(r.status(), 200);
    }
    panic!("the made-up clients were each given a budget");
}
