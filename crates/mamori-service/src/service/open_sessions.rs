//! How many sessions await evidence, so that a flood of challenges — which
//! anyone may request, and each of which is a row in the store until it
//! expires — is refused once `[session] max_open` sessions are open,
//! instead of growing the database without bound.
//!
//! Counting is an index scan (milliseconds at 100,000 sessions), too slow
//! for every challenge, so challenges read an estimate: the last count plus
//! the sessions this node opened, less those it spent, since. It is
//! recounted every housekeeping round and, when a challenge finds it at the
//! limit, at most once a second (sessions expire by the second). It is
//! approximate — another node's sessions show at the next count, and a
//! session opened while a count ran may be missed by it — and it only
//! decides whether a new challenge is accepted.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub(crate) struct OpenSessions {
    estimate: AtomicI64,
    /// The second of the last count.
    counted_at: AtomicI64,
}

impl OpenSessions {
    pub(crate) fn estimate(&self) -> i64 {
        self.estimate.load(Relaxed)
    }

    pub(crate) fn opened(&self) {
        self.estimate.fetch_add(1, Relaxed);
    }

    pub(crate) fn spent(&self) {
        self.estimate.fetch_sub(1, Relaxed);
    }

    pub(crate) fn counted(&self, open: i64, now: i64) {
        self.estimate.store(open, Relaxed);
        self.counted_at.fetch_max(now, Relaxed);
    }

    /// Whether a count may run at `now`: true for one caller per second, so
    /// that challenges refused at the limit do not each scan the index.
    pub(crate) fn claim_count(&self, now: i64) -> bool {
        let last = self.counted_at.load(Relaxed);
        last < now
            && self
                .counted_at
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_count_per_second() {
        let o = OpenSessions::default();
        o.counted(5, 100);
        assert!(!o.claim_count(100));
        assert!(o.claim_count(101));
        assert!(!o.claim_count(101));
        o.opened();
        o.opened();
        o.spent();
        assert_eq!(o.estimate(), 6);
        // A count finishing late does not move the clock back.
        o.counted(2, 99);
        assert_eq!(o.estimate(), 2);
        assert!(!o.claim_count(101));
    }
}
