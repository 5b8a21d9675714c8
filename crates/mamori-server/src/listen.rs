//! Serving connections: how many at once, how long a client may take, and
//! how they end at shutdown.
//!
//! `axum::serve` sets no timer on hyper, so a client could hold a
//! connection forever by sending its headers a byte at a time, or by
//! keeping an idle connection open; and it accepts without bound, so enough
//! such clients exhaust the process's file descriptors. Here hyper gets a
//! timer and `limits.header_timeout_secs` (which in hyper also ends idle
//! kept-alive connections), the listener stops accepting at
//! `limits.max_connections` (new connections wait in the kernel's backlog,
//! as a full server's should), and shutdown waits for requests in flight
//! for at most [`DRAIN`].

use axum::serve::Listener;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use mamori_service::config::LimitsConfig;
use mamori_service::metrics::{ConnectionStats, ProbeKind};
use mamori_service::Service;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// How long shutdown takes at most, delay and drain together: less than the
/// 30 s an orchestrator (Kubernetes' default grace period) allows between
/// SIGTERM and SIGKILL, so the store still closes cleanly.
pub const DRAIN: Duration = Duration::from_secs(25);

/// The least time requests in flight get, however long the delay.
const MIN_DRAIN: Duration = Duration::from_secs(5);

/// The drain left after `shutdown_delay_secs`: [`DRAIN`] in all, but never
/// under [`MIN_DRAIN`] (a delay above 20 s makes the whole longer than 25 s).
fn drain_after(delay: Duration) -> Duration {
    DRAIN.saturating_sub(delay).max(MIN_DRAIN)
}

/// A TLS certificate with less validity left than this is warned about at
/// start.
const EXPIRY_WARNING_DAYS: i64 = 14;

/// How often the connection limit may be logged while it holds accepts.
const LIMIT_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Serves the service's router on `listener` — over TLS when the
/// configuration has a `[tls]` section — until `shutdown` resolves, then
/// (after `shutdown_delay_secs`) lets requests in flight finish, for what is
/// left of [`DRAIN`].
pub async fn serve(
    listener: TcpListener,
    svc: Arc<Service>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    serve_reloading_every(listener, svc, crate::tls::RELOAD_CHECK, shutdown).await
}

/// [`serve`], checking TLS certificate files every `every` (tests).
#[doc(hidden)]
pub async fn serve_reloading_every(
    listener: TcpListener,
    svc: Arc<Service>,
    every: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let limited = LimitedListener::new(
        listener,
        &svc.config().limits,
        svc.metrics.connections.clone(),
    );
    let app = crate::router(svc.clone());
    match svc.config().tls.clone() {
        Some(tls) => {
            let (listener, certs) = crate::tls::listener(limited, &tls, every)?;
            if let Some(t) = certs.not_after() {
                let days = (t - crate::now()) / 86_400;
                if days < EXPIRY_WARNING_DAYS {
                    tracing::warn!(
                        cert = %tls.cert.display(),
                        days_left = days,
                        "the TLS certificate expires soon or has expired"
                    );
                }
            }
            svc.metrics.add_probe(
                "mamori_tls_certificate_expiry_seconds",
                "notAfter of the TLS certificate being served, Unix seconds.",
                ProbeKind::Gauge,
                move || certs.not_after().map(|t| t as f64),
            );
            serve_connections(listener, app, shutdown, &svc).await
        }
        None => serve_connections(limited, app, shutdown, &svc).await,
    }
    Ok(())
}

/// What the accept loop needs of a listener. Dropping it stops accepting:
/// the socket is closed, so new clients are refused rather than left in the
/// backlog during the drain (a TLS listener owns its accept task and the
/// handshakes under way).
pub(crate) trait Accept: Send {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// The next connection (errors are handled inside: the loop only
    /// serves).
    fn accept(&mut self) -> impl Future<Output = (Self::Io, SocketAddr)> + Send;
}

