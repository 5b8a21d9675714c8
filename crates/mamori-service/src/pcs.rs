//! Fetching Intel DCAP collateral from Intel's Provisioning Certification
//! Service or a PCCS (which serves the same v4 paths): the TCB info of a
//! quote's platform (by FMSPC), the quoting enclave's identity and the PCK
//! CRL, each with the issuer chain its response header carries. Without
//! this, the operator must install collateral files and replace them
//! before each expires (TCB info is reissued about monthly).
//!
//! Items are fetched when a quote's verification finds collateral missing,
//! stale or for another platform, through the same [`Fetcher`] as AMD's
//! KDS (budget, pauses after 429, remembered failures), and kept in the
//! store once a quote verified with them. Everything fetched is verified
//! like configured collateral: signed by Intel's TCB signing key under the
//! pinned root, over the bytes served.

use crate::fetch::{FetchError, Fetcher, Kind};
use crate::metrics::Metrics;
use mamori_store::Store;
use tee_dcap::pcs_paths::{
    decode_issuer_chain, CollateralNeeds, PCK_CRL_ISSUER_CHAIN, QE_IDENTITY_ISSUER_CHAIN,
    TCB_INFO_ISSUER_CHAIN,
};

const TCB_INFO: Kind = Kind {
    name: "tcb_info",
    header: Some(TCB_INFO_ISSUER_CHAIN),
    immutable: false,
};
const QE_IDENTITY: Kind = Kind {
    name: "qe_identity",
    header: Some(QE_IDENTITY_ISSUER_CHAIN),
    immutable: false,
};
const PCK_CRL: Kind = Kind {
    name: "pck_crl",
    header: Some(PCK_CRL_ISSUER_CHAIN),
    immutable: false,
};

/// A body and its issuer chain, as collateral inputs: the body is checked
/// to be what was asked for (by what the collateral bag recognises it as),
/// the chain to be PEM.
fn accept(
    wanted: tee_dcap::Recognised,
) -> impl Fn(&[u8], Option<&str>) -> Result<Vec<Vec<u8>>, &'static str> + Sync {
    move |body, header| {
        let chain = header
            .ok_or("an answer with its issuer chain")
            .and_then(|h| decode_issuer_chain(h).map_err(|_| "a URL-encoded PEM issuer chain"))?;
        let mut bag = tee_dcap::Collateral::new();
        let recognised = bag.add_input(0, body).map_err(|_| "DCAP collateral")?;
        if recognised != wanted {
            return Err("the collateral item asked for");
        }
        bag.add_input(1, chain.as_bytes())
            .map_err(|_| "a PEM issuer chain")?;
        Ok(vec![body.to_vec(), chain.into_bytes()])
    }
}

/// A PCK CRL is served DER (`encoding=der`); the collateral bag reads it
/// as a CRL.
fn accept_crl(body: &[u8], header: Option<&str>) -> Result<Vec<Vec<u8>>, &'static str> {
    let chain = header
        .ok_or("an answer with its issuer chain")
        .and_then(|h| decode_issuer_chain(h).map_err(|_| "a URL-encoded PEM issuer chain"))?;
    mamori_x509::Crl::from_der(body).map_err(|_| "a DER CRL")?;
    Ok(vec![body.to_vec(), chain.into_bytes()])
}

/// One fetched item: its collateral inputs, and what to keep in the store
/// once a quote verified with them.
pub struct Fetched {
    pub path: String,
    pub inputs: Vec<Vec<u8>>,
    keep: Option<(String, Vec<u8>)>,
}

/// Intel PCS or a PCCS, through a [`Fetcher`].
pub struct Pcs {
    f: Fetcher,
}

