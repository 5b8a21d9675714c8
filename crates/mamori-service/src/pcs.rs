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

/// What an answer must be: the item its path names.
#[derive(Clone, Copy)]
enum Wanted<'a> {
    /// TCB info of this family and FMSPC.
    TcbInfo(&'a CollateralNeeds),
    /// The QE identity of this family (TD_QE for TDX, QE for SGX).
    QeIdentity(&'a CollateralNeeds),
    /// A DER CRL.
    Crl,
}

/// A body and its issuer chain, as collateral inputs. The body must be
/// the very item its path names (family, FMSPC, identity), so that an
/// answer cannot plant collateral for other platforms; the header must be
/// PEM certificates and nothing else. Signatures are checked when a quote
/// is verified with them, before anything is installed or kept.
fn accept(
    wanted: Wanted<'_>,
) -> impl Fn(&[u8], Option<&str>) -> Result<Vec<Vec<u8>>, &'static str> + Sync + '_ {
    move |body, header| {
        let chain = header
            .ok_or("an answer with its issuer chain")
            .and_then(|h| decode_issuer_chain(h).map_err(|_| "a URL-encoded PEM issuer chain"))?;
        let mut bag = tee_dcap::Collateral::new();
        match bag.add_input(1, chain.as_bytes()) {
            Ok(tee_dcap::Recognised::Certificates(n)) if n > 0 => {}
            _ => return Err("an issuer chain of PEM certificates"),
        }
        match wanted {
            Wanted::TcbInfo(needs) => {
                let t = tee_dcap::pcs::TcbInfo::from_body(body).map_err(|_| "a TCB info")?;
                let family = if needs.tdx {
                    tee_dcap::pcs::TcbInfoId::Tdx
                } else {
                    tee_dcap::pcs::TcbInfoId::Sgx
                };
                if t.id != family || t.fmspc != needs.fmspc {
                    return Err("the TCB info of the family and FMSPC asked for");
                }
            }
            Wanted::QeIdentity(needs) => {
                let q = tee_dcap::pcs::QeIdentity::from_body(body).map_err(|_| "a QE identity")?;
                if q.id != if needs.tdx { "TD_QE" } else { "QE" } {
                    return Err("the QE identity asked for");
                }
            }
            Wanted::Crl => match bag.add_input(0, body) {
                Ok(tee_dcap::Recognised::Crl) => {}
                _ => return Err("a DER CRL"),
            },
        }
        Ok(vec![body.to_vec(), chain.into_bytes()])
    }
}

/// How new an item is, to never replace collateral with older collateral
/// (a replayed TCB info could undo a TCB recovery, an older CRL
/// un-revoke a certificate): (TCB evaluation data number, issue date) for
/// TCB info and identities, (0, thisUpdate) for CRLs.
pub fn rank(inputs: &[Vec<u8>]) -> Option<(u32, i64)> {
    let body = inputs.first()?;
    if let Ok(t) = tee_dcap::pcs::TcbInfo::from_body(body) {
        return Some((t.tcb_evaluation_data_number, t.issue_date));
    }
    if let Ok(q) = tee_dcap::pcs::QeIdentity::from_body(body) {
        return Some((q.tcb_evaluation_data_number, q.issue_date));
    }
    mamori_x509::Crl::from_der(body)
        .ok()
        .map(|c| (0, c.this_update().0))
}

/// One fetched item: its collateral inputs, and what to keep in the store
/// once a quote verified with them.
pub struct Fetched {
    pub path: String,
    pub inputs: Vec<Vec<u8>>,
    /// The store key and bytes, for fresh items.
    pub keep: Option<(String, Vec<u8>)>,
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
    pub fn new(
        base: &str,
        store: Store,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, String> {
        Ok(Pcs {
            f: Fetcher::new("pcs", base, store, ca_file)?,
        })
    }

    /// The base URL, for logs.
    pub fn base(&self) -> &str {
        self.f.base()
    }

    /// The items a quote needs, the PCK CRL first.
    fn items(needs: &CollateralNeeds) -> Vec<(Kind, String, Wanted<'_>)> {
        let mut items = Vec::new();
        if let Some(p) = needs.pck_crl_path() {
            items.push((PCK_CRL, p, Wanted::Crl));
        }
        items.push((TCB_INFO, needs.tcb_info_path(), Wanted::TcbInfo(needs)));
        items.push((
            QE_IDENTITY,
            needs.qe_identity_path(),
            Wanted::QeIdentity(needs),
        ));
        items
    }

    /// What the store keeps for a quote's needs (fetched earlier, by any
    /// node), as far as it has them.
    pub async fn kept(&self, needs: &CollateralNeeds) -> Vec<Fetched> {
        let mut out = Vec::new();
        for (kind, path, wanted) in Self::items(needs) {
            let got = self.f.kept(kind, &path, &accept(wanted)).await;
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

    /// Fresh copies of a quote's needs, the PCK CRL first. All must be
    /// had: verifying without the CRL would leave revocation unchecked.
    ///
    /// # Errors
    /// An item could not be had (see [`FetchError`]).
    pub async fn fresh(
        &self,
        needs: &CollateralNeeds,
        now: i64,
        metrics: &Metrics,
    ) -> Result<Vec<Fetched>, FetchError> {
        let mut out = Vec::new();
        for (kind, path, wanted) in Self::items(needs) {
            let (inputs, stored) = self
                .f
                .fresh(kind, &path, &accept(wanted), now, metrics)
                .await?;
            out.push(Fetched {
                keep: Some((self.f.key(kind, &path), stored)),
                path,
                inputs,
            });
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn answers_need_their_issuer_chain_and_the_right_item() {
        let needs = CollateralNeeds {
            tdx: true,
            fmspc: [1; 6],
            pck_ca: Some("platform"),
        };
        let tcb = accept(Wanted::TcbInfo(&needs));
        assert_eq!(
            tcb(b"{\"tcbInfo\":{}}", None),
            Err("an answer with its issuer chain")
        );
        assert_eq!(
            tcb(b"{}", Some("not%20pem")),
            Err("an issuer chain of PEM certificates")
        );
        let crl = accept(Wanted::Crl);
        assert_eq!(crl(b"", None), Err("an answer with its issuer chain"));
        assert_eq!(rank(&[b"neither".to_vec()]), None);
    }
}
