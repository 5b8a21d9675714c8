//! Claims of the tokens this node minted for KBS sessions, by session id.
//!
//! A resource request that presents the session cookie on the node that
//! attested it (the common case) then needs neither a database read nor a
//! signature check: the claims are the ones this process signed, held in
//! its own memory, never read back from storage. A miss — another node
//! attested the session, or the entry was dropped — falls back to the token
//! stored with the session, verified in full: the database is not trusted
//! to vouch for a token.

use mamori_token::EarClaims;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Bound on entries (a token's claims are a few KiB at most).
const MAX_ENTRIES: usize = 4_096;

#[derive(Debug, Default)]
pub(super) struct MintedClaims {
    map: Mutex<HashMap<String, Arc<EarClaims>>>,
}

impl MintedClaims {
    pub(super) fn put(&self, session: &str, claims: Arc<EarClaims>, now: i64) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_ENTRIES {
            m.retain(|_, c| c.exp > now);
            if m.len() >= MAX_ENTRIES {
                // Still full of live entries: start over; misses only cost
                // the verified path.
                m.clear();
            }
        }
        m.insert(session.to_owned(), claims);
    }

    /// The claims, while the token is still valid at `now`.
    pub(super) fn get(&self, session: &str, now: i64) -> Option<Arc<EarClaims>> {
        let m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        m.get(session).filter(|c| c.exp > now).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mamori_token::VerifierId;

    fn claims(exp: i64) -> Arc<EarClaims> {
        Arc::new(EarClaims {
            profile: mamori_token::EAR_PROFILE.to_owned(),
            iat: 0,
            exp,
            nbf: None,
            iss: None,
            jti: "j".into(),
            verifier_id: VerifierId {
                developer: "d".into(),
                build: "b".into(),
            },
            nonce: None,
            submods: Default::default(),
        })
    }

    #[test]
    fn expired_claims_are_not_returned() {
        let m = MintedClaims::default();
        m.put("s", claims(100), 0);
        assert!(m.get("s", 99).is_some());
        assert!(m.get("s", 100).is_none());
        assert!(m.get("other", 0).is_none());
    }

    #[test]
    fn stays_bounded() {
        let m = MintedClaims::default();
        for i in 0..(MAX_ENTRIES + 10) {
            m.put(&format!("s{i}"), claims(1_000), 0);
        }
        let len = m.map.lock().map(|m| m.len()).unwrap_or(usize::MAX);
        assert!(len <= MAX_ENTRIES, "{len}");
        assert!(m.get(&format!("s{}", MAX_ENTRIES + 9), 0).is_some());
    }
}
