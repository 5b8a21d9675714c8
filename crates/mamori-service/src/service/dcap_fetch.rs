//! TDX and SGX quotes verified with collateral fetched from Intel's PCS
//! (`[dcap] pcs_url`) when what the verifier holds is missing, stale or for
//! another platform.

use super::*;
use crate::pcs::Fetched;
use tee_dcap::pcs_paths::CollateralNeeds;

/// Verification checks that fetching collateral can mend.
fn mendable(e: &ServiceError) -> bool {
    matches!(
        e,
        ServiceError::EvidenceRejected { check, .. }
            if matches!(*check, "collateral-missing" | "collateral-freshness" | "collateral-mismatch")
    )
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
        let mut fetched = self.pcs_fetched.lock().await;
        let again = self.dcap_verifier().verify(tee, evidence, UnixTime(now));
        match &again {
            Err(e) if mendable(e) => {}
            _ => return again,
        }
        let kept = pcs.kept(&needs).await;
        if !kept.is_empty() {
            match self.verify_with(&mut fetched, &kept, tee, evidence, now) {
                Ok(v) => return Ok(v),
                // Stale or for another platform: fetch it afresh.
                Err(e) if mendable(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let fresh = pcs
            .fresh(&needs, now, &self.metrics)
            .await
            .map_err(|e| fetch_failure(&e))?;
        let verified = self.verify_with(&mut fetched, &fresh, tee, evidence, now)?;
        pcs.keep(&fresh, now).await;
        Ok(verified)
    }

    /// Adds `items` to the fetched collateral, rebuilds the verifier over
    /// it and verifies; the verifier is installed only when the quote
    /// verifies, so a bad answer never replaces good collateral.
    fn verify_with(
        &self,
        fetched: &mut std::collections::BTreeMap<String, Vec<Vec<u8>>>,
        items: &[Fetched],
        tee: &'static str,
        evidence: &Value,
        now: i64,
    ) -> Result<VerifiedEvidence, ServiceError> {
        let mut next = fetched.clone();
        for item in items {
            next.insert(item.path.clone(), item.inputs.clone());
        }
        let inputs: Vec<Vec<u8>> = next.values().flatten().cloned().collect();
        let verifier = self
            .dcap_verifier()
            .with_fetched(&inputs)
            .map_err(ServiceError::Internal)?;
        let verified = verifier.verify(tee, evidence, UnixTime(now))?;
        *self.dcap.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(verifier);
        *fetched = next;
        Ok(verified)
    }
}

/// A fetch failure as the client sees it: an item PCS does not have (an
/// unknown FMSPC) refuses the evidence; anything else may pass.
fn fetch_failure(e: &crate::fetch::FetchError) -> ServiceError {
    if e.is_not_found() {
        crate::evidence::rejected(
            "collateral-missing",
            format!("the platform's collateral is not published: {e}"),
        )
    } else {
        ServiceError::CollateralUnavailable {
            message: format!("the platform's collateral could not be fetched: {e}"),
            retry_after_secs: e.retry_after_secs(),
        }
    }
}
