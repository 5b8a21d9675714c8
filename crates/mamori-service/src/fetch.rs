//! Fetching vendor collateral over HTTP for the services that publish it
//! (AMD's KDS, Intel's PCS or a PCCS): the machinery they share. Answers
//! are kept in the store (shared by the nodes, kept across restarts), one
//! fetch per item runs at a time, failures are remembered for a while, a
//! vendor's 429 pauses every request to it, and each node asks at most a
//! burst and then one request every few seconds, so that a flood of
//! attestations naming made-up items cannot become a flood of requests to
//! the vendor.
//!
//! Everything fetched is public, signed vendor data, verified wherever it
//! is used exactly like collateral an operator configures: a wrong or
//! hostile server can make attestation fail but never succeed.

use crate::metrics::Metrics;
use mamori_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Requests to one service in flight at once, over all items.
pub const MAX_CONCURRENT_FETCHES: usize = 4;
/// Requests to one service at most, over all items: a burst, then one
/// every [`BUDGET_REFILL_SECS`]. Items named by attesters (a chip id and
/// TCB, an FMSPC) are cheap to make up, and each distinct one would cost a
/// request to the vendor; a fleet meets a new platform rarely.
const BUDGET_BURST: i64 = 20;
const BUDGET_REFILL_SECS: i64 = 3;
/// How long a request waits for one of the [`MAX_CONCURRENT_FETCHES`].
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer accepted: a VCEK is about 1.4 KB, a chain about 4 KB.
const MAX_BODY: usize = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long an answer that an item does not exist is believed: KDS answers
/// 404 for a chip or TCB it does not know (or a forged chip id), PCS for
/// an unknown FMSPC.
const NOT_FOUND_FOR_SECS: i64 = 600;
/// How long other failures (timeouts, 5xx) keep an item from being asked
/// for again, and the wait after a 429 without a usable Retry-After.
const FAILURE_FOR_SECS: i64 = 30;
/// Longest wait a 429's Retry-After may impose.
const MAX_RETRY_AFTER_SECS: i64 = 600;
/// Remembered failures kept at most (one per distinct item asked for).
const MAX_REMEMBERED_FAILURES: usize = 4_096;

/// Why an item could not be had.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The service does not have it (HTTP 404): for a VCEK, AMD knows no
    /// such chip at that TCB.
    #[error("{url}: no such item (HTTP 404)")]
    NotFound { url: String },
    /// Vendors limit requests per client, not per item: nothing is asked
    /// of the service until the wait is over.
    #[error(
        "{url}: rate limited (HTTP 429); nothing is asked of the service for {retry_after_secs} s"
    )]
    RateLimited { url: String, retry_after_secs: i64 },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url}: the answer is not {expected}")]
    Malformed { url: String, expected: &'static str },
    /// This node's own limit on requests to the service was reached.
    #[error("too many new items asked of the vendor's service lately; try again in {retry_after_secs} s")]
    Budget { retry_after_secs: i64 },
    #[error("every connection to the vendor's service stayed busy for {}s", QUEUE_TIMEOUT.as_secs())]
    Busy,
    /// A recent failure for the same item, not retried yet.
    #[error("{0} (remembered; retried after {1} s)")]
    Remembered(Box<FetchError>, i64),
}

impl FetchError {
    /// The item does not exist, as opposed to the service being unreachable: the
    /// evidence is then refused, not answered with "try again".
    pub fn is_not_found(&self) -> bool {
        match self {
            FetchError::NotFound { .. } => true,
            FetchError::Remembered(e, _) => e.is_not_found(),
            _ => false,
        }
    }

    /// Seconds before asking again can help.
    pub fn retry_after_secs(&self) -> i64 {
        match self {
            FetchError::RateLimited {
                retry_after_secs, ..
            }
            | FetchError::Budget { retry_after_secs } => *retry_after_secs,
            FetchError::Remembered(_, secs) => *secs,
            FetchError::Busy => 1,
            _ => FAILURE_FOR_SECS,
        }
    }

