//! HTTPS: rustls (aws-lc-rs) in front of the same router. Handshakes run in
//! their own tasks with a timeout, so a slow or silent client cannot hold up
//! the accept loop.
//!
//! The certificate and key files are read again when they change (checked
//! every [`RELOAD_CHECK`]), so a renewed certificate — cert-manager, ACME
//! clients and the like rewrite the files in place — is served without a
//! restart. A pair that does not load (a half-written file, a key that is
//! not the certificate's) leaves the current one in service and is tried
//! again at the next check.

use crate::listen::{Accept, Counted, LimitedListener};
use mamori_service::config::TlsConfig;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the certificate and key files are checked for a change.
pub const RELOAD_CHECK: Duration = Duration::from_secs(10);

/// Builds the rustls configuration over a [`CertReloader`] for the files.
pub fn server_config(tls: &TlsConfig) -> Result<(ServerConfig, Arc<CertReloader>), String> {
    let certs = Arc::new(CertReloader::load(tls)?);
    let mut cfg = ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(certs.clone());
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((cfg, certs))
}

/// The certificate and key files' contents.
type Files = (Vec<u8>, Vec<u8>);

/// What identifies a pair of contents without keeping a second copy of
/// the private key: SHA-256 over the certificate file's length and both
/// files.
fn fingerprint((cert, key): &Files) -> [u8; 32] {
    let mut h = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    h.update(&(cert.len() as u64).to_be_bytes());
    h.update(cert);
    h.update(key);
    let mut out = [0u8; 32];
    out.copy_from_slice(h.finish().as_ref());
    out
}

fn read_files(tls: &TlsConfig) -> Result<Files, String> {
    let read = |what: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("tls.{what} {}: {e}", path.display()))
    };
    Ok((read("cert", &tls.cert)?, read("key", &tls.key)?))
}

/// The server's certificate and key, read again from their files when they
/// change (see the module doc).
#[derive(Debug)]
pub struct CertReloader {
    files: TlsConfig,
    current: RwLock<Arc<CertifiedKey>>,
    /// The served leaf certificate's notAfter, Unix seconds (`i64::MIN`
    /// when it could not be read), for the expiry gauge.
    not_after: AtomicI64,
    /// The fingerprint of what `current` was read from. Contents rather
    /// than modification times: a renewal written within the timestamp
    /// granularity of the last one, at the same length, would otherwise go
    /// unseen.
    loaded_from: Mutex<[u8; 32]>,
}

impl CertReloader {
    /// Reads the pair; refused when either file does not parse or the key
    /// is not the certificate's.
    pub fn load(files: &TlsConfig) -> Result<CertReloader, String> {
        let contents = read_files(files)?;
        let pair = parse_pair(files, &contents)?;
        Ok(CertReloader {
            not_after: AtomicI64::new(leaf_not_after(&pair)),
            current: RwLock::new(Arc::new(pair)),
            files: files.clone(),
            loaded_from: Mutex::new(fingerprint(&contents)),
        })
    }

    /// The certificate chain being served.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The served certificate's notAfter, Unix seconds, when it could be
    /// read.
    pub fn not_after(&self) -> Option<i64> {
        Some(self.not_after.load(Relaxed)).filter(|t| *t != i64::MIN)
    }

    /// Reads the pair again if either file changed since it was last read:
    /// `Ok(true)` when a new pair is now served, `Ok(false)` when nothing
    /// changed, and an error (the current pair kept) when the new files do
    /// not load.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let contents = read_files(&self.files)?;
        let seen = fingerprint(&contents);
        let mut loaded_from = self.loaded_from.lock().unwrap_or_else(|p| p.into_inner());
        if *loaded_from == seen {
            return Ok(false);
        }
        let pair = parse_pair(&self.files, &contents)?;
        self.not_after.store(leaf_not_after(&pair), Relaxed);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(pair);
        *loaded_from = seen;
        Ok(true)
    }

    /// Checks the files every `every` until the task is dropped.
    fn watch(self: Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let this = self.clone();
                match tokio::task::spawn_blocking(move || this.reload_if_changed()).await {
                    Ok(Ok(true)) => {
                        tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded")
                    }
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "TLS certificate files changed but do not load; still serving the previous certificate")
                    }
                    Err(e) => tracing::warn!(error = %e, "TLS certificate check failed"),
                }
            }
        })
    }
}

impl ResolvesServerCert for CertReloader {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// rustls does not look at validity dates of the server's own certificate;
/// x509-parser reads them for the gauge only, so a leaf it cannot read is
/// still served.
fn leaf_not_after(pair: &CertifiedKey) -> i64 {
    pair.end_entity_cert()
        .ok()
        .and_then(|der| x509_parser::parse_x509_certificate(der).ok())
        .map_or(i64::MIN, |(_, cert)| cert.validity().not_after.timestamp())
}

fn parse_pair(tls: &TlsConfig, (cert, key): &Files) -> Result<CertifiedKey, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls.cert {}: {e}", tls.cert.display()))?;
    if certs.is_empty() {
        return Err(format!("tls.cert {}: no certificate", tls.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| format!("tls.key {}: {e}", tls.key.display()))?;
    let provider = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider();
    let pair = CertifiedKey::from_der(certs, key, &provider)
        .map_err(|e| format!("TLS key and certificate: {e}"))?;
    // `from_der` lets a pair whose match it cannot tell through; aws-lc-rs
    // keys always can, so anything but a match is refused here.
    pair.keys_match()
        .map_err(|e| format!("TLS key and certificate: {e}"))?;
    Ok(pair)
}

/// A task that ends when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Stream = TlsStream<Counted<TcpStream>>;

/// Connections whose TLS handshake has completed. Owns the task that
/// accepts and shakes hands (and the certificate watcher): dropping it
/// closes the socket.
pub(crate) struct TlsListener {
    rx: mpsc::Receiver<(Stream, SocketAddr)>,
    _tasks: [AbortOnDrop; 2],
}

impl Accept for TlsListener {
    type Io = Stream;

    async fn accept(&mut self) -> (Self::Io, SocketAddr) {
        match self.rx.recv().await {
            Some(x) => x,
            // The acceptor task ended (listener failed): serve nothing more.
            None => std::future::pending().await,
        }
    }
}

/// TLS over `tcp`: handshakes run in their own tasks (ended with the
/// listener), and the certificate files are checked every `every`. The
/// reloader tells which certificate is served.
pub(crate) fn listener(
    mut tcp: LimitedListener,
    tls: &TlsConfig,
    every: Duration,
) -> Result<(TlsListener, Arc<CertReloader>), String> {
    let (config, certs) = server_config(tls)?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let watcher = AbortOnDrop(certs.clone().watch(every));
    let (tx, rx) = mpsc::channel(256);
    let accept_task = AbortOnDrop(tokio::spawn(async move {
        let mut handshakes = JoinSet::new();
        loop {
            while handshakes.try_join_next().is_some() {}
            // The connection limit holds here, before the handshake.
            let (stream, peer) = tcp.accept().await;
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            handshakes.spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send((stream, peer)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    }));
    Ok((
        TlsListener {
            rx,
            _tasks: [watcher, accept_task],
        },
        certs,
    ))
}