impl Pcs {
    /// A fetcher for `base` (e.g. `https://api.trustedservices.intel.com`
    /// or a PCCS's `https://pccs:8081`), caching in `store`.
    ///
    /// # Errors
    /// The URL is not http(s) or the HTTP client cannot be built.
    pub fn new(base: &str, store: Store) -> Result<Self, String> {
        Ok(Pcs {
            f: Fetcher::new("pcs", base, store)?,
        })
    }

    /// The base URL, for logs.
    pub fn base(&self) -> &str {
        self.f.base()
    }

    fn items(needs: &CollateralNeeds) -> Vec<(Kind, String)> {
        let mut items = vec![
            (TCB_INFO, needs.tcb_info_path()),
            (QE_IDENTITY, needs.qe_identity_path()),
        ];
        if let Some(p) = needs.pck_crl_path() {
            items.push((PCK_CRL, p));
        }
        items
    }

    /// What the store keeps for a quote's needs (fetched earlier, by any
    /// node), as far as it has them.
    pub async fn kept(&self, needs: &CollateralNeeds) -> Vec<Fetched> {
        let mut out = Vec::new();
        for (kind, path) in Self::items(needs) {
            let got = match kind.name {
                "pck_crl" => self.f.kept(kind, &path, &accept_crl).await,
                "tcb_info" => {
                    self.f
                        .kept(kind, &path, &accept(tee_dcap::Recognised::TcbInfo))
                        .await
                }
                _ => {
                    self.f
                        .kept(kind, &path, &accept(tee_dcap::Recognised::QeIdentity))
                        .await
                }
            };
            if let Some((inputs, _)) = got {
                out.push(Fetched {
                    path,
                    inputs,
                    keep: None,
                });
            }
        }
        out
    }

    /// Fresh copies of a quote's needs. A PCK CRL that cannot be had is
    /// left out (CRLs apply when present); TCB info and QE identity must
    /// be had.
    ///
    /// # Errors
    /// TCB info or QE identity could not be had (see [`FetchError`]).
    pub async fn fresh(
        &self,
        needs: &CollateralNeeds,
        now: i64,
        metrics: &Metrics,
    ) -> Result<Vec<Fetched>, FetchError> {
        let mut out = Vec::new();
        for (kind, path) in Self::items(needs) {
            let got = match kind.name {
                "pck_crl" => self.f.fresh(kind, &path, &accept_crl, now, metrics).await,
                "tcb_info" => {
                    self.f
                        .fresh(
                            kind,
                            &path,
                            &accept(tee_dcap::Recognised::TcbInfo),
                            now,
                            metrics,
                        )
                        .await
                }
                _ => {
                    self.f
                        .fresh(
                            kind,
                            &path,
                            &accept(tee_dcap::Recognised::QeIdentity),
                            now,
                            metrics,
                        )
                        .await
                }
            };
            match got {
                Ok((inputs, stored)) => out.push(Fetched {
                    keep: Some((self.f.key(kind, &path), stored)),
                    path,
                    inputs,
                }),
                Err(_) if kind.name == "pck_crl" => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Keeps fetched items that a quote verified with.
    pub async fn keep(&self, fetched: &[Fetched], now: i64) {
        for f in fetched {
            if let Some((key, stored)) = &f.keep {
                self.f.keep(key, stored, now).await;
            }
        }
    }
}

/// Checks a configured PCS URL without building a client (`serve --check`).
///
/// # Errors
/// What is wrong with it.
pub fn check_url(base: &str) -> Result<(), String> {
    crate::fetch::parse_base(base).map(|_| ())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn answers_need_their_issuer_chain_and_the_right_item() {
        let tcb = accept(tee_dcap::Recognised::TcbInfo);
        assert_eq!(
            tcb(b"{\"tcbInfo\":{}}", None),
            Err("an answer with its issuer chain")
        );
        assert!(tcb(b"not json", Some("x")).is_err());
        assert!(accept_crl(b"not a crl", Some("")).is_err());
        assert_eq!(
            accept_crl(b"", None),
            Err("an answer with its issuer chain")
        );
    }
}