    /// Nothing more should be asked of the service now (other candidates
    /// included).
    pub fn stops_fetching(&self) -> bool {
        match self {
            FetchError::RateLimited { .. } | FetchError::Budget { .. } | FetchError::Busy => true,
            FetchError::Remembered(e, _) => e.stops_fetching(),
            _ => false,
        }
    }

    /// The failure as the client sees it: an item the service does not
    /// publish refuses the evidence (`check` names it); anything else
    /// may pass, so it is 503 with the remembered wait. `what` names the
    /// item for the message.
    pub fn to_service_error(&self, check: &'static str, what: &str) -> crate::ServiceError {
        if self.is_not_found() {
            crate::evidence::rejected(check, format!("{what} is not published: {self}"))
        } else {
            crate::ServiceError::CollateralUnavailable {
                message: format!("{what} could not be fetched: {self}"),
                retry_after_secs: self.retry_after_secs(),
            }
        }
    }

    fn outcome(&self) -> &'static str {
        match self {
            FetchError::NotFound { .. } => "not_found",
            FetchError::RateLimited { .. } => "rate_limited",
            FetchError::Status { .. } => "http_error",
            FetchError::Transport { .. } => "unreachable",
            FetchError::Malformed { .. } => "malformed",
            FetchError::Budget { .. } => "over_budget",
            FetchError::Busy => "busy",
            FetchError::Remembered(..) => "remembered_failure",
        }
    }
}

/// Checks an answer (the body, and the header asked for if any) and
/// returns the parts to hand over; `Err` says what it should have been.
pub type Accept<'a> =
    &'a (dyn Fn(&[u8], Option<&str>) -> Result<Vec<Vec<u8>>, &'static str> + Sync);

/// One kind of item: its name (metrics, store keys), the response header
/// kept with it, and whether a cached copy is served without asking.
#[derive(Clone, Copy, Debug)]
pub struct Kind {
    pub name: &'static str,
    pub header: Option<&'static str>,
    /// Immutable items are served from the cache whenever it has them;
    /// others are fetched whenever they are asked for ([`Fetcher::fresh`]).
    pub immutable: bool,
}

impl Kind {
    /// The store key: the service and kind first, so that one kind can be
    /// purged by prefix.
    pub fn key(self, service: &str, path: &str) -> String {
        format!("{service}:{}:{path}", self.name)
    }
}

/// What is stored for an item kept with a header: the header's length
/// (4 bytes, big-endian), the header, the body.
fn envelope(body: &[u8], header: Option<&str>) -> Vec<u8> {
    match header {
        None => body.to_vec(),
        Some(h) => {
            let len = u32::try_from(h.len()).unwrap_or(u32::MAX);
            let mut out = Vec::with_capacity(4 + h.len() + body.len());
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(body);
            out
        }
    }
}

/// The body and header of a stored item of `kind`.
fn open_envelope(kind: Kind, stored: &[u8]) -> Option<(&[u8], Option<&str>)> {
    if kind.header.is_none() {
        return Some((stored, None));
    }
    let (len, rest) = stored.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    let header = std::str::from_utf8(rest.get(..len)?).ok()?;
    Some((rest.get(len..)?, Some(header)))
}

/// A fetcher for one service's base URL, sharing its cache through the
/// store.
pub struct Fetcher {
    /// `kds`, `pcs`: in store keys and logs.
    service: &'static str,
    base: reqwest::Url,
    http: reqwest::Client,
    store: Store,
    /// One fetch per item at a time: the others wait for it and then read
    /// what it cached.
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Items that failed recently, with the failure and until when it
    /// stands (Unix seconds).
    failures: Mutex<HashMap<String, (FetchError, i64)>>,
    /// After a 429 nothing is asked until then (Unix seconds), with the
    /// failure to answer meanwhile.
    blocked: Mutex<Option<(FetchError, i64)>>,
    budget: Mutex<Budget>,
    permits: tokio::sync::Semaphore,
}

