//! Connection limits and timeouts over raw TCP: slow or idle clients are cut
//! off, the connection limit holds new connections back until one closes,
//! and shutdown lets a request in flight finish.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn addr(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

/// Everything the server sends until it closes the connection, or `None`
/// if it is still open after `wait`.
async fn read_until_closed(s: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut out = Vec::new();
    match tokio::time::timeout(wait, s.read_to_end(&mut out)).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

/// One response's head and body on a kept-alive connection (bodies here
/// are small and carry a content-length).
async fn read_response(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("a response within 10 s")
            .unwrap();
        assert!(n > 0, "connection closed before a whole response");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_connections_are_closed() {
    let server = TestServer::start_in(common::temp_dir("conn-headers"), |c| {
        c.limits.header_timeout_secs = 1;
    })
    .await;
    // Headers begun and never finished.
    let mut slow = TcpStream::connect(addr(&server)).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A kept-alive connection, idle after its first response.
    let mut idle = TcpStream::connect(addr(&server)).await.unwrap();
    idle.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut idle).await.starts_with("HTTP/1.1 200"));

    let cut = read_until_closed(&mut slow, Duration::from_secs(10))
        .await
        .expect("a connection sending its headers slowly is closed");
    // hyper answers a header timeout with 408 or nothing, never a route's answer.
    assert!(!cut.contains("200 OK"), "{cut}");
    let rest = read_until_closed(&mut idle, Duration::from_secs(10))
        .await
        .expect("an idle kept-alive connection is closed");
    assert!(rest.is_empty(), "{rest}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_in_time_gets_408_in_the_apis_form() {
    let server = TestServer::start_in(common::temp_dir("conn-body"), |c| {
        c.limits.body_timeout_secs = 1;
    })
    .await;
    for (path, kind) in [("/kbs/v0/auth", "\"type\""), ("/v1/challenge", "\"error\"")] {
        let mut s = TcpStream::connect(addr(&server)).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"version\""
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let response = read_response(&mut s).await;
        assert!(response.starts_with("HTTP/1.1 408"), "{path}: {response}");
        assert!(response.contains(kind), "{path}: {response}");
        assert!(response.contains("did not arrive within 1 s"), "{response}");
    }
    assert_eq!(
        server.svc.metrics.connections.body_timeouts.load(Relaxed),
        2
    );
    let text = server.metrics().await;
    assert!(text.contains("mamori_http_body_timeouts_total 2"), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_holds_new_connections_until_one_closes() {
    let server = TestServer::start_in(common::temp_dir("conn-limit"), |c| {
        c.limits.max_connections = 2;
    })
    .await;
    let stats = &server.svc.metrics.connections;
    let mut first = TcpStream::connect(addr(&server)).await.unwrap();
    first.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut first).await.starts_with("HTTP/1.1 200"));
    let mut second = TcpStream::connect(addr(&server)).await.unwrap();
    second.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut second).await.starts_with("HTTP/1.1 200"));
    assert_eq!(stats.open.load(Relaxed), 2);
    assert_eq!(stats.limit.load(Relaxed), 2);

    // The kernel completes the third connection (the backlog), but the
    // server does not take it while two are open.
    let mut third = TcpStream::connect(addr(&server)).await.unwrap();
    third.write_all(HEALTH).await.unwrap();
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(700), third.read(&mut byte)).await;
    assert!(early.is_err(), "answered beyond the connection limit");
    assert_eq!(stats.open.load(Relaxed), 2);
    assert!(stats.full.load(Relaxed) >= 1);

    drop(first);
    assert!(read_response(&mut third).await.starts_with("HTTP/1.1 200"));
    assert_eq!(stats.open.load(Relaxed), 2);
    assert_eq!(stats.accepted.load(Relaxed), 3);
    drop((second, third));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_request_in_flight_and_closes_idle_connections() {
    let common::StoppableServer {
        svc,
        addr,
        stop,
        task: server,
    } = common::StoppableServer::start_in(&common::temp_dir("conn-shutdown"), |_| {}).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut idle).await.starts_with("HTTP/1.1 200"));
    // A request in its handler, reading its body, when shutdown begins.
    let mut busy = TcpStream::connect(addr).await.unwrap();
    common::begin_request_in_flight(&mut busy).await;

    stop.send(()).unwrap();
    let closed = read_until_closed(&mut idle, Duration::from_secs(5))
        .await
        .expect("an idle connection is closed at shutdown");
    assert!(closed.is_empty(), "{closed}");
    assert!(
        !server.is_finished(),
        "shutdown waits for the request in flight"
    );
    busy.write_all(common::AUTH_BODY).await.unwrap();
    let response = read_until_closed(&mut busy, Duration::from_secs(5))
        .await
        .expect("the connection closes after its last response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("nonce"), "{response}");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returns once nothing is in flight")
        .unwrap()
        .unwrap();
    // No connection is accepted any more.
    assert!(TcpStream::connect(addr).await.is_err());
    svc.store().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_answers_is_cut_off() {
    let server = TestServer::start_in(common::temp_dir("conn-send"), |c| {
        c.limits.send_timeout_secs = 1;
    })
    .await;
    let stats = &server.svc.metrics.connections;
    // A small receive window, and pipelined requests whose answers (the
    // OpenAPI document, about 10 KB each) are never read: the server's
    // writes stall once the buffers are full.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = socket
        .connect(addr(&server).parse().unwrap())
        .await
        .unwrap();
    let request = b"GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n";
    // Until the requests themselves no longer go out: the server has
    // stopped reading because its answers do not.
    for _ in 0..100_000 {
        if tokio::time::timeout(Duration::from_secs(1), s.write_all(request))
            .await
            .is_err()
        {
            break;
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while stats.open.load(Relaxed) != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "a connection whose client reads nothing is still open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(s);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_counted_by_route_pattern_not_by_path() {
    let server = TestServer::start("conn-routes").await;
    let get = |path: &'static str| {
        let url = format!("{}{path}", server.url);
        let client = server.client.clone();
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get("/healthz").await, 200);
    assert_eq!(get("/healthz").await, 200);
    assert_eq!(get("/v1/resource/a/b/c").await, 401);
    assert_eq!(get("/v1/resource/x/y/z").await, 401);
    assert_eq!(get("/made/up/1").await, 404);
    assert_eq!(get("/made/up/2").await, 404);
    let text = server.metrics().await;
    for line in [
        r#"mamori_http_requests_total{method="GET",route="/healthz",status="200"} 2"#,
        r#"mamori_http_requests_total{method="GET",route="/v1/resource/{*path}",status="401"} 2"#,
        r#"mamori_http_requests_total{method="GET",route="unmatched",status="404"} 2"#,
        r#"mamori_http_request_duration_seconds_count{method="GET",route="/healthz"} 2"#,
        r#"mamori_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="+Inf"} 2"#,
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert!(!text.contains("/made/up"), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_the_shutdown_delay_readiness_fails_and_connections_are_still_served() {
    let common::StoppableServer {
        svc,
        addr,
        stop,
        task: server,
    } = common::StoppableServer::start_in(&common::temp_dir("conn-delay"), |c| {
        c.shutdown_delay_secs = 4;
    })
    .await;
    let get = |path: &'static str| async move {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .ok()?;
        Some(read_response(&mut s).await)
    };
    assert!(get("/readyz").await.unwrap().starts_with("HTTP/1.1 200"));
    let signalled = std::time::Instant::now();
    stop.send(()).unwrap();
    let deadline = signalled + Duration::from_secs(10);
    loop {
        let r = get("/readyz").await.expect("still accepting");
        if r.starts_with("HTTP/1.1 503") {
            assert!(r.contains("ShuttingDown"), "{r}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "readiness never failed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // New connections are still served while the delay lasts.
    let r = get("/healthz").await.expect("accepted during the delay");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(
        signalled.elapsed() < Duration::from_secs(4),
        "the check above ran after the delay; the test proves nothing on a machine this slow"
    );
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returns after the delay")
        .unwrap()
        .unwrap();
    assert!(signalled.elapsed() >= Duration::from_secs(4));
    assert!(TcpStream::connect(addr).await.is_err());
    svc.store().close().await;
}
