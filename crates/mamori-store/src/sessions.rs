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

/// Bounds on cached sessions and on the tokens they hold (a few KiB each
/// usually, but the attester controls part of a token's size). The oldest
/// entry goes first, one at a time: no request pays for a sweep, and a
/// dropped entry only costs a database read later.
const MAX_ENTRIES: usize = 4_096;
const MAX_TOKEN_BYTES: usize = 16 << 20;

#[derive(Debug, Default)]
pub(crate) struct SessionCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, SessionRecord>,
    /// Ids in insertion order; may name entries purged since.
    order: VecDeque<String>,
    /// Total length of the cached tokens.
    bytes: usize,
}

fn token_len(s: &SessionRecord) -> usize {
    s.token.as_ref().map_or(0, String::len)
}

impl Inner {
    /// Drops the oldest entries until `extra` more entries and `extra_bytes`
    /// more token bytes fit; returns what was dropped.
    fn make_room(&mut self, extra: usize, extra_bytes: usize) -> Vec<SessionRecord> {
        let mut evicted = Vec::new();
        while self.map.len() + extra > MAX_ENTRIES || self.bytes + extra_bytes > MAX_TOKEN_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(e) = self.map.remove(&old) {
                self.bytes -= token_len(&e);
                evicted.push(e);
            }
        }
        evicted
    }
}

impl SessionCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn put(&self, s: &SessionRecord) {
        let evicted = {
            let mut m = self.lock();
            let evicted = m.make_room(1, token_len(s));
            m.bytes += token_len(s);
            match m.map.insert(s.id.clone(), s.clone()) {
                Some(old) => m.bytes -= token_len(&old),
                None => m.order.push_back(s.id.clone()),
            }
            evicted
        };
        // Dropped outside the lock.
        drop(evicted);
    }

    pub(crate) fn get(&self, id: &str) -> Option<SessionRecord> {
        self.lock().map.get(id).cloned()
    }

    pub(crate) fn mark_used(&self, id: &str, token: Option<(&str, i64)>) {
        let evicted = {
            let mut m = self.lock();
            let added = token.map_or(0, |t| t.0.len());
            let evicted = if added > 0 {
                m.make_room(0, added)
            } else {
                Vec::new()
            };
            let inner = &mut *m;
            if let Some(s) = inner.map.get_mut(id) {
                s.used = true;
                if let Some((t, exp)) = token {
                    let old = s.token.replace(t.to_owned()).map_or(0, |o| o.len());
                    s.token_exp = Some(exp);
                    inner.bytes = inner.bytes + t.len() - old;
                }
            }
            evicted
        };
        drop(evicted);
    }

    /// Forgets sessions the database purged.
    pub(crate) fn purge(&self, before: i64) {
        let mut m = self.lock();
        m.map
            .retain(|_, s| s.expires_at >= before || s.token_exp.is_some_and(|t| t >= before));
        let Inner { map, order, bytes } = &mut *m;
        order.retain(|id| map.contains_key(id));
        *bytes = map.values().map(token_len).sum();
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
    fn tokens_stay_within_the_byte_budget() {
        let c = SessionCache::default();
        let token = "t".repeat(MAX_TOKEN_BYTES / 8);
        for i in 0..20 {
            let id = format!("s{i}");
            c.put(&session(&id, 100));
            c.mark_used(&id, Some((&token, 200)));
        }
        let m = c.lock();
        assert!(m.bytes <= MAX_TOKEN_BYTES, "{}", m.bytes);
        assert_eq!(m.bytes, m.map.values().map(token_len).sum::<usize>());
        assert!(m.map.contains_key("s19"));
        assert!(!m.map.contains_key("s0"));
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
