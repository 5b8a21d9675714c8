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
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// Bound on cached sessions (each holds a token of a few KiB once
/// attested). The oldest entry goes first, one at a time: no request pays
/// for a sweep, and a dropped entry only costs a database read later.
const MAX_ENTRIES: usize = 4_096;

#[derive(Debug, Default)]
pub(crate) struct SessionCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, SessionRecord>,
    /// Ids in insertion order; may name entries purged since.
    order: VecDeque<String>,
}

impl SessionCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn put(&self, s: &SessionRecord) {
        let mut evicted = Vec::new();
        {
            let mut m = self.lock();
            while m.map.len() >= MAX_ENTRIES {
                match m.order.pop_front() {
                    Some(old) => evicted.extend(m.map.remove(&old)),
                    None => break,
                }
            }
            if m.map.insert(s.id.clone(), s.clone()).is_none() {
                m.order.push_back(s.id.clone());
            }
        }
        // Dropped outside the lock.
        drop(evicted);
    }

    pub(crate) fn get(&self, id: &str) -> Option<SessionRecord> {
        self.lock().map.get(id).cloned()
    }

    pub(crate) fn mark_used(&self, id: &str, token: Option<(&str, i64)>) {
        if let Some(s) = self.lock().map.get_mut(id) {
            s.used = true;
            if let Some((t, exp)) = token {
                s.token = Some(t.to_owned());
                s.token_exp = Some(exp);
            }
        }
    }

    /// Forgets sessions the database purged.
    pub(crate) fn purge(&self, before: i64) {
        let mut m = self.lock();
        m.map
            .retain(|_, s| s.expires_at >= before || s.token_exp.is_some_and(|t| t >= before));
        let Inner { map, order } = &mut *m;
        order.retain(|id| map.contains_key(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, expires_at: i64) -> SessionRecord {
        SessionRecord {
            id: id.into(),
            tee: "snp".into(),
            nonce: "n".into(),
            created_at: 0,
            expires_at,
            used: false,
            token: None,
            token_exp: None,
        }
    }

    #[test]
    fn stays_bounded_and_drops_the_oldest_first() {
        let c = SessionCache::default();
        for i in 0..(MAX_ENTRIES + 5) {
            c.put(&session(&format!("s{i}"), 100));
        }
        let m = c.lock();
        assert_eq!(m.map.len(), MAX_ENTRIES);
        assert_eq!(m.order.len(), MAX_ENTRIES);
        assert!(!m.map.contains_key("s0"));
        assert!(m.map.contains_key(&format!("s{}", MAX_ENTRIES + 4)));
    }

    #[test]
    fn purge_forgets_expired_sessions_but_keeps_live_tokens() {
        let c = SessionCache::default();
        c.put(&session("old", 10));
        c.put(&session("attested", 10));
        c.mark_used("attested", Some(("tok", 50)));
        c.put(&session("new", 100));
        c.purge(20);
        assert!(c.get("old").is_none());
        assert!(c.get("attested").is_some());
        assert!(c.get("new").is_some());
        assert_eq!(c.lock().order.len(), 2);
    }
}
