//! Logging never holds up requests: a server whose stderr nobody reads (a
//! log pipe under back-pressure) goes on answering, losing log lines
//! instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

/// The server process, killed however the test ends.
struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_reader_that_stops_reading_does_not_stall_requests() {
    let dir = std::env::temp_dir().join(format!("mamori-logging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // stderr is a pipe this test never reads: once its buffer (64 KiB on
    // Linux) is full, a write to it blocks.
    let server = Kill(
        Command::new(env!("CARGO_BIN_EXE_mamori"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("MAMORI_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    let client = mamori_agent::http_client(None).unwrap();
    let mut up = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if client.get(format!("{url}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
    }
    assert!(up, "server did not start");
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
    let _ = std::fs::remove_dir_all(&dir);
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
