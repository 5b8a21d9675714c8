//! TDX and SGX quotes verified with collateral fetched from Intel's PCS
//! (`[dcap] pcs_url`) when what the verifier holds is missing, stale or for
//! another platform.

use super::*;
use crate::pcs::{rank, Fetched};
use std::collections::{BTreeMap, HashMap};
use tee_dcap::pcs_paths::CollateralNeeds;

/// A platform's collateral is fetched afresh at most this often: a quote
/// that still does not verify (or an attester sending ones that do not)
/// must not turn every attempt into requests to Intel.
const REFETCH_AFTER_SECS: i64 = 600;

/// The collateral fetched so far, by PCS path, and when each platform's
/// was last fetched afresh (by its TCB info path).
#[derive(Default)]
pub(super) struct PcsState {
    items: BTreeMap<String, Vec<Vec<u8>>>,
    fresh_at: HashMap<String, i64>,
}

/// Verification checks that fetching collateral can mend: an item
/// missing, stale or for another platform, or a TDX module version the
/// held TCB info does not list yet (a newer one may).
fn mendable(e: &ServiceError) -> bool {
    match e {
        ServiceError::EvidenceRejected { check, message } => {
            matches!(
                *check,
                "collateral-missing" | "collateral-freshness" | "collateral-mismatch"
            ) || (*check == "tdx-module" && message.contains("not listed in the TCB info"))
        }
        _ => false,
    }
}

impl Service {
    fn dcap_verifier(&self) -> Arc<DcapVerifier> {
        self.dcap.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A `tdx` or `sgx` quote, verified with the collateral held or, when
    /// that cannot verify it and `[dcap] pcs_url` is set, with its
    /// platform's collateral from the store or fetched. Nothing is fetched
    /// for a quote that does not bind this session's nonce and key.
    pub(super) async fn verify_dcap(
        &self,
        tee: &'static str,
        evidence: &Value,
        expected: &[u8],
        now: i64,
    ) -> Result<VerifiedEvidence, ServiceError> {
        let first = self.dcap_verifier().verify(tee, evidence, UnixTime(now));
        let Some(pcs) = &self.pcs else {
            return first;
        };
        match &first {
            Err(e) if mendable(e) => {}
            _ => return first,
        }
        let (quote, report_data) = DcapVerifier::quote_of(tee, evidence)?;
        if !padded_equal(&report_data, expected) {
            return Err(ServiceError::Binding(
                "report data is not SHA-384 of the canonical runtime data (nonce and TEE public key); no collateral was fetched".into(),
            ));
        }
        let needs = CollateralNeeds::of_quote(&quote)
            .map_err(|e| crate::evidence::rejected("pck-certificate", e.to_string()))?;
        // One mending at a time: the others then find it done.
        let mut state = self.pcs_fetched.lock().await;
        let again = self.dcap_verifier().verify(tee, evidence, UnixTime(now));
        match &again {
            Err(e) if mendable(e) => {}
            _ => return again,
        }
        let kept = pcs.kept(&needs).await;
        if !kept.is_empty()
            && self
                .install_dcap(&mut state, &kept, tee, evidence, now)
                .is_ok()
        {
            return self.dcap_verifier().verify(tee, evidence, UnixTime(now));
        }
        let platform = needs.tcb_info_path();
        if state
            .fresh_at
            .get(&platform)
            .is_some_and(|at| now.saturating_sub(*at) < REFETCH_AFTER_SECS)
        {
            return again;
        }
        // A failed fetch is throttled by the fetcher (remembered failures);
        // a fetch that succeeded but does not verify the quote, here.
        let fresh = pcs
            .fresh(&needs, now, &self.metrics)
            .await
            .map_err(|e| e.to_service_error("collateral-missing", "the platform's collateral"))?;
        state.fresh_at.insert(platform, now);
        // What the store kept stays in play where it is newer.
        let mut items = kept;
        items.extend(fresh.items.iter().map(|f| Fetched {
            path: f.path.clone(),
            inputs: f.inputs.clone(),
            keep: None,
        }));
        if let Err(e) = self.install_dcap(&mut state, &items, tee, evidence, now) {
            // Without the root CA CRL the quote could not be judged: say
            // that its source failed, not that the quote is wrong.
            return Err(match &fresh.root_failure {
                Some(f) if e.to_string().contains("root CA CRL") => pcs.root_failure_error(f),
                _ => e,
            });
        }
        // Only what was installed is kept: a fetched item older than the
        // one held (a replayed CRL from before a revocation) must not
        // replace it in the store, where a restart or another node would
        // find it.
        let mut installed = Vec::new();
        for f in &fresh.items {
            if state.items.get(&f.path) == Some(&f.inputs) {
                installed.push(f);
            }
        }
        pcs.keep(installed, now).await;
        self.dcap_verifier().verify(tee, evidence, UnixTime(now))
    }

    /// Adds `items` to the fetched collateral (never replacing an item
    /// with an older one), builds a verifier over it and, when the quote
    /// verifies with it, installs it; a bad answer never replaces good
    /// collateral.
    fn install_dcap(
        &self,
        state: &mut PcsState,
        items: &[Fetched],
        tee: &'static str,
        evidence: &Value,
        now: i64,
    ) -> Result<(), ServiceError> {
        let mut next = state.items.clone();
        for item in items {
            let newer = next
                .get(&item.path)
                .is_none_or(|have| rank(&item.inputs) >= rank(have));
            if newer {
                next.insert(item.path.clone(), item.inputs.clone());
            }
        }
        let inputs: Vec<Vec<u8>> = next.values().flatten().cloned().collect();
        let verifier = self
            .dcap_verifier()
            .with_fetched(&inputs)
            .map_err(ServiceError::Internal)?;
        verifier.verify_collateral(tee, evidence, UnixTime(now))?;
        *self.dcap.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(verifier);
        state.items = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_fetching_can_mend() {
        let rejected = |check, message: &str| ServiceError::EvidenceRejected {
            check,
            message: message.into(),
        };
        assert!(mendable(&rejected("collateral-freshness", "stale")));
        assert!(mendable(&rejected(
            "tdx-module",
            "TDX module identity TDX_04: identity (not listed in the TCB info) does not match"
        )));
        assert!(!mendable(&rejected(
            "tdx-module",
            "TDX module identity TDX_01: mrsigner does not match"
        )));
        assert!(!mendable(&rejected("signature", "bad")));
        assert!(!mendable(&ServiceError::NonceMismatch));
    }
}