/// The accept loop over any listener. Each connection is a task in one
/// set, so that the ones still busy when [`DRAIN`] runs out are ended
/// rather than left running after `serve` returns.
async fn serve_connections<L: Accept>(
    mut listener: L,
    app: Router,
    shutdown: impl Future<Output = ()>,
    svc: &Service,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(svc.config().limits.header_timeout());
    let mut serving = Serving {
        http,
        graceful: GracefulShutdown::new(),
        app,
        connections: JoinSet::new(),
        peer_addresses: svc.config().limits.client_requests_per_second > 0,
    };
    serving.accept_until(&mut listener, shutdown).await;
    svc.begin_draining();
    // Behind a load balancer, new connections keep coming until its health
    // check has seen `/readyz` fail: they are still served for the delay.
    let delay = Duration::from_secs(svc.config().shutdown_delay_secs);
    if !delay.is_zero() {
        tracing::info!(
            secs = delay.as_secs(),
            "readiness now fails; still accepting for shutdown_delay_secs"
        );
        serving
            .accept_until(&mut listener, tokio::time::sleep(delay))
            .await;
    }
    // Connections accepted but not yet read from are closed by the drain
    // as well (hyper closes a connection that has read nothing), so a TLS
    // handshake completed but not yet taken in is dropped with the
    // listener, alike.
    drop(listener);
    let Serving {
        graceful,
        mut connections,
        ..
    } = serving;
    let drain = drain_after(delay);
    tracing::info!(
        secs = drain.as_secs(),
        "stopped accepting; finishing requests in flight"
    );
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        while connections.try_join_next().is_some() {}
        tracing::warn!(
            busy = connections.len(),
            "requests still in flight after {} s: closing their connections",
            drain.as_secs()
        );
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// What each accepted connection is served with, and the connections.
struct Serving {
    http: hyper::server::conn::http1::Builder,
    graceful: GracefulShutdown,
    app: Router,
    connections: JoinSet<()>,
    /// Whether requests carry their peer's address (`ConnectInfo`): only
    /// the per-client request budgets read it, and an extension inserted
    /// in every request costs an allocation.
    peer_addresses: bool,
}

impl Serving {
    /// Serves what `listener` accepts until `until` resolves.
    async fn accept_until<L: Accept>(&mut self, listener: &mut L, until: impl Future<Output = ()>) {
        let mut until = std::pin::pin!(until);
        loop {
            // Finished connections are reaped as new ones come, so the set
            // holds only live ones.
            while self.connections.try_join_next().is_some() {}
            let (io, peer) = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut until => return,
            };
            self.serve(io, peer);
        }
    }

    fn serve<Io>(&mut self, io: Io, peer: SocketAddr)
    where
        Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // The peer's address, for the per-client request budgets.
        let with_peer = self.peer_addresses;
        let app = tower::ServiceExt::map_request(
            self.app.clone(),
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                if with_peer {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                }
                req
            },
        );
        let service = TowerToHyperService::new(app);
        let conn = self
            .graceful
            .watch(self.http.serve_connection(TokioIo::new(io), service));
        self.connections.spawn(async move {
            // Header timeouts, resets and the like end here; they are the
            // client's doing, so not worth more than a debug line.
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// A TCP listener that holds at most `max` connections open at once
/// (counting TLS handshakes, which the limit must cover too), counts them
/// in the metrics, and gives each the send timeout.
pub(crate) struct LimitedListener {
    inner: TcpListener,
    permits: Option<Arc<Semaphore>>,
    stats: Arc<ConnectionStats>,
    send_timeout: Duration,
    last_warning: Option<Instant>,
}

impl LimitedListener {
    pub(crate) fn new(
        inner: TcpListener,
        limits: &LimitsConfig,
        stats: Arc<ConnectionStats>,
    ) -> Self {
        let max = limits.max_connections;
        stats.limit.store(max as u64, Relaxed);
        LimitedListener {
            inner,
            // 0 means no limit; the semaphore's own maximum is far above
            // any file-descriptor limit.
            permits: (max > 0).then(|| Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS)))),
            stats,
            send_timeout: limits.send_timeout(),
            last_warning: None,
        }
    }

    /// A place under the limit. The place is taken before the next
    /// connection is accepted, so "full" means every place is taken when
    /// the listener is ready for another, whether or not one is waiting.
    async fn permit(&mut self) -> Option<OwnedSemaphorePermit> {
        let permits = self.permits.clone()?;
        if let Ok(p) = permits.clone().try_acquire_owned() {
            return Some(p);
        }
        self.stats.full.fetch_add(1, Relaxed);
        if self
            .last_warning
            .is_none_or(|t| t.elapsed() >= LIMIT_WARNING_EVERY)
        {
            self.last_warning = Some(Instant::now());
            tracing::warn!(
                limit = self.stats.limit.load(Relaxed),
                "connection limit reached: further connections wait in the listen backlog until one closes (limits.max_connections)"
            );
        }
        // The semaphore is never closed.
        permits.acquire_owned().await.ok()
    }

    pub(crate) async fn accept(&mut self) -> (Counted<TcpStream>, SocketAddr) {
        let permit = self.permit().await;
        // axum's accept retries after errors (a full descriptor table
        // among them), pausing so as not to spin.
        let (tcp, peer) = Listener::accept(&mut self.inner).await;
        // Responses go out in one write; Nagle's algorithm would only
        // delay the next one on a kept-alive connection.
        let _ = tcp.set_nodelay(true);
        self.stats.accepted.fetch_add(1, Relaxed);
        self.stats.open.fetch_add(1, Relaxed);
        let stream = Counted {
            io: tcp,
            send_timeout: self.send_timeout,
            stalled: None,
            _guard: Open {
                _permit: permit,
                stats: self.stats.clone(),
            },
        };
        (stream, peer)
    }
}