impl Fetcher {
    /// A fetcher for `base`, caching in `store` under keys that start
    /// with `service`, trusting Mozilla's roots and those in `ca_file`.
    ///
    /// # Errors
    /// The URL is not http(s) or the HTTP client cannot be built.
    pub fn new(
        service: &'static str,
        base: &str,
        store: Store,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, String> {
        let base = parse_base(base)?;
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_file {
            for der in ca_certificates(path)? {
                roots
                    .add(der.into())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // The vendors answer without redirects; following one could
            // leave https or the configured host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mamori/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Fetcher {
            service,
            base,
            http,
            store,
            inflight: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            blocked: Mutex::new(None),
            budget: Mutex::new(Budget {
                tokens: BUDGET_BURST,
                at: i64::MIN,
            }),
            permits: tokio::sync::Semaphore::new(MAX_CONCURRENT_FETCHES),
        })
    }

    /// The base URL, for logs.
    pub fn base(&self) -> &str {
        self.base.as_str()
    }

    /// The store key of an item.
    pub fn key(&self, kind: Kind, path: &str) -> String {
        kind.key(self.service, path)
    }

    /// One item: from the store when cached (immutable kinds), else
    /// fetched (once, however many ask at the same moment) and, for
    /// immutable kinds, cached.
    ///
    /// # Errors
    /// It could not be had (see [`FetchError`]).
    pub async fn item(
        &self,
        kind: Kind,
        path: &str,
        accept: Accept<'_>,
        now: i64,
        metrics: &Metrics,
    ) -> Result<Vec<Vec<u8>>, FetchError> {
        let key = self.key(kind, path);
        if kind.immutable {
            if let Some(parts) = self.cached(kind, &key, accept).await {
                return Ok(parts);
            }
        }
        let gate = {
            let mut m = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            m.entry(key.clone()).or_default().clone()
        };
        let guard = GateGuard {
            map: &self.inflight,
            key: &key,
            gate,
        };
        let _held = guard.gate.lock().await;
        // Whoever held the gate before may have cached it, or failed.
        if kind.immutable {
            if let Some(parts) = self.cached(kind, &key, accept).await {
                return Ok(parts);
            }
        }
        let result = self.fetch(kind, path, &key, accept, now).await;
        self.count(kind, &result, metrics);
        if let (Ok((stored, _)), true) = (&result, kind.immutable) {
            self.keep(&key, stored, now).await;
        }
        result.map(|(_, parts)| parts)
    }

    /// A fresh copy of a mutable item: the parts and what to keep (with
    /// [`Fetcher::keep`]) once the caller has accepted it.
    ///
    /// # Errors
    /// It could not be had (see [`FetchError`]).
    pub async fn fresh(
        &self,
        kind: Kind,
        path: &str,
        accept: Accept<'_>,
        now: i64,
        metrics: &Metrics,
    ) -> Result<(Vec<Vec<u8>>, Vec<u8>), FetchError> {
        let key = self.key(kind, path);
        let result = self.fetch(kind, path, &key, accept, now).await;
        self.count(kind, &result, metrics);
        result.map(|(stored, parts)| (parts, stored))
    }

    /// Counts a fetch by outcome, and logs a failure (not a remembered
    /// one: it was logged when it happened).
    fn count<T>(&self, kind: Kind, result: &Result<T, FetchError>, metrics: &Metrics) {
        match result {
            Ok(_) => metrics.collateral_fetch(kind.name, "fetched"),
            Err(e) => {
                metrics.collateral_fetch(kind.name, e.outcome());
                if !matches!(e, FetchError::Remembered(..)) {
                    tracing::warn!(service = self.service, error = %e, "collateral fetch failed");
                }
            }
        }
    }

    /// The item as last kept (by any node), accepted again, and when it
    /// was fetched.
    pub async fn kept(
        &self,
        kind: Kind,
        path: &str,
        accept: Accept<'_>,
    ) -> Option<(Vec<Vec<u8>>, i64)> {
        let key = self.key(kind, path);
        let rec = self.store.get_collateral(&key).await.ok()??;
        let (body, header) = open_envelope(kind, &rec.body)?;
        Some((accept(body, header).ok()?, rec.fetched_at))
    }

    /// Keeps what [`Fetcher::fresh`] returned to keep, under `key`.
    pub async fn keep(&self, key: &str, stored: &[u8], now: i64) {
        if let Err(e) = self.store.put_collateral(key, stored, now).await {
            tracing::warn!(item = key, error = %e, "could not keep fetched collateral");
        }
    }

    /// The item from the store, if cached and acceptable (an entry that
    /// is not is fetched again and replaced).
    async fn cached(&self, kind: Kind, key: &str, accept: Accept<'_>) -> Option<Vec<Vec<u8>>> {
        match self.store.get_collateral(key).await {
            Ok(Some(rec)) => {
                let (body, header) = open_envelope(kind, &rec.body)?;
                accept(body, header).ok()
            }
            Ok(None) => None,
            Err(e) => {
                // The store being down must not stop a fetch.
                tracing::warn!(item = key, error = %e, "could not read cached collateral");
                None
            }
        }
    }

    /// Asks the service, unless a failure for the item is remembered, the
    /// service asked for a pause, or the budget is spent; a failure is
    /// remembered. Returns what to store and the accepted parts.
    async fn fetch(
        &self,
        kind: Kind,
        path: &str,
        key: &str,
        accept: Accept<'_>,
        now: i64,
    ) -> Result<(Vec<u8>, Vec<Vec<u8>>), FetchError> {
        if let Some(e) = self.remembered(key, now) {
            return Err(e);
        }
        {
            let blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((e, until)) = blocked.as_ref().filter(|(_, until)| *until > now) {
                return Err(FetchError::Remembered(Box::new(e.clone()), until - now));
            }
        }
        let permit = tokio::time::timeout(QUEUE_TIMEOUT, self.permits.acquire())
            .await
            .map_err(|_| FetchError::Busy)?
            .map_err(|_| FetchError::Busy)?;
        self.budget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(now)
            .map_err(|retry_after_secs| FetchError::Budget { retry_after_secs })?;
        let result = self.get(kind, path, accept).await;
        drop(permit);
        if let Err(e) = &result {
            if let FetchError::RateLimited {
                retry_after_secs, ..
            } = e
            {
                *self.blocked.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((e.clone(), now.saturating_add(*retry_after_secs)));
            }
            self.remember(key, e.clone(), now);
        }
        result
    }
    fn remembered(&self, key: &str, now: i64) -> Option<FetchError> {
        let mut m = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match m.get(key) {
            Some((e, until)) if *until > now => {
                Some(FetchError::Remembered(Box::new(e.clone()), until - now))
            }
            Some(_) => {
                m.remove(key);
                None
            }
            None => None,
        }
    }

    fn remember(&self, key: &str, e: FetchError, now: i64) {
        let for_secs = match &e {
            FetchError::NotFound { .. } => NOT_FOUND_FOR_SECS,
            FetchError::RateLimited {
                retry_after_secs, ..
            } => *retry_after_secs,
            _ => FAILURE_FOR_SECS,
        };
        let mut m = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_REMEMBERED_FAILURES {
            m.retain(|_, (_, until)| *until > now);
            // Still full: the oldest-expiring go first. The budget bounds
            // how fast entries arrive, so this is rare.
            while m.len() >= MAX_REMEMBERED_FAILURES {
                let Some(k) = m
                    .iter()
                    .min_by_key(|(_, (_, until))| *until)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                m.remove(&k);
            }
        }
        m.insert(key.to_owned(), (e, now.saturating_add(for_secs)));
    }

    /// One GET, its answer bounded in size and checked.
    async fn get(
        &self,
        kind: Kind,
        path: &str,
        accept: Accept<'_>,
    ) -> Result<(Vec<u8>, Vec<Vec<u8>>), FetchError> {
        let url = self.base.join(path).map_err(|e| FetchError::Transport {
            url: format!("{}{path}", self.base),
            reason: e.to_string(),
        })?;
        let shown = url.to_string();
        let transport = |e: reqwest::Error| FetchError::Transport {
            url: shown.clone(),
            reason: e.to_string(),
        };
        let mut response = self.http.get(url).send().await.map_err(transport)?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(FetchError::NotFound { url: shown });
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let retry_after_secs = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|s| *s > 0)
                .unwrap_or(FAILURE_FOR_SECS)
                .min(MAX_RETRY_AFTER_SECS);
            return Err(FetchError::RateLimited {
                url: shown,
                retry_after_secs,
            });
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                url: shown,
                status: status.as_u16(),
            });
        }
        let header = match kind.header {
            None => None,
            Some(name) => Some(
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .ok_or(FetchError::Malformed {
                        url: shown.clone(),
                        expected: "an answer with its issuer-chain header",
                    })?,
            ),
        };
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(FetchError::Malformed {
                    url: shown,
                    expected: "at most 64 KiB",
                });
            }
            body.extend_from_slice(&chunk);
        }
        let parts = accept(&body, header.as_deref()).map_err(|expected| FetchError::Malformed {
            url: shown,
            expected,
        })?;
        Ok((envelope(&body, header.as_deref()), parts))
    }
}

