//! TDX and SGX quotes verified with collateral fetched from Intel's PCS
//! (`[dcap] pcs_url`) when what the verifier holds is missing, stale or for
//! another platform, and that collateral refreshed once a day afterwards.

use super::*;
use crate::pcs::{rank, Fetched};
use std::collections::{BTreeMap, HashMap};
use tee_dcap::pcs_paths::CollateralNeeds;

/// A platform's collateral is fetched afresh at most this often: a quote
/// that still does not verify (or an attester sending ones that do not)
/// must not turn every attempt into requests to Intel.
const REFETCH_AFTER_SECS: i64 = 600;

/// A platform's collateral is fetched again this long after it last was,
/// by housekeeping ([`Service::refresh_dcap_collateral`]): Intel reissues
/// CRLs with new revocations, and TCB info after a TCB recovery, well
/// before the held ones lapse, and a PCS outage at the moment they lapse
/// would otherwise stop every quote of the platform.
const REFRESH_AFTER_SECS: i64 = 24 * 60 * 60;
/// Platforms remembered for refreshing, at most (each keeps one quote).
const MAX_PLATFORMS: usize = 256;
/// Platforms refreshed per housekeeping round, at most: each costs three
/// requests of the PCS fetcher's budget (a burst of 20), and mending a
/// platform whose quote cannot verify now must find some left.
const REFRESH_PER_ROUND: usize = 4;
/// A refresh that failed (fetching, or its collateral refused the
/// remembered quote) is tried again after this long, not a day later.
const RETRY_REFRESH_SECS: i64 = 60 * 60;

/// The collateral fetched so far, by PCS path; when each platform's was
/// last fetched afresh, and a quote of each to check a refresh with (both
/// by its TCB info path).
#[derive(Default)]
pub(super) struct PcsState {
    items: BTreeMap<String, Vec<Vec<u8>>>,
    fresh_at: HashMap<String, i64>,
    platforms: HashMap<String, Platform>,
    /// When a refresh last failed, by platform.
    refresh_failed_at: HashMap<String, i64>,
    /// Platforms whose remembered machine was revoked, until another of
    /// their quotes verifies (and is remembered instead).
    forgotten: std::collections::HashSet<String>,
}

/// A platform whose quote verified with fetched collateral: what it needs,
/// and that quote (without the event logs the attester added), which a
/// refresh must verify before it is installed, as at mending.
#[derive(Clone)]
struct Platform {
    tee: &'static str,
    evidence: Value,
    needs: CollateralNeeds,
}

impl PcsState {
    fn remember(&mut self, tee: &'static str, evidence: &Value, needs: &CollateralNeeds) {
        let key = needs.tcb_info_path();
        if self.platforms.len() < MAX_PLATFORMS || self.platforms.contains_key(&key) {
            self.platforms.insert(
                key,
                Platform {
                    tee,
                    evidence: serde_json::json!({ "quote": evidence.get("quote") }),
                    needs: needs.clone(),
                },
            );
        }
    }

    /// Forgets a platform's remembered quote (its machine was revoked; its
    /// quote is no test for later collateral) until another verifies.
    fn forget(&mut self, key: &str) {
        self.platforms.remove(key);
        self.refresh_failed_at.remove(key);
        self.forgotten.insert(key.to_owned());
    }

    /// Remembers `evidence` for a forgotten platform; whether any platform
    /// is still forgotten.
    fn reclaim(&mut self, tee: &'static str, evidence: &Value, needs: &CollateralNeeds) -> bool {
        if self.forgotten.remove(&needs.tcb_info_path()) {
            self.remember(tee, evidence, needs);
        }
        !self.forgotten.is_empty()
    }