impl Accept for LimitedListener {
    type Io = Counted<TcpStream>;

    fn accept(&mut self) -> impl Future<Output = (Self::Io, SocketAddr)> + Send {
        LimitedListener::accept(self)
    }
}

/// One open connection: counted until dropped, holding its place under the
/// limit.
struct Open {
    _permit: Option<OwnedSemaphorePermit>,
    stats: Arc<ConnectionStats>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Relaxed);
    }
}

/// A stream that keeps its connection's place while it lives, and fails a
/// write that has made no progress for the send timeout. hyper has no
/// write timeout: a client that sends requests and never reads the
/// answers would otherwise hold its connection, and its place under the
/// limit, forever once the socket's buffers are full.
pub(crate) struct Counted<S> {
    io: S,
    send_timeout: Duration,
    /// Set while writes wait; cleared by any progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
    _guard: Open,
}

impl<S> Counted<S> {
    /// Any progress stops the clock; a write or flush still pending starts
    /// it, or ends the connection once it has run out.
    fn after_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        done: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if done.is_ready() {
            self.stalled = None;
            return done;
        }
        self.poll_stall(cx)
    }

    fn poll_stall<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let timeout = self.send_timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the client read nothing for {} s (limits.send_timeout_secs)",
                    timeout.as_secs()
                ),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let done = Pin::new(&mut this.io).poll_write(cx, buf);
        this.after_write(cx, done)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let done = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.after_write(cx, done)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let done = Pin::new(&mut this.io).poll_flush(cx);
        this.after_write(cx, done)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let done = Pin::new(&mut this.io).poll_shutdown(cx);
        this.after_write(cx, done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_comes_out_of_the_drain_but_leaves_some() {
        assert_eq!(drain_after(Duration::ZERO), DRAIN);
        assert_eq!(
            drain_after(Duration::from_secs(10)),
            Duration::from_secs(15)
        );
        assert_eq!(drain_after(Duration::from_secs(20)), MIN_DRAIN);
        assert_eq!(drain_after(Duration::from_secs(60)), MIN_DRAIN);
    }
}
