//! HTTPS: the TLS listener serves the same router, and a client that
//! trusts the server's certificate completes a request over it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_the_router() {
    let dir = common::temp_dir("tls");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    let tls = mamori_service::config::TlsConfig {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    let mut cfg = mamori_service::Config {
        data_dir: dir.join("data"),
        tls: Some(tls.clone()),
        ..mamori_service::Config::default()
    };
    cfg.listen = "0.0.0.0:0".parse().unwrap();
    // A public address is allowed only because TLS is configured.
    cfg.validate().unwrap();
    let svc = mamori_service::Service::start(cfg, mamori_server::now())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = svc.clone();
    let server = tokio::spawn(async move {
        mamori_server::serve(listener, served, std::future::pending())
            .await
            .unwrap();
    });

    let connector = trusting(&[&cert]);
    // A plain-text client first: the handshake fails and the server goes on.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        plain.read_to_end(&mut sink),
    )
    .await;

    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls_stream = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls_stream
        .write_all(
            b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut response = Vec::new();
    tls_stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"keys\""), "{text}");

    // Mamori's own clients (agent, admin): the server's CA named with
    // `--ca`, or refused.
    let url = format!("https://localhost:{}/healthz", addr.port());
    let trusting = mamori_agent::http_client(Some(cert.cert.pem().as_bytes())).unwrap();
    let r = trusting.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let default_roots = mamori_agent::http_client(None).unwrap();
    assert!(default_roots.get(&url).send().await.is_err());
    server.abort();
}

#[test]
fn public_listener_without_tls_is_refused() {
    let cfg = mamori_service::Config {
        listen: "0.0.0.0:8080".parse().unwrap(),
        ..mamori_service::Config::default()
    };
    assert!(matches!(
        cfg.validate(),
        Err(mamori_service::ConfigError::InsecureListener(_))
    ));
}

/// Two self-signed pairs for localhost, the first written to the files
/// the returned configuration names.
fn two_pairs(
    dir: &std::path::Path,
) -> (
    rcgen::CertifiedKey,
    rcgen::CertifiedKey,
    mamori_service::config::TlsConfig,
) {
    let a = localhost_until(in_years(10));
    let b = localhost_until(in_years(11));
    write_pair(dir, &a);
    let files = mamori_service::config::TlsConfig {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    (a, b, files)
}

/// A TLS client that trusts exactly these self-signed certificates.
fn trusting(certs: &[&rcgen::CertifiedKey]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots
            .add(CertificateDer::from(c.cert.der().to_vec()))
            .unwrap();
    }
    TlsConnector::from(Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// The year `n` years from now.
fn in_years(n: i32) -> i32 {
    time::OffsetDateTime::now_utc().year() + n
}

/// 1 January of `year`, Unix seconds.
fn new_year(year: i32) -> i64 {
    time::Date::from_calendar_date(year, time::Month::January, 1)
        .unwrap()
        .midnight()
        .assume_utc()
        .unix_timestamp()
}

/// A self-signed pair for localhost valid until 1 January of `year`.
fn localhost_until(year: i32) -> rcgen::CertifiedKey {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_after = rcgen::date_time_ymd(year, 1, 1);
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key_pair).unwrap();
    rcgen::CertifiedKey { cert, key_pair }
}

fn write_pair(dir: &std::path::Path, cert: &rcgen::CertifiedKey) {
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
}

fn served_der(r: &mamori_server::tls::CertReloader) -> Vec<u8> {
    r.current().cert[0].as_ref().to_vec()
}

/// Renewed certificate files are served without a restart; files that do
/// not load as a pair leave the current certificate in service.
#[test]
fn certificate_files_are_read_again_when_they_change() {
    let dir = common::temp_dir("tls-reload");
    let (a, b, files) = two_pairs(&dir);
    let r = mamori_server::tls::CertReloader::load(&files).unwrap();
    assert_eq!(served_der(&r), a.cert.der().to_vec());
    assert_eq!(r.reload_if_changed(), Ok(false));

    write_pair(&dir, &b);
    assert_eq!(r.reload_if_changed(), Ok(true));
    assert_eq!(served_der(&r), b.cert.der().to_vec());

    // A's certificate with B's key: refused, B still served, and the
    // refusal is reported again at the next check.
    std::fs::write(dir.join("cert.pem"), a.cert.pem()).unwrap();
    let e = r.reload_if_changed().unwrap_err();
    assert!(e.contains("key and certificate"), "{e}");
    assert_eq!(served_der(&r), b.cert.der().to_vec());
    assert!(r.reload_if_changed().is_err());
    std::fs::write(dir.join("cert.pem"), "not a certificate").unwrap();
    assert!(r.reload_if_changed().unwrap_err().contains("tls.cert"));
    assert_eq!(served_der(&r), b.cert.der().to_vec());

    // A pair that is whole again is picked up.
    write_pair(&dir, &a);
    assert_eq!(r.reload_if_changed(), Ok(true));
    assert_eq!(served_der(&r), a.cert.der().to_vec());
}

/// The running server presents the renewed certificate to new connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_presents_a_renewed_certificate() {
    let dir = common::temp_dir("tls-renew");
    let (a, b, tls) = two_pairs(&dir);
    let svc = mamori_service::Service::start(
        mamori_service::Config {
            data_dir: dir.join("data"),
            tls: Some(tls),
            ..mamori_service::Config::default()
        },
        mamori_server::now(),
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = svc.clone();
    let server = tokio::spawn(async move {
        mamori_server::serve_reloading_every(
            listener,
            served,
            std::time::Duration::from_millis(50),
            std::future::pending(),
        )
        .await
        .unwrap();
    });
    let connector = trusting(&[&a, &b]);
    let presented = || async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let s = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        s.get_ref().1.peer_certificates().unwrap()[0]
            .as_ref()
            .to_vec()
    };
    // The expiry gauge follows the certificate served.
    let expiry = || async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut s = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut page = Vec::new();
        let _ = s.read_to_end(&mut page).await;
        String::from_utf8_lossy(&page)
            .lines()
            .find_map(|l| l.strip_prefix("mamori_tls_certificate_expiry_seconds "))
            .map(str::to_owned)
    };
    assert_eq!(presented().await, a.cert.der().to_vec());
    let until_a = new_year(in_years(10)).to_string();
    assert_eq!(expiry().await, Some(until_a));
    write_pair(&dir, &b);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while presented().await != b.cert.der().to_vec() {
        assert!(std::time::Instant::now() < deadline, "B never served");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let until_b = new_year(in_years(11)).to_string();
    assert_eq!(expiry().await, Some(until_b));
    server.abort();
}

/// Over TLS too, shutdown closes the socket at once — new clients are
/// refused, not left to shake hands during the drain — and the request in
/// flight is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_shutdown_refuses_new_clients_and_answers_the_request_in_flight() {
    let dir = common::temp_dir("tls-shutdown");
    let (a, _, tls) = two_pairs(&dir);
    let common::StoppableServer {
        svc,
        addr,
        stop,
        task: server,
    } = common::StoppableServer::start_in(&dir, |c| c.tls = Some(tls)).await;
    let connector = trusting(&[&a]);
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut busy = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    common::begin_request_in_flight(&mut busy).await;

    stop.send(()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "new connections are still accepted during the drain"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        !server.is_finished(),
        "the request in flight holds the drain"
    );
    busy.write_all(common::AUTH_BODY).await.unwrap();
    let mut response = Vec::new();
    let _ = busy.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .expect("serve returns once nothing is in flight")
        .unwrap()
        .unwrap();
    svc.store().close().await;
}