/// A token bucket over Unix seconds (time is passed in).
struct Budget {
    tokens: i64,
    at: i64,
}

impl Budget {
    /// Takes a token, or says in how many seconds one will be there.
    fn take(&mut self, now: i64) -> Result<(), i64> {
        let earned = now.saturating_sub(self.at) / BUDGET_REFILL_SECS;
        if earned > 0 {
            self.tokens = self.tokens.saturating_add(earned).min(BUDGET_BURST);
            self.at = if self.tokens == BUDGET_BURST {
                now
            } else {
                self.at
                    .saturating_add(earned.saturating_mul(BUDGET_REFILL_SECS))
            };
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            Ok(())
        } else {
            Err(self
                .at
                .saturating_add(BUDGET_REFILL_SECS)
                .saturating_sub(now)
                .max(1))
        }
    }
}

/// Removes an item's gate when the last holder leaves, also when the
/// request that held it was cancelled (the client went away).
struct GateGuard<'a> {
    map: &'a Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    key: &'a str,
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        // The map holds one count and this guard another.
        if Arc::strong_count(&self.gate) <= 2 {
            m.remove(self.key);
        }
    }
}

/// The base URL with a trailing slash, so that paths join under it (a
/// proxy may serve the vendor's paths under a prefix).
pub(crate) fn parse_base(base: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(base).map_err(|e| format!("{base:?}: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(format!("{base:?}: expected an https:// (or http://) URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{base:?}: a base URL has no query or fragment"));
    }
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    Ok(url)
}

/// An item's whole URL (`[dcap] root_ca_crl_url`) as a base URL and the
/// path of the item under it, for a [`Fetcher`].
///
/// # Errors
/// It is not an http(s) URL of an item (a path that names a file, no
/// query or fragment).
pub(crate) fn split_item_url(url: &str) -> Result<(String, String), String> {
    let whole = parse_base(url)?;
    // parse_base checked the scheme, query and fragment; the path as
    // parsed (normalised) must name an item, not a folder.
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?}: {e}"))?;
    let Some((dir, item)) = parsed
        .path()
        .rsplit_once('/')
        .filter(|(_, item)| !item.is_empty())
    else {
        return Err(format!(
            "{url:?}: expected the URL of an item, not of a folder or host"
        ));
    };
    let mut base = whole;
    base.set_path(&format!("{dir}/"));
    // The item must join back to the very URL: a segment such as `a:b`
    // would be read as a URL of its own.
    if base.join(item).ok().as_ref() != Some(&parsed) {
        return Err(format!(
            "{url:?}: the item's name does not join back to the URL"
        ));
    }
    Ok((base.to_string(), item.to_owned()))
}

