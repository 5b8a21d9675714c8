//! A node-local copy of sealed resources, so that releasing a secret reads
//! no row from the database: on SQLite each such read was a read
//! transaction of its own — two file-lock system calls, and page reads,
//! because every commit in between invalidates a reader's page cache.
//!
//! What this node writes through the store reaches the copy at once. What
//! another node (another process on the same file) writes is seen once the
//! copy is forgotten, which the service does on the same periodic reload
//! that brings it other nodes' policy and reference-value changes.
//!
//! The copy holds what the database holds, sealed: never plaintext.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Bounds on the copy (a fleet's secrets are usually few and small). When
/// full, further resources are read from the database each time until the
/// next reload forgets the copy.
const MAX_ENTRIES: usize = 4_096;
const MAX_BYTES: usize = 16 << 20;

#[derive(Debug, Default)]
pub(crate) struct ResourceCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, Arc<[u8]>>,
    bytes: usize,
    /// Bumped by every change, so that a read of the database that started
    /// before a change cannot put the old value back afterwards.
    generation: u64,
}

/// What a caller must hand back to [`ResourceCache::fill`]: the generation
/// it read the database in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket(u64);

impl ResourceCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached sealed bytes, or a ticket for filling the entry after
    /// reading the database.
    pub(crate) fn get(&self, path: &str) -> Result<Arc<[u8]>, Ticket> {
        let m = self.lock();
        m.map.get(path).cloned().ok_or(Ticket(m.generation))
    }

    /// Caches what the database returned for `path`, unless the resources
    /// changed since the ticket was issued or the copy is full.
    pub(crate) fn fill(&self, ticket: Ticket, path: &str, sealed: &[u8]) {
        let mut m = self.lock();
        if m.generation != ticket.0
            || m.map.len() >= MAX_ENTRIES
            || m.bytes + sealed.len() > MAX_BYTES
        {
            return;
        }
        // Two readers may fill the same entry; the byte count follows
        // whichever was put last.
        if let Some(old) = m.map.insert(path.to_owned(), Arc::from(sealed)) {
            m.bytes -= old.len();
        }
        m.bytes += sealed.len();
    }

    /// Forgets `path` (it was written or deleted).
    pub(crate) fn invalidate(&self, path: &str) {
        let mut m = self.lock();
        m.generation += 1;
        if let Some(old) = m.map.remove(path) {
            m.bytes -= old.len();
        }
    }

    /// Forgets everything (another node may have changed anything).
    pub(crate) fn clear(&self) {
        let mut m = self.lock();
        m.generation += 1;
        m.map.clear();
        m.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_read_that_raced_a_change_is_not_cached() {
        let c = ResourceCache::default();
        let before = c.get("a/b/c").unwrap_err();
        // A write lands between the database read and the fill.
        c.invalidate("a/b/c");
        c.fill(before, "a/b/c", b"old");
        assert!(c.get("a/b/c").is_err());
        let now = c.get("a/b/c").unwrap_err();
        c.fill(now, "a/b/c", b"new");
        assert_eq!(&*c.get("a/b/c").unwrap(), b"new");
    }

    #[test]
    fn clear_forgets_everything_and_stale_tickets() {
        let c = ResourceCache::default();
        let t = c.get("x").unwrap_err();
        c.fill(t, "x", b"1");
        let stale = c.get("y").unwrap_err();
        c.clear();
        assert!(c.get("x").is_err());
        c.fill(stale, "y", b"2");
        assert!(c.get("y").is_err());
        assert_eq!(c.lock().bytes, 0);
    }

    #[test]
    fn filling_an_entry_twice_counts_its_bytes_once() {
        let c = ResourceCache::default();
        let t = c.get("p").unwrap_err();
        c.fill(t, "p", b"12345");
        c.fill(t, "p", b"123");
        assert_eq!(c.lock().bytes, 3);
        c.invalidate("p");
        assert_eq!(c.lock().bytes, 0);
    }

    #[test]
    fn stays_within_its_bounds() {
        let c = ResourceCache::default();
        let big = vec![0u8; MAX_BYTES / 2 + 1];
        let t = c.get("one").unwrap_err();
        c.fill(t, "one", &big);
        let t = c.get("two").unwrap_err();
        c.fill(t, "two", &big);
        assert!(c.get("one").is_ok());
        assert!(c.get("two").is_err(), "over the byte bound: not cached");
        for i in 0..MAX_ENTRIES + 10 {
            let p = format!("p{i}");
            let t = c.get(&p).unwrap_err();
            c.fill(t, &p, b"s");
        }
        let m = c.lock();
        assert!(m.map.len() <= MAX_ENTRIES);
        assert_eq!(m.bytes, m.map.values().map(|v| v.len()).sum::<usize>());
    }
}
