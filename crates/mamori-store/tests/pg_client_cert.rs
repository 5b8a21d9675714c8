//! The configured client certificate is what the database server gets.
//! A stand-in answers PostgreSQL's SSLRequest, then runs TLS requiring a
//! client certificate signed by the CA it trusts, and records what each
//! handshake presented; no database is needed, so these tests always run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mamori_store::{ClientCertificate, PostgresOptions, Store, StoreError};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

/// PostgreSQL's SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// What each connection's handshake presented: the client certificate
/// (DER), or `None` when the handshake failed.
type Seen = Arc<Mutex<Vec<Option<Vec<u8>>>>>;

struct Identity {
    cert_pem: String,
    cert_der: Vec<u8>,
    key_pem: String,
}

fn identity(name: &str) -> Identity {
    let c = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    Identity {
        cert_pem: c.cert.pem(),
        cert_der: c.cert.der().to_vec(),
        key_pem: c.key_pair.serialize_pem(),
    }
}

/// The stand-in on loopback, with its certificate for 127.0.0.1, trusting
/// client certificates signed by `client_ca`.
async fn stand_in(server: &Identity, client_ca: &Identity) -> (u16, Seen) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(client_ca.cert_der.clone().into()).unwrap();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .unwrap();
    let key =
        <rustls::pki_types::PrivateKeyDer as rustls::pki_types::pem::PemObject>::from_pem_slice(
            server.key_pem.as_bytes(),
        )
        .unwrap();
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server.cert_der.clone().into()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Seen::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let (acceptor, record) = (acceptor.clone(), record.clone());
            tokio::spawn(async move {
                let mut request = [0u8; 8];
                if tcp.read_exact(&mut request).await.is_err() || request != SSL_REQUEST {
                    return;
                }
                tcp.write_all(b"S").await.unwrap();
                let presented = match acceptor.accept(tcp).await {
                    Ok(stream) => stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| c.to_vec()),
                    Err(_) => None,
                };
                // The connection then closes: the client's start-up fails,
                // which is all these tests need of it.
                record.lock().unwrap().push(presented);
            });
        }
    });
    (port, seen)
}

/// The first handshake's record, waiting for it: the stand-in records
/// after the handshake ends, which the client may notice first.
async fn first_seen(seen: &Seen) -> Option<Option<Vec<u8>>> {
    for _ in 0..200 {
        if let Some(first) = seen.lock().unwrap().first() {
            return Some(first.clone());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    None
}

fn options(port: u16, server: &Identity, client: Option<&Identity>) -> PostgresOptions {
    PostgresOptions {
        url: format!("host=127.0.0.1 port={port} user=mamori dbname=mamori connect_timeout=5"),
        password: None,
        pool_size: 1,
        ca_pem: Some(server.cert_pem.clone().into_bytes()),
        client_cert: client.map(|c| ClientCertificate {
            chain_pem: c.cert_pem.clone().into_bytes(),
            key_pem: c.key_pem.clone().into_bytes(),
        }),
    }
}

#[tokio::test]
async fn the_configured_client_certificate_is_presented_over_verified_tls() {
    let (server, client) = (identity("127.0.0.1"), identity("mamori"));
    let (port, seen) = stand_in(&server, &client).await;
    let err = Store::open_postgres(&options(port, &server, Some(&client)))
        .await
        .unwrap_err();
    assert!(!matches!(err, StoreError::Config(_)), "{err}");
    assert_eq!(
        first_seen(&seen).await,
        Some(Some(client.cert_der.clone())),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_certificate_from_another_ca_is_refused_before_the_client_certificate_counts() {
    let (server, client, other) = (
        identity("127.0.0.1"),
        identity("mamori"),
        identity("127.0.0.1"),
    );
    let (port, seen) = stand_in(&server, &client).await;
    // The client trusts another CA than the one that signed the server's
    // certificate: the handshake fails on the client's side.
    let err = Store::open_postgres(&options(port, &other, Some(&client)))
        .await
        .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    // No handshake completed, so the client certificate went nowhere.
    assert!(seen.lock().unwrap().iter().all(Option::is_none));
}

#[tokio::test]
async fn without_a_client_certificate_the_handshake_is_refused() {
    let (server, client) = (identity("127.0.0.1"), identity("mamori"));
    let (port, seen) = stand_in(&server, &client).await;
    assert!(Store::open_postgres(&options(port, &server, None))
        .await
        .is_err());
    assert_eq!(first_seen(&seen).await, Some(None));
}

#[test]
fn a_client_certificate_needs_its_own_key_and_tls() {
    let (server, client, other) = (identity("127.0.0.1"), identity("a"), identity("b"));
    let mut o = options(5432, &server, Some(&client));
    Store::check_postgres(&o).unwrap();
    // Without a CA or sslmode=require the client certificate still asks
    // for TLS: the key is checked (below), which only the TLS client does.
    o.ca_pem = None;
    Store::check_postgres(&o).unwrap();
    let mismatched = ClientCertificate {
        chain_pem: client.cert_pem.clone().into_bytes(),
        key_pem: other.key_pem.clone().into_bytes(),
    };
    let no_key = ClientCertificate {
        chain_pem: client.cert_pem.clone().into_bytes(),
        key_pem: b"not a key".to_vec(),
    };
    let no_cert = ClientCertificate {
        chain_pem: b"not a certificate".to_vec(),
        key_pem: client.key_pem.clone().into_bytes(),
    };
    for (bad, says) in [
        (mismatched, "store.client_key"),
        (no_key, "store.client_key"),
        (no_cert, "store.client_cert"),
    ] {
        o.client_cert = Some(bad);
        let err = Store::check_postgres(&o).unwrap_err();
        assert!(
            matches!(&err, StoreError::Config(m) if m.contains(says)),
            "{err}"
        );
    }
    o.client_cert = options(5432, &server, Some(&client)).client_cert;
    o.url.push_str(" sslmode=disable");
    let err = Store::check_postgres(&o).unwrap_err();
    assert!(
        err.to_string().contains("store.client_cert is set"),
        "{err}"
    );
}
