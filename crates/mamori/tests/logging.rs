//! Logging never holds up requests: a server whose stderr nobody reads (a
//! log pipe under back-pressure) goes on answering, losing log lines
//! instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_reader_that_stops_reading_does_not_stall_requests() {
    // stderr is a pipe this test never reads: once its buffer (64 KiB on
    // Linux) is full, a write to it blocks.
    let server = common::Server::start("logging", Stdio::piped, Some("info"));
    let url = server.url();
    let client = mamori_agent::http_client(None).unwrap();
    // Each refused request logs a line of about 200 bytes: 10,000 of them
    // are thirty times what the pipe holds, and more than the server's log
    // queue (8,192 lines), so lines must be dropped for requests to go on.
    let flood = async {
        for _ in 0..10_000 {
            let r = client
                .post(format!("{url}/v1/challenge"))
                .json(&serde_json::json!({"tee": "no-such-tee"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400);
        }
    };
    let answered = tokio::time::timeout(Duration::from_secs(120), flood).await;
    // The loss is visible to the operator.
    let metrics = match answered {
        Ok(()) => client
            .get(format!("{url}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        Err(_) => String::new(),
    };
    drop(server);
    assert!(answered.is_ok(), "requests stalled behind the unread log");
    let dropped: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("mamori_log_lines_dropped_total "))
        .expect("the dropped-lines counter is served")
        .parse()
        .unwrap();
    assert!(dropped > 0, "{dropped} lines counted as dropped");
    // The binary's process series are served beside the service's.
    let open_fds: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("process_open_fds "))
        .expect("process_open_fds is served")
        .parse()
        .unwrap();
    assert!(open_fds >= 3.0, "{open_fds}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_logged_while_serving_a_request_carry_its_id() {
    let mut server = common::Server::start("logging-ids", Stdio::piped, Some("info"));
    let client = mamori_agent::http_client(None).unwrap();
    let r = client
        .post(format!("{}/v1/challenge", server.url()))
        .header("x-request-id", "trace-in-log-7")
        .json(&serde_json::json!({"tee": "no-such-tee"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    server.signal("-TERM");
    assert!(server.exit_within(Duration::from_secs(30)).is_some());
    let mut log = String::new();
    use std::io::Read;
    server
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("request refused"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{log}"));
    assert!(line.contains(&id), "{line}");
    assert!(line.contains("trace-in-log-7"), "{line}");
}
