//! AMD's CRLs kept current from KDS (`[snp] kds_url`): fetched at start and
//! every few hours, kept in the store so that a restart while KDS is down
//! still has them, and installed only when signed by a trusted AMD root.
//! A CRL past its nextUpdate refuses the chains it covers, as a configured
//! one does: revocation that cannot be checked is not assumed absent.

use super::*;
use mamori_x509::Crl;
use std::collections::HashMap;
use tee_snp::Product;

/// How often AMD's CRLs are fetched again.
const CRL_REFRESH_SECS: i64 = 6 * 3600;
/// Sooner when the installed CRL's nextUpdate is this close.
const CRL_RENEW_BEFORE_SECS: i64 = 24 * 3600;

/// The CRLs fetched so far, by product, with when each was fetched.
#[derive(Default)]
pub(super) struct FetchedCrls {
    loaded_from_store: bool,
    by_product: HashMap<Product, (Crl, i64)>,
}

impl Service {
    /// Whether collateral is fetched from AMD's KDS (`[snp] kds_url`).
    pub fn fetches_from_kds(&self) -> bool {
        self.kds.is_some()
    }

    /// Fetches the products' CRLs that are due and installs those that are
    /// newer; returns how many are installed. Failures are logged (and
    /// remembered by the fetcher, so a tick does not ask again at once).
    pub async fn refresh_snp_crls(&self, now: i64) -> usize {
        let Some(kds) = &self.kds else {
            return 0;
        };
        let mut state = self.snp_crls.lock().await;
        let mut changed = false;
        if !state.loaded_from_store {
            for p in Product::ALL {
                if let Some((der, fetched_at)) = kds.cached_crl(p).await {
                    if let Some(crl) = self.acceptable_crl(p, &der, now) {
                        state.by_product.insert(p, (crl, fetched_at));
                        changed = true;
                    }
                }
            }
            state.loaded_from_store = true;
        }
        for p in Product::ALL {
            let due = state.by_product.get(&p).is_none_or(|(crl, at)| {
                now.saturating_sub(*at) >= CRL_REFRESH_SECS
                    || crl
                        .next_update()
                        .is_none_or(|n| n.0.saturating_sub(now) < CRL_RENEW_BEFORE_SECS)
            });
            if !due {
                continue;
            }
            let Ok(der) = kds.crl(p, now, &self.metrics).await else {
                continue;
            };
            let Some(crl) = self.acceptable_crl(p, &der, now) else {
                continue;
            };
            match state.by_product.get_mut(&p) {
                Some((have, at)) if crl.this_update() <= have.this_update() => *at = now,
                _ => {
                    tracing::info!(product = p.amd_name(), this_update = crl.this_update().0, next_update = ?crl.next_update().map(|n| n.0), "SEV-SNP CRL from KDS installed");
                    state.by_product.insert(p, (crl, now));
                    changed = true;
                }
            }
        }
        if changed {
            self.snp.install_fetched_crls(
                state
                    .by_product
                    .values()
                    .map(|(crl, _)| crl.clone())
                    .collect(),
            );
        }
        state.by_product.len()
    }

    /// A fetched CRL, if it is one this verifier should apply: signed by a
    /// trusted root or signing key, and already in force.
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
        if !self.snp.trusts_crl_issuer(&crl) {
            return refuse("not signed by a trusted AMD root or signing key");
        }
        if crl.this_update().0 > now {
            return refuse("its thisUpdate is in the future");
        }
        Some(crl)
    }
}
