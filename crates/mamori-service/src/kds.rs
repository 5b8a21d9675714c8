//! Fetching SEV-SNP collateral from AMD's Key Distribution Service (or a
//! caching proxy that serves the same paths): the VCEK a report was signed
//! with, when the evidence does not carry it, the product's signing chain,
//! and the product's CRL.
//!
//! Everything fetched is public, signed vendor data: it is verified to the
//! pinned AMD roots wherever it is used, exactly like a certificate a guest
//! sends, so a wrong or hostile KDS can make attestation fail but never
//! succeed. What this module adds is availability: answers are kept in the
//! store (shared by the nodes, kept across restarts), one fetch per item
//! runs at a time, failures are remembered for a while so that a flood of
//! attestations does not become a flood of requests to AMD, and at most
//! [`MAX_CONCURRENT_FETCHES`] requests are out at once.

use crate::metrics::Metrics;
use mamori_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tee_snp::kds::{cert_chain_path, crl_path, VcekId};
use tee_snp::Product;

/// Requests to KDS in flight at once, over all items.
pub const MAX_CONCURRENT_FETCHES: usize = 4;
/// Requests to KDS at most, over all items: a burst, then one every
/// [`BUDGET_REFILL_SECS`]. Items named by attesters (a chip id and TCB)
/// are cheap to make up, and each distinct one would cost a request to
/// AMD; a fleet meets a new chip or TCB rarely.
const BUDGET_BURST: i64 = 20;
const BUDGET_REFILL_SECS: i64 = 3;
/// How long a request waits for one of the [`MAX_CONCURRENT_FETCHES`].
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer accepted: a VCEK is about 1.4 KB, a chain about 4 KB.
const MAX_BODY: usize = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long an answer that an item does not exist is believed: KDS answers
/// 404 for a chip or TCB it does not know (or a forged chip id).
const NOT_FOUND_FOR_SECS: i64 = 600;
/// How long other failures (timeouts, 5xx) keep an item from being asked
/// for again, and the wait after a 429 without a usable Retry-After.
const FAILURE_FOR_SECS: i64 = 30;
/// Longest wait a 429's Retry-After may impose.
const MAX_RETRY_AFTER_SECS: i64 = 600;
/// Remembered failures kept at most (one per distinct item asked for).
const MAX_REMEMBERED_FAILURES: usize = 4_096;

/// Why an item could not be had from KDS.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// KDS does not have it (HTTP 404): for a VCEK, AMD knows no such chip
    /// at that TCB.
    #[error("{url}: AMD's KDS has no such item (HTTP 404)")]
    NotFound { url: String },
    /// KDS limits requests per client, not per item: nothing is asked of
    /// it until the wait is over.
    #[error("{url}: rate limited by the KDS (HTTP 429); nothing is asked of it for {retry_after_secs} s")]
    RateLimited { url: String, retry_after_secs: i64 },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url}: the answer is not {expected}")]
    Malformed { url: String, expected: &'static str },
    /// This node's own limit on requests to KDS was reached.
    #[error("too many new items asked of the KDS lately; try again in {retry_after_secs} s")]
    Budget { retry_after_secs: i64 },
    #[error("every connection to the KDS stayed busy for {}s", QUEUE_TIMEOUT.as_secs())]
    Busy,
    /// A recent failure for the same item, not retried yet.
    #[error("{0} (remembered; retried after {1} s)")]
    Remembered(Box<FetchError>, i64),
}

impl FetchError {
    /// The item does not exist, as opposed to KDS being unreachable: the
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