    /// Platforms due for a refresh at `now`, at most [`REFRESH_PER_ROUND`].
    fn due(&self, now: i64) -> Vec<Platform> {
        let since =
            |at: Option<&i64>, secs: i64| at.is_none_or(|at| now.saturating_sub(*at) >= secs);
        self.platforms
            .iter()
            .filter(|(key, _)| {
                since(self.fresh_at.get(*key), REFRESH_AFTER_SECS)
                    && since(self.refresh_failed_at.get(*key), RETRY_REFRESH_SECS)
            })
            .take(REFRESH_PER_ROUND)
            .map(|(_, p)| p.clone())
            .collect()
    }
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

/// A quote refused because a CRL revokes a certificate of its chain.
fn is_revocation(e: &ServiceError) -> bool {
    matches!(e, ServiceError::EvidenceRejected { check, .. } if *check == "revocation")
}

/// A quote that could not be judged for want of a root CA CRL in force.
fn lacks_root_crl(e: &ServiceError) -> bool {
    matches!(e, ServiceError::EvidenceRejected { check, message }
        if matches!(*check, "collateral-missing" | "collateral-freshness")
            && message.contains("root CA CRL"))
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
            Ok(_) => {
                self.reclaim_platform(tee, evidence);
                return first;
            }
            Err(_) => return first,
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
                .install_dcap(&mut state, &kept, pcs.root_ca_crl_url(), tee, evidence, now)
                .is_ok()
        {
            state.remember(tee, evidence, &needs);
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
        let fresh = pcs
            .fresh(&needs, now, &self.metrics)
            .await
            .map_err(|e| e.to_service_error("collateral-missing", "the platform's collateral"))?;
        state.fresh_at.insert(platform, now);
        self.install_fresh(&mut state, pcs, &fresh, kept, tee, evidence, now)
            .await?;
        state.remember(tee, evidence, &needs);
        self.dcap_verifier().verify(tee, evidence, UnixTime(now))
    }

    /// Installs a platform's freshly fetched collateral (with `kept`) when
    /// the platform's quote verifies with it, and keeps what was
    /// installed. A failed fetch is throttled by the fetcher (remembered
    /// failures); a fetch that succeeded but does not verify the quote, by
    /// the caller.
    #[allow(clippy::too_many_arguments)]
    async fn install_fresh(
        &self,
        state: &mut PcsState,
        pcs: &crate::pcs::Pcs,
        fresh: &crate::pcs::Fresh,
        kept: Vec<Fetched>,
        tee: &'static str,
        evidence: &Value,
        now: i64,
    ) -> Result<(), ServiceError> {
        // What the store kept stays in play where it is newer.
        let mut items = kept;
        items.extend(fresh.items.iter().map(|f| Fetched {
            path: f.path.clone(),
            inputs: f.inputs.clone(),
            keep: None,
        }));
        let result = self.install_dcap(state, &items, pcs.root_ca_crl_url(), tee, evidence, now);
        // Only what was installed is kept (after a refusal too: revoking
        // CRLs are installed then): a fetched item older than the one held
        // (a replayed CRL from before a revocation) must not replace it in
        // the store, where a restart or another node would find it.
        let mut installed = Vec::new();
        for f in &fresh.items {
            if state.items.get(&f.path) == Some(&f.inputs) {
                installed.push(f);
            }
        }
        pcs.keep(installed, now).await;
        result.map_err(|e| match &fresh.root_failure {
            // Without the root CA CRL the quote could not be judged: say
            // that its source failed, not that the quote is wrong.
            Some(f) if lacks_root_crl(&e) => pcs.root_failure_error(f),
            _ => e,
        })
    }

    /// After a quote verified: when a platform was forgotten, remembers the
    /// quote if it is of that platform. Costs one flag read otherwise, and
    /// never waits for the lock (a refresh or mending holds it).
    fn reclaim_platform(&self, tee: &'static str, evidence: &Value) {
        if !self.pcs_wanted.load(Relaxed) {
            return;
        }
        let Ok(mut state) = self.pcs_fetched.try_lock() else {
            return;
        };
        let Ok((quote, _)) = DcapVerifier::quote_of(tee, evidence) else {
            return;
        };
        if let Ok(needs) = CollateralNeeds::of_quote(&quote) {
            let wanted = state.reclaim(tee, evidence, &needs);
            self.pcs_wanted.store(wanted, Relaxed);
        }
    }

    /// Whether DCAP collateral is fetched (`[dcap] pcs_url`), so that
    /// housekeeping refreshes it.
    pub fn fetches_from_pcs(&self) -> bool {
        self.pcs.is_some()
    }

    /// Fetches afresh the collateral of platforms whose quotes verified
    /// with fetched collateral and whose collateral was last fetched
    /// [`REFRESH_AFTER_SECS`] ago or more ([`REFRESH_PER_ROUND`] a round,
    /// one that failed again after [`RETRY_REFRESH_SECS`]), and installs it
    /// when the platform's remembered quote still verifies with it
    /// (housekeeping; returns how many were refreshed). What is held stays
    /// in use otherwise, except a CRL that revokes that quote, which is
    /// installed (see [`Service::install_dcap`]) and makes the platform
    /// wait for another quote to remember. Other refusals (its TCB level
    /// gone) install nothing, since only a quote can tell genuine
    /// collateral from a wrong answer: they are logged, and take effect
    /// for the platform when what is held lapses.
    pub async fn refresh_dcap_collateral(&self, now: i64) -> usize {
        let Some(pcs) = &self.pcs else {
            return 0;
        };
        // Fetched without the lock, which a quote that needs mending takes:
        // a slow PCS must not hold it up for a whole round.
        let due = self.pcs_fetched.lock().await.due(now);
        let mut refreshed = 0;
        for p in due {
            let platform = p.needs.tcb_info_path();
            let fresh = match pcs.fresh(&p.needs, now, &self.metrics).await {
                Ok(fresh) => fresh,
                Err(e) => {
                    self.pcs_fetched
                        .lock()
                        .await
                        .refresh_failed_at
                        .insert(platform.clone(), now);
                    tracing::warn!(platform, error = %e, "refreshing DCAP collateral failed; what is held stays in use");
                    if e.stops_fetching() {
                        // Rate-limited or out of budget: the rest can wait
                        // for the next round.
                        break;
                    }
                    continue;
                }
            };
            let mut state = self.pcs_fetched.lock().await;
            let installed = self
                .install_fresh(&mut state, pcs, &fresh, Vec::new(), p.tee, &p.evidence, now)
                .await;
            match installed {
                Ok(()) => {
                    state.fresh_at.insert(platform.clone(), now);
                    state.refresh_failed_at.remove(&platform);
                    refreshed += 1;
                    tracing::debug!(platform, "DCAP collateral refreshed");
                }
                Err(e) => {
                    if is_revocation(&e) {
                        // A revoked machine stays revoked: its quote is no
                        // test for later collateral, so the platform waits
                        // for another of its quotes to verify.
                        state.forget(&platform);
                        self.pcs_wanted.store(true, Relaxed);
                    } else {
                        state.refresh_failed_at.insert(platform.clone(), now);
                    }
                    tracing::warn!(
                        platform,
                        error = %e,
                        "refreshed DCAP collateral does not verify the platform's remembered quote; what is held stays in use, with any CRL that revokes it"
                    );
                }
            }
        }
        refreshed
    }

    /// Adds `items` to the fetched collateral (never replacing an item
    /// with an older one), builds a verifier over it and, when the quote
    /// verifies with it, installs it; a bad answer never replaces good
    /// collateral.
    ///
    /// When the quote is refused because a CRL revokes its chain, the
    /// revoking CRL is installed (and the refusal returned), so that a
    /// revocation does not wait for the held CRL to lapse. Only a CRL that
    /// verification checked is installed: the root CA CRL (`root` names
    /// it) is checked before anything is looked up in it, so it goes in
    /// alone when it revokes; otherwise the PCK CRL revoked the PCK
    /// certificate, and it was checked too, after the root CA CRL. A PCK
    /// CRL not consulted (its CA revoked by the root CA CRL) is never
    /// installed: it could name another CA and refuse other platforms.
    #[allow(clippy::too_many_arguments)]
    fn install_dcap(
        &self,
        state: &mut PcsState,
        items: &[Fetched],
        root: &str,
        tee: &'static str,
        evidence: &Value,
        now: i64,
    ) -> Result<(), ServiceError> {
        let e = match self.try_install(state, items, tee, evidence, now, Gate::Verifies) {
            Err(e) if is_revocation(&e) => e,
            other => return other,
        };
        let crls = |root_only: bool| -> Vec<Fetched> {
            items
                .iter()
                .filter(|f| !root_only || f.path == root)
                .filter(|f| {
                    f.inputs
                        .first()
                        .is_some_and(|b| mamori_x509::Crl::from_der(b).is_ok())
                })
                .map(|f| Fetched {
                    path: f.path.clone(),
                    inputs: f.inputs.clone(),
                    keep: None,
                })
                .collect()
        };
        let root_crl = crls(true);
        let by_root = !root_crl.is_empty()
            && self
                .try_install(state, &root_crl, tee, evidence, now, Gate::Revoked(None))
                .is_ok();
        if !by_root {
            let gate = Gate::Revoked(Some(" is revoked by the PCK CRL"));
            if let Err(again) = self.try_install(state, &crls(false), tee, evidence, now, gate) {
                tracing::debug!(error = %again, "no fetched CRL revokes the quote");
            }
        }
        Err(e)
    }

    /// [`Service::install_dcap`]'s one attempt: installs `items` when the
    /// quote passes `gate` with the merged collateral.
    fn try_install(
        &self,
        state: &mut PcsState,
        items: &[Fetched],
        tee: &'static str,
        evidence: &Value,
        now: i64,
        gate: Gate,
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
        let verified = verifier.verify_collateral(tee, evidence, UnixTime(now));
        match (gate, verified) {
            (Gate::Verifies, Ok(())) => {}
            (Gate::Revoked(by), Err(e)) if is_revocation(&e) => {
                if by.is_some_and(|by| !e.to_string().ends_with(by)) {
                    return Err(e);
                }
            }
            (_, Err(e)) => return Err(e),
            (Gate::Revoked(_), Ok(())) => {
                return Err(ServiceError::Internal(
                    "the CRLs do not revoke the quote".into(),
                ))
            }
        }
        *self.dcap.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(verifier);
        state.items = next;
        Ok(())
    }
}

/// When [`Service::try_install`] installs: when the quote verifies, or
/// when it is refused because its chain is revoked (by the named CRL).
#[derive(Clone, Copy)]
enum Gate {
    Verifies,
    Revoked(Option<&'static str>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_are_due_daily_a_few_a_round_and_retried_hourly() {
        let mut state = PcsState::default();
        let quote = serde_json::json!({"quote": "AAAA", "cc_eventlog": "a large log"});
        for i in 0..6u8 {
            let needs = CollateralNeeds {
                tdx: true,
                fmspc: [i; 6],
                pck_ca: Some("platform"),
            };
            state.remember("tdx", &quote, &needs);
        }
        let p = state.platforms.values().next().expect("remembered");
        assert_eq!(
            p.evidence,
            serde_json::json!({"quote": "AAAA"}),
            "no event log kept"
        );
        let now = 1_800_000_000;
        assert_eq!(state.due(now).len(), REFRESH_PER_ROUND);
        let keys: Vec<String> = state.platforms.keys().cloned().collect();
        for k in &keys[..4] {
            state.fresh_at.insert(k.clone(), now);
        }
        state
            .refresh_failed_at
            .insert(keys[4].clone(), now - RETRY_REFRESH_SECS + 1);
        let due: Vec<String> = state
            .due(now)
            .iter()
            .map(|p| p.needs.tcb_info_path())
            .collect();
        assert_eq!(due, [keys[5].clone()]);
        assert_eq!(state.due(now + RETRY_REFRESH_SECS).len(), 2);
        assert_eq!(state.due(now + REFRESH_AFTER_SECS).len(), 4);
    }

    #[test]
    fn a_forgotten_platform_is_remembered_again_by_its_next_quote() {
        let mut state = PcsState::default();
        let needs = |i: u8| CollateralNeeds {
            tdx: true,
            fmspc: [i; 6],
            pck_ca: Some("platform"),
        };
        let quote = |q: &str| serde_json::json!({ "quote": q });
        state.remember("tdx", &quote("revoked machine"), &needs(1));
        state.forget(&needs(1).tcb_info_path());
        assert!(state.platforms.is_empty());
        assert!(state.due(0).is_empty());
        // Another platform's quote does not stand in for it.
        assert!(state.reclaim("tdx", &quote("other platform"), &needs(2)));
        assert!(state.platforms.is_empty());
        assert!(!state.reclaim("tdx", &quote("a peer"), &needs(1)));
        assert_eq!(
            state.platforms[&needs(1).tcb_info_path()].evidence,
            quote("a peer")
        );
    }

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
