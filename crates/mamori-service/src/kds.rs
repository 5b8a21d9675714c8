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

use crate::fetch::{FetchError, Fetcher, Kind};
use crate::metrics::Metrics;
use mamori_store::Store;
use tee_snp::kds::{cert_chain_path, crl_path, vlek_crl_path, VcekId};
use tee_snp::Product;

const VCEK: Kind = Kind {
    name: "vcek",
    header: None,
    immutable: true,
};
const CERT_CHAIN: Kind = Kind {
    name: "cert_chain",
    header: None,
    immutable: true,
};
/// A CRL is fetched whenever it is asked for, and kept only once the
/// service has accepted it ([`Kds::keep_crl`]).
const CRL: Kind = Kind {
    name: "crl",
    header: None,
    immutable: false,
};

/// The store keys of fetched VCEKs start so.
pub const VCEK_KEYS: &str = "kds:vcek:";
/// A fetched VCEK is kept this long (then fetched again when a report
/// needs it): attesters name the items, so they must not pile up.
pub const VCEK_KEPT_SECS: i64 = 30 * 86_400;

/// One DER certificate: the VCEK `id` names (its AMD extensions say so).
fn accept_vcek(
    id: &VcekId,
) -> impl Fn(&[u8], Option<&str>) -> Result<Vec<Vec<u8>>, &'static str> + Sync + '_ {
    move |body, _| {
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
fn accept_chain(body: &[u8], _: Option<&str>) -> Result<Vec<Vec<u8>>, &'static str> {
    match crate::fetch::certificates(body) {
        Some(ders) if ders.len() >= 2 => Ok(ders),
        _ => Err("a PEM certificate chain (ASK, ARK)"),
    }
}

/// One DER CRL.
fn accept_crl(body: &[u8], _: Option<&str>) -> Result<Vec<Vec<u8>>, &'static str> {
    mamori_x509::Crl::from_der(body).map_err(|_| "a DER CRL")?;
    Ok(vec![body.to_vec()])
}

/// One of the CRLs KDS serves per product: the VCEK hierarchy's (ASKs)
/// or the VLEK hierarchy's (ASVKs), both signed by the product's ARK.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CrlOf {
    pub product: Product,
    pub vlek: bool,
}

impl CrlOf {
    /// Every product's two CRLs.
    pub fn all() -> impl Iterator<Item = CrlOf> {
        Product::ALL
            .into_iter()
            .flat_map(|product| [false, true].map(|vlek| CrlOf { product, vlek }))
    }

    fn path(self) -> String {
        if self.vlek {
            vlek_crl_path(self.product)
        } else {
            crl_path(self.product)
        }
    }
}

/// AMD's KDS (or a proxy serving its paths), through a [`Fetcher`].
pub struct Kds {
    f: Fetcher,
}

impl Kds {
    /// A fetcher for `base` (e.g. `https://kdsintf.amd.com`), caching in
    /// `store`.
    ///
    /// # Errors
    /// The URL is not http(s) or the HTTP client cannot be built.
    pub fn new(
        base: &str,
        store: Store,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, String> {
        Ok(Kds {
            f: Fetcher::new("kds", base, store, ca_file)?,
        })
    }

    /// The base URL, for logs.
    pub fn base(&self) -> &str {
        self.f.base()
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
        let mut ders = self.f.item(VCEK, &id.path(), &accept, now, metrics).await?;
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
        self.f
            .item(
                CERT_CHAIN,
                &cert_chain_path(product),
                &accept_chain,
                now,
                metrics,
            )
            .await
    }

    /// A product's CRL (DER), fetched now and not cached: the service
    /// keeps it ([`Kds::keep_crl`]) once it has checked it.
    ///
    /// # Errors
    /// It could not be had (see [`FetchError`]).
    pub async fn crl(
        &self,
        which: CrlOf,
        now: i64,
        metrics: &Metrics,
    ) -> Result<Vec<u8>, FetchError> {
        let (mut ders, _) = self
            .f
            .fresh(CRL, &which.path(), &accept_crl, now, metrics)
            .await?;
        Ok(ders.pop().unwrap_or_default())
    }

    /// A product's CRL as last kept (by any node), and when.
    pub async fn cached_crl(&self, which: CrlOf) -> Option<(Vec<u8>, i64)> {
        let (mut ders, at) = self.f.kept(CRL, &which.path(), &accept_crl).await?;
        Some((ders.pop()?, at))
    }

    /// Keeps a CRL the service accepted, for restarts and other nodes.
    pub async fn keep_crl(&self, which: CrlOf, der: &[u8], now: i64) {
        self.f.keep(&self.f.key(CRL, &which.path()), der, now).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn answers_are_checked_before_they_are_kept() {
        assert!(accept_crl(b"<html>busy</html>", None).is_err());
        assert!(accept_chain(b"", None).is_err());
        let one = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(accept_chain(one.repeat(2).as_bytes(), None).is_err());
        let id = VcekId {
            product: Product::Milan,
            hwid: vec![1; 64],
            tcb: tee_snp::TcbVersion(0),
        };
        assert!(accept_vcek(&id)(b"not a certificate", None).is_err());
    }

    #[test]
    fn vcek_keys_are_purged_by_their_prefix() {
        assert!(VCEK.key("kds", "vcek/v1/Milan/ab").starts_with(VCEK_KEYS));
        assert!(!CRL.key("kds", "vcek/v1/Milan/crl").starts_with(VCEK_KEYS));
        assert!(!CERT_CHAIN
            .key("kds", "vcek/v1/Milan/cert_chain")
            .starts_with(VCEK_KEYS));
    }
}
