//! Mamori's HTTP server: the native API (`/v1`), the Confidential Containers
//! key-broker API (`/kbs/v0`, protocol 0.4.0), admin endpoints, JWKS,
//! health and Prometheus metrics, over one [`mamori_service::Service`].
#![forbid(unsafe_code)]

mod admin;
mod client_limit;
pub mod error;
mod extract;
mod kbs;
mod listen;
mod native;
mod openapi;
mod response;
pub mod tls;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use mamori_service::request_id::RequestIds;
use mamori_service::Service;
use std::sync::Arc;

pub use listen::{serve, serve_reloading_every, DRAIN};

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    pub svc: Arc<Service>,
    /// The per-client request budgets, when `[limits]
    /// client_requests_per_second` is set.
    limiter: Option<Arc<client_limit::ClientLimiter>>,
}

impl AppState {
    /// What a request body must keep to.
    pub fn body_limit(&self) -> extract::BodyLimit<'_> {
        let limits = &self.svc.config().limits;
        extract::BodyLimit {
            max_bytes: limits.max_body_bytes,
            timeout: limits.body_timeout(),
            timeouts: &self.svc.metrics.connections.body_timeouts,
        }
    }
}

/// Seconds since the Unix epoch: the only clock of the server.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The whole application.
pub fn router(svc: Arc<Service>) -> Router {
    let limits = &svc.config().limits;
    let limiter = client_limit::ClientLimiter::new(
        limits.client_requests_per_second,
        limits.client_burst,
        // Checked when the configuration was validated.
        limits.trusted_proxy_nets().unwrap_or_default(),
    )
    .map(Arc::new);
    if let Some(l) = &limiter {
        use mamori_service::metrics::ProbeKind;
        let (a, b) = (l.clone(), l.clone());
        svc.metrics.add_probe(
            "mamori_client_budget_refusals_total",
            "Requests refused (429) because their client was over its request budget.",
            ProbeKind::Counter,
            move || Some(a.refused() as f64),
        );
        svc.metrics.add_probe(
            "mamori_client_budgets_tracked",
            "Clients whose request budget is tracked (at most 65,536 and one shared).",
            ProbeKind::Gauge,
            move || Some(b.tracked() as f64),
        );
    }
    let state = AppState { svc, limiter };
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/v1/openapi.json", get(openapi::document))
        .merge(native::routes())
        .merge(admin::routes())
        .merge(kbs::routes())
        .fallback(no_such_endpoint)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// The answer header with the server's id for the request; a client's own
/// value of it is recorded as `client_request_id` (see
/// [`mamori_service::request_id`]).
pub const REQUEST_ID: axum::http::HeaderName = axum::http::HeaderName::from_static("x-request-id");

/// Gives every request an id of the server's, returned in `X-Request-Id`
/// (the client's own, when plain, is kept beside it), and counts
/// every answer by method, route pattern and status with its
/// latency, and writes an access line at debug level (`MAMORI_LOG=
/// info,mamori::access=debug`): at info, thousands of requests a second would
/// fill the log and cost more than the requests' own bookkeeping.
async fn observe(
    State(s): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let start = std::time::Instant::now();
    let method = method_label(req.method());
    // Set by routing (the layer runs on each route); unmatched paths share
    // one label, so made-up paths do not add series.
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .cloned();
    let path = tracing::enabled!(target: "mamori::access", tracing::Level::DEBUG)
        .then(|| req.uri().path().to_owned());
    let ids = RequestIds::new(req.headers().get(REQUEST_ID).map(|v| v.as_bytes()));
    let id = ids.id.clone();
    let client_id = ids.client.clone();
    // The id reaches the lines logged about the request (the access line
    // below, and the refusals and failures in `error`) as a field, not
    // through a tracing span: a span entered at every poll of the request
    // cost 8,000 instructions a request (1.6 % of a KBS flow, measured
    // under callgrind).
    let mut response = ids
        .scope(async {
            match over_budget(&s, &req) {
                Some(wait) => too_many_requests(&req, wait),
                None => next.run(req).await,
            }
        })
        .await;
    if let Ok(v) = axum::http::HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    let secs = start.elapsed().as_secs_f64();
    let route = route.as_ref().map_or("unmatched", |r| r.as_str());
    let status = response.status().as_u16();
    s.svc.metrics.http.observe(method, route, status, secs);
    if let Some(path) = path {
        let client_request_id = client_id.as_ref().map(|c| c.as_str());
        tracing::debug!(target: "mamori::access", request_id = %id, client_request_id, method, path, route, status, micros = (secs * 1e6) as u64, "answered");
    }
    response
}

/// The answer to a client over its budget (in the request's scope, so a
/// native body names the request).
fn too_many_requests(
    req: &axum::extract::Request,
    wait: std::time::Duration,
) -> axum::response::Response {
    // At debug level: under a flood, a line per refusal would cost more
    // than the refusal.
    let ids = RequestIds::current();
    let (request_id, client_request_id) = error::id_fields(ids.as_ref());
    tracing::debug!(
        request_id,
        client_request_id,
        path = req.uri().path(),
        "over the client's request budget"
    );
    error::ApiError {
        retry_after_secs: Some(wait.as_secs().saturating_add(1) as i64),
        ..error::ApiError::new(
            extract::api_of(req.uri()),
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "this client has made too many requests; try again after Retry-After seconds",
        )
    }
    .into_response()
}

/// How long the request's client must wait, when it is over its budget.
/// Health and readiness probes are not counted; nor is a request whose peer is not
/// known (the router served without [`serve`]).
fn over_budget(s: &AppState, req: &axum::extract::Request) -> Option<std::time::Duration> {
    let limiter = s.limiter.as_ref()?;
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()?
        .0;
    // Probes only: `/metrics` counts open sessions in the store, so it is
    // not free to flood.
    if matches!(req.uri().path(), "/healthz" | "/readyz") {
        return None;
    }
    let forwarded = req.headers().get_all("x-forwarded-for");
    let client = limiter.client(peer.ip(), forwarded.iter().map(|v| v.as_bytes()));
    limiter.admit(client, std::time::Instant::now()).err()
}

fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Unknown paths and methods get an error body in their API's form (the
/// stock KBS client parses every error body), not axum's empty one.
async fn no_such_endpoint(uri: axum::http::Uri) -> error::ApiError {
    error::ApiError::new(
        extract::api_of(&uri),
        axum::http::StatusCode::NOT_FOUND,
        "NotFound",
        "no such endpoint",
    )
}

async fn method_not_allowed(uri: axum::http::Uri) -> error::ApiError {
    error::ApiError::new(
        extract::api_of(&uri),
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "this endpoint does not take that method",
    )
}

/// Readiness, as opposed to `/healthz` (liveness: the process answers):
/// whether requests can be carried out, which needs the store.
async fn readyz(State(s): State<AppState>) -> Result<&'static str, error::ApiError> {
    s.svc
        .ready()
        .await
        .map(|()| "ready\n")
        .map_err(|e| error::ApiError::from_service(error::Api::Native, e))
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let open = s.svc.open_sessions(now()).await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.svc.metrics.render(open, s.svc.store().write_stats()),
    )
}

