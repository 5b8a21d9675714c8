//! Fetching Intel DCAP collateral from Intel's Provisioning Certification
//! Service or a PCCS (which serves the same v4 paths): the TCB info of a
//! quote's platform (by FMSPC), the quoting enclave's identity and the PCK
//! CRL, each with the issuer chain its response header carries, and the
//! root CA CRL (which revokes the PCK and TCB signing CAs). Without this,
//! the operator must install collateral files and replace them before each
//! expires (TCB info is reissued about monthly).
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
/// Signed by the pinned root itself, so served without an issuer chain.
const ROOT_CA_CRL: Kind = Kind {
    name: "root_ca_crl",
    header: None,
    immutable: false,
};

/// Intel's PCS does not serve the root CA CRL; Intel publishes it here,
/// the CRL distribution point its PCK and TCB signing CA certificates
/// name.
pub const INTEL_ROOT_CA_CRL_URL: &str =
    "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";
/// Intel's PCS, and its sandbox.
const INTEL_PCS_HOSTS: [&str; 2] = [
    "api.trustedservices.intel.com",
    "sbx.api.trustedservices.intel.com",
];
/// Where a PCCS serves the root CA CRL (as hex text of the DER).
const PCCS_ROOT_CA_CRL_PATH: &str = "sgx/certification/v4/rootcacrl";

/// Where the root CA CRL is fetched from: `configured`
/// (`[dcap] root_ca_crl_url`) when set, else Intel's distribution point
/// for Intel's PCS, else the PCCS path under `pcs_url` (a proxy of Intel's
/// PCS under another name must set `root_ca_crl_url`).
///
/// # Errors
/// `pcs_url` is not a base URL.
pub fn root_ca_crl_url(pcs_url: &str, configured: Option<&str>) -> Result<String, String> {
    if let Some(url) = configured {
        return Ok(url.to_owned());
    }
    let base = crate::fetch::parse_base(pcs_url)?;
    if base
        .host_str()
        .is_some_and(|h| INTEL_PCS_HOSTS.contains(&h))
    {
        return Ok(INTEL_ROOT_CA_CRL_URL.to_owned());
    }
    base.join(PCCS_ROOT_CA_CRL_PATH)
        .map(|u| u.to_string())
        .map_err(|e| format!("{pcs_url:?}: {e}"))
}

/// What an answer must be: the item its path names.
#[derive(Clone, Copy)]
enum Wanted<'a> {
    /// TCB info of this family and FMSPC.
    TcbInfo(&'a CollateralNeeds),
    /// The QE identity of this family (TD_QE for TDX, QE for SGX).
    QeIdentity(&'a CollateralNeeds),
    /// A DER CRL.
    Crl,
    /// A CRL as DER or, as a PCCS serves it, as hex text of the DER.
    RootCrl,
}

/// The DER of a root CA CRL answer: hex text (a PCCS) decoded, anything
/// else as it came.
fn root_crl_der(body: &[u8]) -> Vec<u8> {
    let hex_text = std::str::from_utf8(body)
        .ok()
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit()));
    hex_text
        .and_then(|t| hex::decode(t).ok())
        .unwrap_or_else(|| body.to_vec())
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
        if let Wanted::RootCrl = wanted {
            let der = root_crl_der(body);
            return match tee_dcap::Collateral::new().add_input(0, &der) {
                Ok(tee_dcap::Recognised::Crl) => Ok(vec![der]),
                _ => Err("a DER (or hex-encoded DER) CRL"),
            };
        }
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
            // The root CA CRL was answered above.
            Wanted::Crl | Wanted::RootCrl => match bag.add_input(0, body) {
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

/// What [`Pcs::fresh`] got: the items, and why the root CA CRL is not
/// among them if it is not. The root CA CRL is shared by every platform
/// and valid for about a year, so one still in force may be held; its
/// source failing must then not stop the others from being refreshed.
pub struct Fresh {
    pub items: Vec<Fetched>,
    pub root_failure: Option<FetchError>,
}

/// Intel PCS or a PCCS, through a [`Fetcher`], and the root CA CRL's
/// source (Intel's distribution point, or the PCCS) through another.
pub struct Pcs {
    f: Fetcher,
    root: Fetcher,
    /// The root CA CRL's path under `root`'s base.
    root_path: String,
    /// Its whole URL: the item's name among the fetched collateral.
    root_url: String,
}

/// One item to fetch: from which fetcher, its kind, path and what the
/// answer must be.
struct Wants<'a> {
    from: &'a Fetcher,
    kind: Kind,
    path: String,
    /// Its name among the fetched collateral.
    name: String,
    wanted: Wanted<'a>,
}

