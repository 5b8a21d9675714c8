//! The HTTP client of every Mamori client (agent, admin, bench, demo).
//!
//! TLS is rustls on aws-lc-rs, the crypto library the rest of Mamori uses,
//! configured here rather than by reqwest (whose default would add ring).
//! Servers are checked against Mozilla's roots (webpki-roots: a guest image
//! may have no system store) plus any CA the operator names — a key broker
//! usually has a private one. Over plain HTTP nothing authenticates the
//! server: anyone on the path could encrypt a secret of their choosing to
//! the TEE's key, so callers warn when the server is not on loopback.

use crate::AgentError;
use std::sync::Arc;
use std::time::Duration;

/// Longest wait to connect, and for a whole request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A client that trusts Mozilla's roots and the PEM certificates in
/// `extra_ca_pem`, with connect and request timeouts.
///
/// # Errors
/// [`AgentError::Http`] when `extra_ca_pem` holds no usable certificate or
/// the TLS configuration cannot be built.
pub fn http_client(extra_ca_pem: Option<&[u8]>) -> Result<reqwest::Client, AgentError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_ca_pem {
        let ders = pem_certificates(pem)?;
        if ders.is_empty() {
            return Err(AgentError::Http("no PEM certificate in the CA file".into()));
        }
        for der in ders {
            roots
                .add(der)
                .map_err(|e| AgentError::Http(format!("CA certificate: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AgentError::Http(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| AgentError::Http(e.to_string()))
}

/// [`http_client`] that also trusts the CA certificates in the PEM file at
/// `ca`; every error about the file names it.
///
/// # Errors
/// The file cannot be read or holds no usable certificate, or the client
/// cannot be built.
pub fn http_client_with_ca_file(ca: Option<&std::path::Path>) -> Result<reqwest::Client, String> {
    let Some(path) = ca else {
        return http_client(None).map_err(|e| e.to_string());
    };
    let named = |e: &dyn std::fmt::Display| format!("--ca {}: {e}", path.display());
    let pem = std::fs::read(path).map_err(|e| named(&e))?;
    http_client(Some(&pem)).map_err(|e| named(&e))
}

/// Whether `url` names a server on this machine (plain HTTP to it is not
/// exposed to the network).
#[must_use]
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = u.host_str() else {
        return false;
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// True for a plain `http` URL to another machine: nothing authenticates
/// the server at the other end (what clients warn about before sending
/// credentials or secrets there).
pub fn is_unauthenticated_remote(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| u.scheme() == "http") && !is_loopback_url(url)
}

/// The DER certificates of the PEM `CERTIFICATE` blocks in `pem`.
fn pem_certificates(
    pem: &[u8],
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, AgentError> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AgentError::Http(format!("CA file: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn loopback_urls() {
        for u in [
            "http://127.0.0.1:8080",
            "http://localhost/x",
            "http://[::1]:1",
            "http://127.9.0.1",
        ] {
            assert!(is_loopback_url(u), "{u}");
        }
        for u in [
            "http://10.0.0.1",
            "http://kbs.example",
            "http://[::2]",
            "not a url",
        ] {
            assert!(!is_loopback_url(u), "{u}");
        }
        assert!(is_unauthenticated_remote("HTTP://kbs.example"));
        assert!(!is_unauthenticated_remote("http://127.0.0.1:8080"));
        assert!(!is_unauthenticated_remote("https://kbs.example"));
    }

    #[test]
    fn errors_about_a_ca_file_name_it() {
        assert!(http_client_with_ca_file(None).is_ok());
        let missing = std::path::Path::new("/nonexistent/mamori-ca.pem");
        let e = http_client_with_ca_file(Some(missing)).unwrap_err();
        assert!(e.contains("/nonexistent/mamori-ca.pem"), "{e}");
        let empty = std::env::temp_dir().join(format!("mamori-ca-{}.pem", std::process::id()));
        std::fs::write(&empty, b"no pem here").unwrap();
        let e = http_client_with_ca_file(Some(&empty)).unwrap_err();
        let _ = std::fs::remove_file(&empty);
        assert!(e.contains(&*empty.to_string_lossy()), "{e}");
        assert!(e.contains("no PEM certificate"), "{e}");
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        assert!(http_client(None).is_ok());
        assert!(http_client(Some(b"no pem here")).is_err());
        assert!(http_client(Some(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        ))
        .is_err());
    }
}
