//! `mamori serve` and signals: the first SIGTERM lets the request in flight
//! finish and then exits cleanly; a second one exits at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

mod common;

use common::Server;

const BODY: &[u8] = br#"{"version":"0.4.0","tee":"snp","extra-params":""}"#;

/// A KBS challenge request in its handler, reading its body: hyper sends
/// `100 Continue` once the handler reads.
fn request_in_flight(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /kbs/v0/auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        BODY.len()
    )
    .unwrap();
    let mut seen = Vec::new();
    while !seen.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        seen.push(b[0]);
    }
    assert!(seen.starts_with(b"HTTP/1.1 100"), "{seen:?}");
    s
}

#[test]
fn sigterm_drains_the_request_in_flight_then_exits_cleanly() {
    let mut server = Server::start("sigterm", Stdio::null, None);
    let mut busy = request_in_flight(server.port);
    server.signal("-TERM");
    assert!(
        server.exit_within(Duration::from_millis(500)).is_none(),
        "exited with a request in flight"
    );
    busy.write_all(BODY).unwrap();
    let mut response = String::new();
    let _ = busy.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let status = server
        .exit_within(Duration::from_secs(10))
        .expect("exits once the request is answered");
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_second_signal_exits_without_waiting() {
    let mut server = Server::start("sigterm-twice", Stdio::null, None);
    let _busy = request_in_flight(server.port);
    server.signal("-TERM");
    assert!(server.exit_within(Duration::from_millis(500)).is_none());
    server.signal("-INT");
    let status = server
        .exit_within(Duration::from_secs(5))
        .expect("a second signal ends the drain");
    // 128 + the signal's number: SIGINT, or SIGTERM when both were
    // pending when the signal task first looked (a loaded machine).
    assert!(matches!(status.code(), Some(130) | Some(143)), "{status:?}");
}