impl Pcs {
    /// A fetcher for `base` (e.g. `https://api.trustedservices.intel.com`
    /// or a PCCS's `https://pccs:8081`) and one for the root CA CRL (see
    /// [`root_ca_crl_url`]), caching in `store`. The two have budgets of
    /// their own even when they ask the same PCCS: the root CA CRL is one
    /// more request per platform refresh at most.
    ///
    /// # Errors
    /// A URL is not http(s) or the HTTP client cannot be built.
    pub fn new(
        base: &str,
        root_ca_crl_url: Option<&str>,
        store: Store,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, String> {
        let root_url = self::root_ca_crl_url(base, root_ca_crl_url)?;
        let (root_base, root_path) = crate::fetch::split_item_url(&root_url)?;
        Ok(Pcs {
            f: Fetcher::new("pcs", base, store.clone(), ca_file)?,
            root: Fetcher::new("pcs", &root_base, store, ca_file)?,
            root_path,
            root_url,
        })
    }

    /// The base URL, for logs.
    pub fn base(&self) -> &str {
        self.f.base()
    }

    /// The root CA CRL's URL, for logs.
    pub fn root_ca_crl_url(&self) -> &str {
        &self.root_url
    }

    /// The items a quote needs, the CRLs first.
    fn items<'a>(&'a self, needs: &'a CollateralNeeds) -> Vec<Wants<'a>> {
        let mut items = vec![Wants {
            from: &self.root,
            kind: ROOT_CA_CRL,
            path: self.root_path.clone(),
            name: self.root_url.clone(),
            wanted: Wanted::RootCrl,
        }];
        let mut pcs = |kind, path: String, wanted| {
            items.push(Wants {
                from: &self.f,
                kind,
                name: path.clone(),
                path,
                wanted,
            });
        };
        if let Some(p) = needs.pck_crl_path() {
            pcs(PCK_CRL, p, Wanted::Crl);
        }
        pcs(TCB_INFO, needs.tcb_info_path(), Wanted::TcbInfo(needs));
        pcs(
            QE_IDENTITY,
            needs.qe_identity_path(),
            Wanted::QeIdentity(needs),
        );
        items
    }

    /// What the store keeps for a quote's needs (fetched earlier, by any
    /// node), as far as it has them.
    pub async fn kept(&self, needs: &CollateralNeeds) -> Vec<Fetched> {
        let mut out = Vec::new();
        for w in self.items(needs) {
            let got = w.from.kept(w.kind, &w.path, &accept(w.wanted)).await;
            if let Some((inputs, _)) = got {
                out.push(Fetched {
                    path: w.name,
                    inputs,
                    keep: None,
                });
            }
        }
        out
    }

    /// Fresh copies of a quote's needs, the CRLs first. All but the root
    /// CA CRL must be had (a held one may still be in force; verification
    /// requires one either way): verifying without a CRL would leave
    /// revocation unchecked.
    ///
    /// # Errors
    /// An item other than the root CA CRL could not be had (see
    /// [`FetchError`]).
    pub async fn fresh(
        &self,
        needs: &CollateralNeeds,
        now: i64,
        metrics: &Metrics,
    ) -> Result<Fresh, FetchError> {
        let mut out = Fresh {
            items: Vec::new(),
            root_failure: None,
        };
        for w in self.items(needs) {
            let got = w
                .from
                .fresh(w.kind, &w.path, &accept(w.wanted), now, metrics)
                .await;
            let (inputs, stored) = match got {
                Ok(got) => got,
                Err(e) if matches!(w.wanted, Wanted::RootCrl) => {
                    out.root_failure = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            out.items.push(Fetched {
                keep: Some((w.from.key(w.kind, &w.path), stored)),
                path: w.name,
                inputs,
            });
        }
        Ok(out)
    }

    /// The root CA CRL's failure as the client sees it: 503, whatever the
    /// source answered. Unlike a platform's items, its absence says
    /// nothing about the quote (a 404 means `root_ca_crl_url` is wrong).
    pub fn root_failure_error(&self, e: &FetchError) -> crate::ServiceError {
        crate::ServiceError::CollateralUnavailable {
            message: format!(
                "the root CA CRL could not be fetched from {} (dcap.root_ca_crl_url): {e}",
                self.root_url
            ),
            retry_after_secs: e.retry_after_secs(),
        }
    }

    /// Keeps fetched items that a quote verified with. Both fetchers
    /// cache in the same store, and the key names the fetcher's item, so
    /// either may write it.
    pub async fn keep<'a>(&self, fetched: impl IntoIterator<Item = &'a Fetched>, now: i64) {
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

    #[test]
    fn the_root_ca_crl_comes_from_intel_for_pcs_and_from_a_pccs_otherwise() {
        for pcs in [
            "https://api.trustedservices.intel.com",
            "https://sbx.api.trustedservices.intel.com/",
        ] {
            assert_eq!(root_ca_crl_url(pcs, None).unwrap(), INTEL_ROOT_CA_CRL_URL);
        }
        assert_eq!(
            root_ca_crl_url("https://pccs.internal:8081/prefix", None).unwrap(),
            "https://pccs.internal:8081/prefix/sgx/certification/v4/rootcacrl"
        );
        assert_eq!(
            root_ca_crl_url("https://pcs-proxy", Some("https://crl-proxy/root.der")).unwrap(),
            "https://crl-proxy/root.der"
        );
        assert!(root_ca_crl_url("ftp://x", None).is_err());
    }

    #[test]
    fn a_root_ca_crl_is_accepted_as_der_or_hex_and_nothing_else() {
        let sim = tee_dcap_sim::DcapSim::generate(&tee_dcap_sim::SimOptions::default()).unwrap();
        let der = sim
            .collateral()
            .iter()
            .find(|(name, _)| name == "rootcrl.der")
            .map(|(_, bytes)| bytes.clone())
            .unwrap();
        let root = accept(Wanted::RootCrl);
        assert_eq!(root(&der, None), Ok(vec![der.clone()]));
        // A PCCS: hex text, perhaps with a line end; no header needed.
        let hex_text = format!("{}\n", hex::encode(&der));
        assert_eq!(root(hex_text.as_bytes(), None), Ok(vec![der.clone()]));
        assert_eq!(
            root(hex::encode_upper(&der).as_bytes(), None),
            Ok(vec![der.clone()])
        );
        let mut truncated = der.clone();
        truncated.pop();
        for bad in [&b""[..], b"abc", b"not a crl", &truncated] {
            assert_eq!(root(bad, None), Err("a DER (or hex-encoded DER) CRL"));
        }
        assert_eq!(rank(&[der]).map(|(n, _)| n), Some(0));
    }
}
