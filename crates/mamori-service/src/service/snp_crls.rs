//! AMD's CRLs kept current from KDS (`[snp] kds_url`): the ones kept in the
//! store are applied when the service starts, and each product's is fetched
//! again every few hours. A fetched CRL is applied only when that
//! product's trusted root signed it; it is then kept in the store, so that
//! a restart while KDS is down still applies it. A CRL past its nextUpdate
//! refuses the chains it covers, as a configured one does: revocation that
//! cannot be checked is not assumed absent.

use super::*;
use crate::kds::CrlOf;
use mamori_x509::Crl;
use std::collections::HashMap;
use tee_snp::Product;

/// How often AMD's CRLs are fetched again.
const CRL_REFRESH_SECS: i64 = 6 * 3600;
/// Sooner when the installed CRL's nextUpdate is this close...
const CRL_RENEW_BEFORE_SECS: i64 = 24 * 3600;
/// ...but never more often than this per product, whatever happened.
const CRL_MIN_GAP_SECS: i64 = 1800;

/// The CRLs applied, by product: the CRL, when it was fetched, and when a
/// fetch was last tried.
#[derive(Default)]
pub(super) struct FetchedCrls {
    by_product: HashMap<CrlOf, (Crl, i64)>,
    tried_at: HashMap<CrlOf, i64>,
}

impl Service {
    /// Whether collateral is fetched from AMD's KDS (`[snp] kds_url`).
    pub fn fetches_from_kds(&self) -> bool {
        self.kds.is_some()
    }

    /// Applies the CRLs kept in the store (fetched earlier, by any node).
    pub(super) async fn apply_kept_snp_crls(&self, now: i64) {
        let Some(kds) = &self.kds else {
            return;
        };
        let mut state = self.snp_crls.lock().await;
        for p in CrlOf::all() {
            if let Some((der, fetched_at)) = kds.cached_crl(p).await {
                if let Some(crl) = self.acceptable_crl(p.product, &der, now) {
                    state.by_product.insert(p, (crl, fetched_at));
                }
            }
        }
        if !state.by_product.is_empty() {
            self.install(&state);
        }
    }

    /// Fetches the products' CRLs that are due and applies those newer
    /// than the ones applied; returns how many products have one. Failures
    /// are logged by the fetcher.
    pub async fn refresh_snp_crls(&self, now: i64) -> usize {
        let Some(kds) = &self.kds else {
            return 0;
        };
        let mut state = self.snp_crls.lock().await;
        let mut changed = false;
        for p in CrlOf::all() {
            let recently_tried = state
                .tried_at
                .get(&p)
                .is_some_and(|t| now.saturating_sub(*t) < CRL_MIN_GAP_SECS);
            let due = state.by_product.get(&p).is_none_or(|(crl, at)| {
                now.saturating_sub(*at) >= CRL_REFRESH_SECS
                    || crl
                        .next_update()
                        .is_none_or(|n| n.0.saturating_sub(now) < CRL_RENEW_BEFORE_SECS)
            });
            if recently_tried || !due {
                continue;
            }
            state.tried_at.insert(p, now);
            let Ok(der) = kds.crl(p, now, &self.metrics).await else {
                continue;
            };
            let Some(crl) = self.acceptable_crl(p.product, &der, now) else {
                continue;
            };
            match state.by_product.get_mut(&p) {
                // The same or an older one (a replay): nothing changes,
                // but it was current when fetched.
                Some((have, at)) if crl.this_update() <= have.this_update() => {
                    if crl.this_update() == have.this_update() {
                        *at = now;
                    }
                }
                _ => {
                    tracing::info!(product = p.product.amd_name(), vlek = p.vlek, this_update = crl.this_update().0, next_update = ?crl.next_update().map(|n| n.0), "SEV-SNP CRL from KDS applied");
                    kds.keep_crl(p, &der, now).await;
                    state.by_product.insert(p, (crl, now));
                    changed = true;
                }
            }
        }
        if changed {
            self.install(&state);
        }
        state.by_product.len()
    }

    /// Removes VCEKs fetched more than a month ago from the store; the
    /// ones in use are fetched again when a report needs them.
    pub async fn purge_fetched_vceks(&self, now: i64) -> Result<u64, ServiceError> {
        if self.kds.is_none() {
            return Ok(0);
        }
        Ok(self
            .store
            .purge_collateral(
                crate::kds::VCEK_KEYS,
                now.saturating_sub(crate::kds::VCEK_KEPT_SECS),
            )
            .await?)
    }

    fn install(&self, state: &FetchedCrls) {
        self.snp.install_fetched_crls(
            state
                .by_product
                .values()
                .map(|(crl, _)| crl.clone())
                .collect(),
        );
    }

    /// A fetched CRL, if it is the one this verifier should apply for
    /// `product`: signed by that product's trusted root, already in force.
    fn acceptable_crl(&self, product: Product, der: &[u8], now: i64) -> Option<Crl> {
        let refuse = |why: &str| {
            tracing::warn!(
                product = product.amd_name(),
                "SEV-SNP CRL from KDS ignored: {why}"
            );
            None
        };
        let Ok(crl) = Crl::from_der(der) else {
            return refuse("not a DER CRL");
        };
        if !self.snp.is_product_root_crl(&crl, product) {
            return refuse("not issued and signed by the product's trusted root (ARK)");
        }
        if crl.this_update().0 > now {
            return refuse("its thisUpdate is in the future");
        }
        Some(crl)
    }
}