async fn jwks(State(s): State<AppState>) -> impl IntoResponse {
    Json(s.svc.jwks())
}

/// Runs periodic housekeeping until the process ends: purge expired
/// sessions, pick up other nodes' changes, rotate the signing key when due.
/// With a shared store, another node's announced change is picked up at
/// once rather than at the next tick.
pub fn spawn_housekeeping(svc: Arc<Service>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // AMD's CRLs (and Intel's collateral) apart from the rest: a slow
        // KDS or PCS must not hold up purges and reloads. The first round
        // runs at start; the tasks end with this one (their set is dropped
        // when this is aborted).
        let mut crls = tokio::task::JoinSet::new();
        if svc.fetches_from_kds() {
            let svc = svc.clone();
            crls.spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    svc.refresh_snp_crls(now()).await;
                }
            });
        }
        // Intel's collateral likewise: each platform's once a day (checked
        // every 10 minutes, so that a failed refresh is tried again soon).
        if svc.fetches_from_pcs() {
            let svc = svc.clone();
            crls.spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
                loop {
                    tick.tick().await;
                    svc.refresh_dcap_collateral(now()).await;
                }
            });
        }
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        let mut changes = svc.store().changes();
        let mut n: u64 = 0;
        loop {
            let announced = async {
                match changes.as_mut() {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tick.tick() => {}
                ok = announced => {
                    if !ok {
                        changes = None;
                    } else if let Err(e) = svc.reload(now()).await {
                        tracing::warn!(error = %e, "reload after another node's change failed");
                    }
                    continue;
                }
            }
            n += 1;
            let t = now();
            if let Err(e) = svc.reload(t).await {
                tracing::warn!(error = %e, "reload failed");
            }
            if let Err(e) = svc.count_open_sessions(t).await {
                tracing::warn!(error = %e, "counting open sessions failed");
            }
            if let Err(e) = svc.rotate_if_due(t).await {
                tracing::warn!(error = %e, "key rotation failed");
            }
            if n.is_multiple_of(12) {
                match svc.purge(t).await {
                    Ok(k) if k > 0 => tracing::debug!(removed = k, "purged expired sessions"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purge failed"),
                }
                match svc.purge_fetched_vceks(t).await {
                    Ok(k) if k > 0 => tracing::debug!(removed = k, "purged old fetched VCEKs"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purging fetched VCEKs failed"),
                }
                match svc.prune_audit(t).await {
                    Ok(k) if k > 0 => tracing::info!(removed = k, "removed old audit entries"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "audit retention failed"),
                }
            }
        }
    })
}
