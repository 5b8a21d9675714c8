//! A node-local view of recent sessions, so that the common path (challenge
//! and attestation, and the KBS resource request, on the same node) reads
//! no row back from the database.
//!
//! Sound across nodes because a session only ever moves one way — unused to
//! used, no token to token, unexpired to expired — and the cache only skips
//! the database when it already knows the later state, or when the state it
//! knows is confirmed by the database's own atomic update afterwards (the
//! nonce is spent by `complete_session`'s conditional UPDATE, never here).

use crate::SessionRecord;
use std::collections::HashMap;
use std::sync::Mutex;

/// Bound on cached sessions (each holds a token of a few KiB once
/// attested): beyond it, completed sessions are dropped first (their token
/// is re-read from the database if a resource request comes late), then
/// the oldest-expiring half.
const MAX_ENTRIES: usize = 4_096;

#[derive(Debug, Default)]
pub(crate) struct SessionCache {
    map: Mutex<HashMap<String, SessionRecord>>,
}

impl SessionCache {
    pub(crate) fn put(&self, s: &SessionRecord) {
        if let Ok(mut m) = self.map.lock() {
            if m.len() >= MAX_ENTRIES {
                m.retain(|_, v| !v.used);
            }
            if m.len() >= MAX_ENTRIES {
                let mut exp: Vec<i64> = m.values().map(|v| v.expires_at).collect();
                exp.sort_unstable();
                let cut = exp.get(exp.len() / 2).copied().unwrap_or(i64::MAX);
                m.retain(|_, v| v.expires_at > cut);
            }
            m.insert(s.id.clone(), s.clone());
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<SessionRecord> {
        self.map.lock().ok().and_then(|m| m.get(id).cloned())
    }

    pub(crate) fn mark_used(&self, id: &str, token: Option<(&str, i64)>) {
        if let Ok(mut m) = self.map.lock() {
            if let Some(s) = m.get_mut(id) {
                s.used = true;
                if let Some((t, exp)) = token {
                    s.token = Some(t.to_owned());
                    s.token_exp = Some(exp);
                }
            }
        }
    }

    /// Forgets sessions the database purged.
    pub(crate) fn purge(&self, before: i64) {
        if let Ok(mut m) = self.map.lock() {
            m.retain(|_, s| s.expires_at >= before || s.token_exp.is_some_and(|t| t >= before));
        }
    }
}