/// Checks a configured item URL without building a client.
///
/// # Errors
/// What is wrong with it.
pub fn check_item_url(url: &str) -> Result<(), String> {
    split_item_url(url).map(|_| ())
}

/// The certificates (DER) of a PEM CA file; at least one.
///
/// # Errors
/// The file cannot be read or holds no certificate.
pub fn ca_certificates(path: &std::path::Path) -> Result<Vec<Vec<u8>>, String> {
    let named = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let pem = std::fs::read(path).map_err(|e| named(&e))?;
    match certificates(&pem) {
        Some(ders) if !ders.is_empty() => Ok(ders),
        _ => Err(named(&"no PEM certificate in the CA file")),
    }
}

/// The certificates (DER) in PEM or DER bytes, each parsed; `None` when
/// the bytes are not X.509 or a block is broken.
pub fn certificates(bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let blobs = mamori_x509::split_blobs(bytes).ok()??;
    Some(
        blobs
            .iter()
            .filter_map(|b| match b {
                mamori_x509::Blob::Certificate(c) => Some(c.der().to_vec()),
                mamori_x509::Blob::Crl(_) => None,
            })
            .collect(),
    )
}

/// Checks a configured service URL (`[snp] kds_url`, `[dcap] pcs_url`)
/// without building a client.
///
/// # Errors
/// What is wrong with it.
pub fn check_url(base: &str) -> Result<(), String> {
    parse_base(base).map(|_| ())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn base_urls_join_paths_under_them() {
        let b = parse_base("https://kdsintf.amd.com").unwrap();
        assert_eq!(
            b.join("vcek/v1/Milan/cert_chain").unwrap().as_str(),
            "https://kdsintf.amd.com/vcek/v1/Milan/cert_chain"
        );
        let b = parse_base("http://proxy.internal:8080/amd").unwrap();
        assert_eq!(
            b.join("vcek/v1/Genoa/crl").unwrap().as_str(),
            "http://proxy.internal:8080/amd/vcek/v1/Genoa/crl"
        );
        for bad in ["ftp://x", "not a url", "https://x/?a=1", "https://x/#f"] {
            assert!(parse_base(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn item_urls_split_into_a_base_and_the_item() {
        let (base, item) =
            split_item_url("https://certificates.trustedservices.intel.com/IntelSGXRootCA.der")
                .unwrap();
        assert_eq!(base, "https://certificates.trustedservices.intel.com/");
        assert_eq!(item, "IntelSGXRootCA.der");
        let (base, item) =
            split_item_url("https://pccs:8081/sgx/certification/v4/rootcacrl").unwrap();
        assert_eq!(
            parse_base(&base).unwrap().join(&item).unwrap().as_str(),
            "https://pccs:8081/sgx/certification/v4/rootcacrl"
        );
        for bad in [
            "https://host",
            "https://host/",
            "https://host/dir/",
            "https://host/dir/.",
            "https://host/crl?x=1",
            "https://host/crl#f",
            "https://host/dir/a:b",
            "ftp://host/crl",
        ] {
            assert!(split_item_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stored_items_keep_their_header() {
        let with = Kind {
            name: "tcb_info",
            header: Some("TCB-Info-Issuer-Chain"),
            immutable: false,
        };
        let stored = envelope(b"{body}", Some("chain%20pem"));
        assert_eq!(
            open_envelope(with, &stored),
            Some((&b"{body}"[..], Some("chain%20pem")))
        );
        assert_eq!(open_envelope(with, &[0, 0, 0, 9, b'x']), None);
        let without = Kind {
            header: None,
            ..with
        };
        assert_eq!(envelope(b"der", None), b"der");
        assert_eq!(open_envelope(without, b"der"), Some((&b"der"[..], None)));
    }

    #[test]
    fn the_budget_allows_a_burst_then_one_request_per_refill() {
        let mut b = Budget {
            tokens: BUDGET_BURST,
            at: i64::MIN,
        };
        for _ in 0..BUDGET_BURST {
            b.take(1_000).unwrap();
        }
        assert_eq!(b.take(1_000), Err(BUDGET_REFILL_SECS));
        assert!(b.take(1_000 + BUDGET_REFILL_SECS - 1).is_err());
        b.take(1_000 + BUDGET_REFILL_SECS).unwrap();
        assert!(b.take(1_000 + BUDGET_REFILL_SECS).is_err());
        // A long pause refills to the burst, not beyond.
        for _ in 0..BUDGET_BURST {
            b.take(100_000).unwrap();
        }
        assert!(b.take(100_000).is_err());
    }
}