    /// Nothing more should be asked of KDS now (other candidates included).
    pub fn stops_fetching(&self) -> bool {
        match self {
            FetchError::RateLimited { .. } | FetchError::Budget { .. } | FetchError::Busy => true,
            FetchError::Remembered(e, _) => e.stops_fetching(),
            _ => false,
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

/// The items fetched.
#[derive(Clone, Copy)]
enum Item {
    Vcek,
    CertChain,
    Crl,
}

impl Item {
    fn name(self) -> &'static str {
        match self {
            Item::Vcek => "vcek",
            Item::CertChain => "cert_chain",
            Item::Crl => "crl",
        }
    }

    /// Immutable items are served from the cache whenever it has them: a
    /// VCEK names one chip and TCB, and a product's chain changes only
    /// when AMD reissues its signing key, which is then a new certificate
    /// that verification accepts or refuses on its own. A CRL is fetched
    /// whenever it is asked for, and cached only once the service has
    /// accepted it ([`Kds::keep_crl`]).
    fn immutable(self) -> bool {
        !matches!(self, Item::Crl)
    }

    /// The store key: the kind of item first, so that one kind can be
    /// purged ([`VCEK_KEYS`]).
    fn key(self, path: &str) -> String {
        format!("kds:{}:{path}", self.name())
    }
}

/// The store keys of fetched VCEKs start so.
pub const VCEK_KEYS: &str = "kds:vcek:";
/// A fetched VCEK is kept this long (then fetched again when a report
/// needs it): attesters name the items, so they must not pile up.
pub const VCEK_KEPT_SECS: i64 = 30 * 86_400;

/// Checks an answer and returns its DER objects; `Err` says what it
/// should have been.
type Accept<'a> = &'a (dyn Fn(&[u8]) -> Result<Vec<Vec<u8>>, &'static str> + Sync);

/// One DER certificate: the VCEK `id` names (its AMD extensions say so).
fn accept_vcek(id: &VcekId) -> impl Fn(&[u8]) -> Result<Vec<Vec<u8>>, &'static str> + Sync + '_ {
    move |body| {
        let cert = mamori_x509::Certificate::from_der(body).map_err(|_| "a DER certificate")?;
        let info = tee_snp::EndorsementInfo::from_certificate(&cert)
            .map_err(|_| "a VCEK (AMD extensions)")?;
        match VcekId::of_certificate(&info) {
            Some(got) if got.same_key(id) => Ok(vec![body.to_vec()]),
            _ => Err("the VCEK of the chip and TCB asked for"),
        }
    }
}

/// PEM certificates, at least two (ASK then ARK).
fn accept_chain(body: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let ders: Vec<Vec<u8>> = x509_parser::pem::Pem::iter_from_buffer(body)
        .map_while(Result::ok)
        .filter(|p| p.label == "CERTIFICATE")
        .map(|p| p.contents)
        .collect();
    if ders.len() < 2
        || ders
            .iter()
            .any(|d| mamori_x509::Certificate::from_der(d).is_err())
    {
        return Err("a PEM certificate chain (ASK, ARK)");
    }
    Ok(ders)
}

/// One DER CRL.
fn accept_crl(body: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    mamori_x509::Crl::from_der(body).map_err(|_| "a DER CRL")?;
    Ok(vec![body.to_vec()])
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

/// A fetcher for one KDS base URL, sharing its cache through the store.
pub struct Kds {
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

impl Kds {
    /// A fetcher for `base` (e.g. `https://kdsintf.amd.com`), caching in
    /// `store`.
    ///
    /// # Errors
    /// The URL is not http(s) or the HTTP client cannot be built.
    pub fn new(base: &str, store: Store) -> Result<Self, String> {
        let base = parse_base(base)?;
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
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
            // KDS answers without redirects; following one could leave
            // https or the configured host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mamori/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Kds {
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

    /// The VCEK named by `id` (DER), checked to be that chip's at that
    /// TCB before it is cached. Fetches are counted in `metrics`.
    ///
    /// # Errors
    /// It could not be had (see [`FetchError`]).
    pub async fn vcek(
        &self,
        id: &VcekId,
        now: i64,
        metrics: &Metrics,
    ) -> Result<Vec<u8>, FetchError> {
        let accept = accept_vcek(id);
        let mut ders = self
            .item(Item::Vcek, &id.path(), &accept, now, metrics)
            .await?;
        Ok(ders.pop().unwrap_or_default())
    }

    /// The product's ASK and ARK as KDS serves them (DER). AMD's are
    /// compiled in, so this is needed only for other roots.
    ///
    /// # Errors
    /// It could not be had (see [`FetchError`]).
    pub async fn cert_chain(
        &self,
        product: Product,
        now: i64,
        metrics: &Metrics,
    ) -> Result<Vec<Vec<u8>>, FetchError> {
        self.item(
            Item::CertChain,
            &cert_chain_path(product),
            &accept_chain,
            now,
            metrics,
        )
        .await
    }

    /// The product's CRL (DER), fetched now and not cached: the service
    /// keeps it ([`Kds::keep_crl`]) once it has checked it.
    ///
    /// # Errors
    /// It could not be had (see [`FetchError`]).
    pub async fn crl(
        &self,
        product: Product,
        now: i64,
        metrics: &Metrics,
    ) -> Result<Vec<u8>, FetchError> {
        let mut ders = self
            .item(Item::Crl, &crl_path(product), &accept_crl, now, metrics)
            .await?;
        Ok(ders.pop().unwrap_or_default())
    }

    /// The product's CRL as last kept (by any node), and when.
    pub async fn cached_crl(&self, product: Product) -> Option<(Vec<u8>, i64)> {
        let key = Item::Crl.key(&crl_path(product));
        match self.store.get_collateral(&key).await {
            Ok(Some(rec)) => Some((rec.body, rec.fetched_at)),
            _ => None,
        }
    }

    /// Keeps a CRL the service accepted, for restarts and other nodes.
    pub async fn keep_crl(&self, product: Product, der: &[u8], now: i64) {
        let key = Item::Crl.key(&crl_path(product));
        if let Err(e) = self.store.put_collateral(&key, der, now).await {
            tracing::warn!(item = key, error = %e, "could not keep the KDS CRL");
        }
    }

    /// One item: from the store when cached (immutable items), else
    /// fetched (once, however many ask at the same moment).
    async fn item(
        &self,
        item: Item,
        path: &str,
        accept: Accept<'_>,
        now: i64,
        metrics: &Metrics,
    ) -> Result<Vec<Vec<u8>>, FetchError> {
        let key = item.key(path);
        if item.immutable() {
            if let Some(ders) = self.cached(&key, accept).await {
                return Ok(ders);
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
        if item.immutable() {
            if let Some(ders) = self.cached(&key, accept).await {
                return Ok(ders);
            }
        }
        let result = self.fetch(path, &key, accept, now).await;
        match &result {
            Ok((body, _)) => {
                metrics.collateral_fetch(item.name(), "fetched");
                if item.immutable() {
                    if let Err(e) = self.store.put_collateral(&key, body, now).await {
                        tracing::warn!(item = key, error = %e, "could not cache KDS collateral");
                    }
                }
            }
            Err(e) => {
                metrics.collateral_fetch(item.name(), e.outcome());
                if !matches!(e, FetchError::Remembered(..)) {
                    tracing::warn!(error = %e, "KDS fetch failed");
                }
            }
        }
        result.map(|(_, ders)| ders)
    }

    /// The item from the store, if cached and acceptable (an entry that
    /// is not is fetched again and replaced).
    async fn cached(&self, key: &str, accept: Accept<'_>) -> Option<Vec<Vec<u8>>> {
        match self.store.get_collateral(key).await {
            Ok(Some(rec)) => accept(&rec.body).ok(),
            Ok(None) => None,
            Err(e) => {
                // The store being down must not stop a fetch.
                tracing::warn!(item = key, error = %e, "could not read cached KDS collateral");
                None
            }
        }
    }

    /// Asks KDS, unless a failure for the item is remembered, KDS asked
    /// for a pause, or the budget is spent; a failure is remembered.
    async fn fetch(
        &self,
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
        let result = self.get(path, accept).await;
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
        let ders = accept(&body).map_err(|expected| FetchError::Malformed {
            url: shown,
            expected,
        })?;
        Ok((body, ders))
    }
}

/// The base URL with a trailing slash, so that paths join under it (a
/// proxy may serve KDS under a path prefix).
fn parse_base(base: &str) -> Result<reqwest::Url, String> {
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

/// Checks a configured KDS URL without building a client (`serve --check`).
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
    fn answers_are_checked_before_they_are_kept() {
        assert!(accept_crl(b"<html>busy</html>").is_err());
        assert!(accept_chain(b"").is_err());
        let one = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(accept_chain(one.repeat(2).as_bytes()).is_err());
        let id = VcekId {
            product: Product::Milan,
            hwid: vec![1; 64],
            tcb: tee_snp::TcbVersion(0),
        };
        assert!(accept_vcek(&id)(b"not a certificate").is_err());
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
