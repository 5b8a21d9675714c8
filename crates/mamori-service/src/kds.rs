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
    #[error("{url}: rate limited by the KDS (HTTP 429); not asked again for {retry_after_secs} s")]
    RateLimited { url: String, retry_after_secs: i64 },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url}: the answer is not {expected}")]
    Malformed { url: String, expected: &'static str },
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

    fn outcome(&self) -> &'static str {
        match self {
            FetchError::NotFound { .. } => "not_found",
            FetchError::RateLimited { .. } => "rate_limited",
            FetchError::Status { .. } => "http_error",
            FetchError::Transport { .. } => "unreachable",
            FetchError::Malformed { .. } => "malformed",
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

    fn shape(self) -> Shape {
        match self {
            Item::Vcek => Shape::DerCertificate,
            Item::CertChain => Shape::PemChain,
            Item::Crl => Shape::DerCrl,
        }
    }

    /// Immutable items are served from the cache whenever it has them;
    /// a CRL is fetched again whenever it is asked for.
    fn immutable(self) -> bool {
        !matches!(self, Item::Crl)
    }
}

/// What an item's answer must be before it is cached.
#[derive(Clone, Copy)]
enum Shape {
    /// One DER certificate (a VCEK).
    DerCertificate,
    /// PEM certificates, at least two (ASK then ARK).
    PemChain,
    /// One DER CRL.
    DerCrl,
}

impl Shape {
    fn check(self, body: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
        match self {
            Shape::DerCertificate => {
                mamori_x509::Certificate::from_der(body).map_err(|_| "a DER certificate")?;
                Ok(vec![body.to_vec()])
            }
            Shape::DerCrl => {
                mamori_x509::Crl::from_der(body).map_err(|_| "a DER CRL")?;
                Ok(vec![body.to_vec()])
            }
            Shape::PemChain => {
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
            // Redirects stay on the same scheme and are few; KDS uses none.
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("mamori/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Kds {
            base,
            http,
            store,
            inflight: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            permits: tokio::sync::Semaphore::new(MAX_CONCURRENT_FETCHES),
        })
    }

    /// The base URL, for logs.
    pub fn base(&self) -> &str {
        self.base.as_str()
    }

    /// The VCEK named by `id` and its product's signing chain, DER, VCEK
    /// first: what a report without certificates is verified with. Fetches
    /// are counted in `metrics`.
    ///
    /// # Errors
    /// Either item could not be had (see [`FetchError`]).
    pub async fn vcek_chain(
        &self,
        id: &VcekId,
        now: i64,
        metrics: &Metrics,
    ) -> Result<Vec<Vec<u8>>, FetchError> {
        let mut ders = self.item(Item::Vcek, &id.path(), now, metrics).await?;
        ders.extend(self.chain(id.product, now, metrics).await?);
        Ok(ders)
    }

    /// The product's ASK and ARK as KDS serves them.
    async fn chain(
        &self,
        product: Product,
        now: i64,
        metrics: &Metrics,
    ) -> Result<Vec<Vec<u8>>, FetchError> {
        self.item(Item::CertChain, &cert_chain_path(product), now, metrics)
            .await
    }

    /// The product's CRL (DER), fetched now; the fetch is cached.
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
            .item(Item::Crl, &crl_path(product), now, metrics)
            .await?;
        Ok(ders.pop().unwrap_or_default())
    }

    /// The product's CRL as last fetched (by any node), and when.
    pub async fn cached_crl(&self, product: Product) -> Option<(Vec<u8>, i64)> {
        let key = format!("kds:{}", crl_path(product));
        match self.store.get_collateral(&key).await {
            Ok(Some(rec)) => Some((rec.body, rec.fetched_at)),
            _ => None,
        }
    }

    /// One item: from the store when cached, else fetched (once, however
    /// many ask at the same moment) and cached. Items are immutable: a
    /// VCEK names one chip and TCB, and a product's chain changes only
    /// when AMD reissues its signing key, which is then a new certificate
    /// that verification accepts or refuses on its own.
    async fn item(
        &self,
        item: Item,
        path: &str,
        now: i64,
        metrics: &Metrics,
    ) -> Result<Vec<Vec<u8>>, FetchError> {
        let key = format!("kds:{path}");
        if item.immutable() {
            if let Some(ders) = self.cached(&key, item.shape()).await {
                return Ok(ders);
            }
        }
        let gate = {
            let mut m = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            m.entry(key.clone()).or_default().clone()
        };
        let held = gate.lock().await;
        let outcome = self.fetch_once(item, &key, path, now, metrics).await;
        drop(held);
        {
            let mut m = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            // The last one out removes the gate (the map holds one count).
            if Arc::strong_count(&gate) <= 2 {
                m.remove(&key);
            }
        }
        outcome
    }

    async fn fetch_once(
        &self,
        item: Item,
        key: &str,
        path: &str,
        now: i64,
        metrics: &Metrics,
    ) -> Result<Vec<Vec<u8>>, FetchError> {
        let (what, shape) = (item.name(), item.shape());
        // Whoever held the gate before may have cached it, or failed.
        if item.immutable() {
            if let Some(ders) = self.cached(key, shape).await {
                return Ok(ders);
            }
        }
        if let Some(e) = self.remembered(key, now) {
            metrics.collateral_fetch(what, e.outcome());
            return Err(e);
        }
        let result = self.get(path, shape).await;
        match &result {
            Ok((body, _)) => {
                metrics.collateral_fetch(what, "fetched");
                if let Err(e) = self.store.put_collateral(key, body, now).await {
                    tracing::warn!(item = key, error = %e, "could not cache KDS collateral");
                }
            }
            Err(e) => {
                metrics.collateral_fetch(what, e.outcome());
                tracing::warn!(error = %e, "KDS fetch failed");
                self.remember(key, e.clone(), now);
            }
        }
        result.map(|(_, ders)| ders)
    }

    /// The item from the store, if cached and still of the right shape.
    async fn cached(&self, key: &str, shape: Shape) -> Option<Vec<Vec<u8>>> {
        match self.store.get_collateral(key).await {
            Ok(Some(rec)) => shape.check(&rec.body).ok(),
            Ok(None) => None,
            Err(e) => {
                // The store being down must not stop a fetch.
                tracing::warn!(item = key, error = %e, "could not read cached KDS collateral");
                None
            }
        }
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
            // Still full of live entries (many distinct items failing):
            // forget them all rather than grow; they are only a brake.
            if m.len() >= MAX_REMEMBERED_FAILURES {
                m.clear();
            }
        }
        m.insert(key.to_owned(), (e, now.saturating_add(for_secs)));
    }

    /// One GET, its answer bounded in size and checked for shape.
    async fn get(&self, path: &str, shape: Shape) -> Result<(Vec<u8>, Vec<Vec<u8>>), FetchError> {
        let url = self.base.join(path).map_err(|e| FetchError::Transport {
            url: format!("{}{path}", self.base),
            reason: e.to_string(),
        })?;
        let shown = url.to_string();
        let transport = |e: reqwest::Error| FetchError::Transport {
            url: shown.clone(),
            reason: e.to_string(),
        };
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| FetchError::Transport {
                url: shown.clone(),
                reason: "the fetcher is closed".into(),
            })?;
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
        let ders = shape
            .check(&body)
            .map_err(|expected| FetchError::Malformed {
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
    fn answers_are_checked_for_shape() {
        assert!(Shape::DerCertificate.check(b"<html>busy</html>").is_err());
        assert!(Shape::PemChain.check(b"").is_err());
        let one = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(Shape::PemChain.check(one.repeat(2).as_bytes()).is_err());
    }
}
