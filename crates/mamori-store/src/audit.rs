//! The append-only audit log. Each entry's hash covers the previous entry's
//! hash and every field of the entry, so editing, deleting or reordering a
//! committed entry breaks the chain at that point, and `verify` names it.
//!
//! Retention removes the oldest entries, never the newest, and records the
//! last one removed (its sequence number and hash) as the chain's anchor:
//! the entries kept verify from there, and the removal is itself an entry.

use crate::{Store, StoreError};
use aws_lc_rs::digest::{Context, SHA256};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What is appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub at: i64,
    /// Who: `admin:<key id>`, `tee:<session>`, `system`.
    pub actor: String,
    /// What: `attestation`, `release`, `resource.set`, `policy.set`, …
    pub action: String,
    /// On what: a resource path, a policy id, a TEE kind.
    pub subject: String,
    /// `ok`, `denied`, `rejected`, `error`.
    pub outcome: String,
    /// Details as JSON text.
    pub detail: String,
}

/// A committed entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub outcome: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The result of checking the whole chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditCheck {
    /// Entries up to this sequence number were removed by retention; the
    /// check started from the anchor they left.
    pub starts_after: Option<i64>,
    pub entries: u64,
    /// The first entry whose hash or link does not hold, if any.
    pub first_broken: Option<i64>,
    pub reason: Option<String>,
    pub head: String,
}

impl AuditEntry {
    /// The entry as committed after `prev`, with its hash.
    pub(crate) fn chained(seq: i64, e: NewAuditEntry, prev: String) -> Self {
        let hash = entry_hash(&prev, seq, &e);
        AuditEntry {
            seq,
            at: e.at,
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            outcome: e.outcome,
            detail: e.detail,
            prev_hash: prev,
            hash,
        }
    }

    /// What was appended, without the chain fields.
    fn content(&self) -> NewAuditEntry {
        NewAuditEntry {
            at: self.at,
            actor: self.actor.clone(),
            action: self.action.clone(),
            subject: self.subject.clone(),
            outcome: self.outcome.clone(),
            detail: self.detail.clone(),
        }
    }
}

fn entry_hash(prev: &str, seq: i64, e: &NewAuditEntry) -> String {
    let mut ctx = Context::new(&SHA256);
    // Length-prefixed fields: no two different entries hash the same input.
    let seq_s = seq.to_string();
    let at_s = e.at.to_string();
    for field in [
        prev, &seq_s, &at_s, &e.actor, &e.action, &e.subject, &e.outcome, &e.detail,
    ] {
        ctx.update(&(field.len() as u64).to_be_bytes());
        ctx.update(field.as_bytes());
    }
    hex::encode(ctx.finish().as_ref())
}

fn row_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        subject: r.get(4)?,
        outcome: r.get(5)?,
        detail: r.get(6)?,
        prev_hash: r.get(7)?,
        hash: r.get(8)?,
    })
}

pub(crate) const COLUMNS: &str =
    "seq, at, actor, action, subject, outcome, detail, prev_hash, hash";

/// Appends `entries` after the current head. It runs inside the writer's
/// IMMEDIATE transaction, which holds the write lock from before the head is
/// read, so the head cannot move underneath — not even by another process
/// on the same file — and the chain never forks.
pub(crate) fn append(
    tx: &Connection,
    entries: Vec<NewAuditEntry>,
) -> Result<Vec<AuditEntry>, StoreError> {
    let head: Option<(i64, String)> = {
        let mut st = tx.prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?;
        let mut rows = st.query([])?;
        match rows.next()? {
            Some(r) => Some((r.get(0)?, r.get(1)?)),
            None => None,
        }
    };
    let (mut seq, mut prev) = head.unwrap_or((0, GENESIS_HASH.to_owned()));
    let mut out = Vec::with_capacity(entries.len());
    {
        let mut insert = tx.prepare_cached(&format!(
            "INSERT INTO audit ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ))?;
        for e in entries {
            seq = next_seq(seq)?;
            let a = AuditEntry::chained(seq, e, prev);
            insert.execute(params![
                a.seq,
                a.at,
                a.actor,
                a.action,
                a.subject,
                a.outcome,
                a.detail,
                a.prev_hash,
                a.hash
            ])?;
            prev = a.hash.clone();
            out.push(a);
        }
    }
    Ok(out)
}

/// The sequence number after `seq`. Only a tampered head could be at the
/// end of the range.
pub(crate) fn next_seq(seq: i64) -> Result<i64, StoreError> {
    seq.checked_add(1).ok_or_else(|| {
        StoreError::Corrupt(format!("the audit chain's head has sequence number {seq}"))
    })
}

/// Why retention refuses to remove anything: a broken link among the
/// entries it would remove.
pub(crate) fn broken_for_retention(seq: i64, reason: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "the audit chain is broken at entry {seq} ({reason}): retention \
         removes nothing until it is examined (audit verify)"
    ))
}

/// Why retention refuses to build on an anchor no entry records.
pub(crate) fn anchor_unrecorded(seq: i64) -> StoreError {
    StoreError::Corrupt(format!(
        "no audit.prune entry records the audit chain's anchor (entry {seq}): retention \
         removes nothing until it is examined (audit verify)"
    ))
}

/// The `audit.prune` entry recording a removal through entry `through`,
/// whose hash `hash` becomes the anchor.
pub(crate) fn prune_record(
    at: i64,
    actor: String,
    through: i64,
    hash: &str,
    detail: String,
) -> NewAuditEntry {
    NewAuditEntry {
        at,
        actor,
        action: PRUNE_ACTION.to_owned(),
        subject: anchor_subject(through, hash),
        outcome: "ok".to_owned(),
        detail,
    }
}

/// The action of the entry that records a removal by retention.
pub const PRUNE_ACTION: &str = "audit.prune";

/// The subject of the `audit.prune` entry that made an anchor: it names
/// the anchor, so the anchor row, which is outside the chain, is only
/// believed when an entry in the chain vouches for it.
pub fn anchor_subject(seq: i64, hash: &str) -> String {
    format!("anchor {seq} {hash}")
}

/// Whether `e` follows the entry whose hash is `prev` as entry `expected`;
/// if not, which link does not hold.
pub(crate) fn check_link(e: &AuditEntry, expected: i64, prev: &str) -> Result<(), String> {
    if e.seq != expected {
        return Err(format!(
            "expected entry {expected}, found {} (an entry was removed)",
            e.seq
        ));
    }
    if e.prev_hash != prev {
        return Err("prev_hash does not link to the previous entry".into());
    }
    if entry_hash(prev, e.seq, &e.content()) != e.hash {
        return Err("hash does not match the entry's contents (the entry was altered)".into());
    }
    Ok(())
}

/// The anchor row, if retention removed entries.
fn anchor(c: &Connection) -> Result<Option<(i64, String)>, StoreError> {
    Ok(anchor_row(c)?.map(|(seq, hash, _)| (seq, hash)))
}

/// The anchor row with the sequence number of the `audit.prune` entry that
/// recorded it (absent for anchors written before that was kept).
fn anchor_row(c: &Connection) -> Result<Option<(i64, String, Option<i64>)>, StoreError> {
    Ok(
        c.prepare_cached("SELECT seq, hash, recorded_by FROM audit_anchor WHERE id = 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?,
    )
}

/// Refuses an anchor that no `audit.prune` entry of the chain records.
/// Verification reports such an anchor as a break; retention builds on the
/// anchor, and removing entries from a forged one would replace it with a
/// genuine anchor and a clean chain, erasing the evidence.
fn check_anchor_recorded(
    c: &Connection,
    seq: i64,
    hash: &str,
    recorded_by: Option<i64>,
) -> Result<(), StoreError> {
    let subject = anchor_subject(seq, hash);
    let recorded = match recorded_by {
        Some(r) => c
            .prepare_cached("SELECT 1 FROM audit WHERE seq = ?1 AND action = ?2 AND subject = ?3")?
            .query_row(params![r, PRUNE_ACTION, subject], |_| Ok(()))
            .optional()?,
        // Written before the record's position was kept: a scan, once.
        None => c
            .prepare_cached(
                "SELECT 1 FROM audit WHERE seq > ?1 AND action = ?2 AND subject = ?3 LIMIT 1",
            )?
            .query_row(params![seq, PRUNE_ACTION, subject], |_| Ok(()))
            .optional()?,
    };
    match recorded {
        Some(()) => Ok(()),
        None => Err(anchor_unrecorded(seq)),
    }
}

impl Store {
    /// Appends one entry to the chain and returns it once committed.
    pub async fn append_audit(&self, e: &NewAuditEntry) -> Result<AuditEntry, StoreError> {
        self.append_audit_batch(std::slice::from_ref(e))
            .await?
            .pop()
            .ok_or_else(|| StoreError::Corrupt("audit append returned nothing".into()))
    }

    /// Appends entries (consecutive in the chain) and returns them once
    /// committed.
    pub async fn append_audit_batch(
        &self,
        entries: &[NewAuditEntry],
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let entries = entries.to_vec();
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.append_audit(entries).await,
        };
        if entries.len() == 1 {
            // One INSERT is the only change: atomic without a savepoint.
            db.write_statement(move |c| append(c, entries)).await
        } else {
            db.write(move |c| append(c, entries)).await
        }
    }

    /// Entries with `seq > after`, oldest first, at most `limit`.
    pub async fn list_audit(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.list_audit(after, limit).await,
        };
        db.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ))?;
            let rows = st.query_map([after, limit], row_entry)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Recomputes the whole chain, from its anchor when entries were
    /// removed, and names the first broken link.
    pub async fn verify_audit(&self) -> Result<AuditCheck, StoreError> {
        // Retention may remove entries while the chain is read, page by
        // page: a gap that a newer anchor explains starts the check over
        // from that anchor (a few times at most; retention removes the
        // oldest entries once a minute).
        let mut anchor = self.audit_anchor().await?;
        for _ in 0..3 {
            let check = self.verify_audit_from(anchor.clone()).await?;
            if check.first_broken.is_none() {
                return Ok(check);
            }
            let now = self.audit_anchor().await?;
            if now == anchor {
                return Ok(check);
            }
            anchor = now;
        }
        self.verify_audit_from(anchor).await
    }

    /// The chain's anchor: the sequence number and hash of the last entry
    /// retention removed, if any was.
    pub async fn audit_anchor(&self) -> Result<Option<(i64, String)>, StoreError> {
        match self.sqlite() {
            Ok(db) => db.read(anchor).await,
            Err(pg) => pg.audit_anchor().await,
        }
    }

    async fn verify_audit_from(
        &self,
        anchor: Option<(i64, String)>,
    ) -> Result<AuditCheck, StoreError> {
        let starts_after = anchor.as_ref().map(|a| a.0);
        // What the `audit.prune` entry that made the anchor says, and the
        // first entry kept (where the chain is broken if none says it).
        let vouching = anchor
            .as_ref()
            .map(|(seq, hash)| anchor_subject(*seq, hash));
        let mut unconfirmed = anchor.as_ref().map(|a| a.0.saturating_add(1));
        let (mut after, mut prev) = anchor.unwrap_or((0, GENESIS_HASH.to_owned()));
        let mut expected_seq = after.saturating_add(1);
        let mut count = 0u64;
        loop {
            let page = self.list_audit(after, 1000).await?;
            if page.is_empty() {
                break;
            }
            for e in &page {
                let broken = |reason: String| AuditCheck {
                    starts_after,
                    entries: count,
                    first_broken: Some(e.seq),
                    reason: Some(reason),
                    head: prev.clone(),
                };
                if let Err(reason) = check_link(e, expected_seq, &prev) {
                    return Ok(broken(reason));
                }
                if e.action == PRUNE_ACTION && vouching.as_deref() == Some(e.subject.as_str()) {
                    unconfirmed = None;
                }
                prev = e.hash.clone();
                expected_seq = expected_seq.saturating_add(1);
                count += 1;
                after = e.seq;
            }
        }
        if let Some(first) = unconfirmed {
            // Entries before the anchor were removed, but no entry of the
            // chain says retention removed them.
            return Ok(AuditCheck {
                starts_after,
                entries: count,
                first_broken: Some(first),
                reason: Some(
                    "no audit.prune entry records the anchor the chain starts from \
                     (entries before it were removed outside retention)"
                        .into(),
                ),
                head: prev,
            });
        }
        Ok(AuditCheck {
            starts_after,
            entries: count,
            first_broken: None,
            reason: None,
            head: prev,
        })
    }

    /// Retention: removes, oldest first, at most `max` entries recorded
    /// before `before`, never the newest entry, and records the removal in
    /// the same transaction as an `audit.prune` entry by `actor` at `at`,
    /// whose subject names the new anchor ([`anchor_subject`]) and whose
    /// detail `detail` makes from the number removed and the last sequence
    /// number removed. Stops at the first entry not older than `before`, so
    /// a clock that went back never removes entries out of order. The
    /// entries to remove are verified first: a broken link among them is
    /// an error and nothing is removed, so retention never erases the
    /// evidence of tampering. Returns the number removed (0: nothing to
    /// remove, and nothing recorded).
    pub async fn prune_audit(
        &self,
        before: i64,
        max: u32,
        at: i64,
        actor: String,
        detail: impl FnOnce(u64, i64) -> String + Send + 'static,
    ) -> Result<u64, StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.prune_audit(before, max, at, actor, detail).await,
        };
        db.write(move |c| {
            let (mut expected, mut prev) = match anchor_row(c)? {
                Some((seq, hash, recorded_by)) => {
                    check_anchor_recorded(c, seq, &hash, recorded_by)?;
                    (seq.saturating_add(1), hash)
                }
                None => (1, GENESIS_HASH.to_owned()),
            };
            let first = expected;
            let head: Option<i64> = c.query_row("SELECT MAX(seq) FROM audit", [], |r| r.get(0))?;
            let Some(head) = head else {
                return Ok(0);
            };
            // The prefix of entries older than `before`, read in order
            // along the primary key (no scan of the table), each checked
            // against the one before it.
            let mut last = None;
            {
                let mut st = c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM audit WHERE seq >= ?1 AND seq < ?2 \
                         ORDER BY seq LIMIT ?3"
                ))?;
                let mut rows = st.query(params![expected, head, max])?;
                while let Some(r) = rows.next()? {
                    let e = row_entry(r)?;
                    if e.at >= before {
                        break;
                    }
                    check_link(&e, expected, &prev)
                        .map_err(|reason| broken_for_retention(e.seq, &reason))?;
                    expected = e.seq.saturating_add(1);
                    prev = e.hash.clone();
                    last = Some(e.seq);
                }
            }
            let Some(through) = last else {
                return Ok(0);
            };
            // Only the stretch just verified.
            let removed = c
                .prepare_cached("DELETE FROM audit WHERE seq BETWEEN ?1 AND ?2")?
                .execute([first, through])? as u64;
            let record = prune_record(at, actor, through, &prev, detail(removed, through));
            let recorded_by = append(c, vec![record])?
                .pop()
                .map(|e| e.seq)
                .ok_or_else(|| StoreError::Corrupt("audit append returned nothing".into()))?;
            c.prepare_cached(
                "INSERT INTO audit_anchor (id, seq, hash, pruned_at, recorded_by) \
                     VALUES (1, ?1, ?2, ?3, ?4) \
                     ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, \
                     pruned_at = excluded.pruned_at, recorded_by = excluded.recorded_by",
            )?
            .execute(params![through, prev, at, recorded_by])?;
            Ok(removed)
        })
        .await
    }

    /// Test support: rewrites one entry's field in place, as an attacker
    /// with database access would.
    #[doc(hidden)]
    pub async fn tamper_audit_for_tests(&self, seq: i64, detail: &str) -> Result<(), StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.tamper_audit(seq, detail).await,
        };
        let detail = detail.to_owned();
        db.write(move |c| {
            c.execute(
                "UPDATE audit SET detail = ?2 WHERE seq = ?1",
                params![seq, detail],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(i: i64) -> NewAuditEntry {
        NewAuditEntry {
            at: 1000 + i,
            actor: "admin:test".into(),
            action: "resource.set".into(),
            subject: format!("default/key/{i}"),
            outcome: "ok".into(),
            detail: "{}".into(),
        }
    }

    #[tokio::test]
    async fn chain_verifies_and_names_the_first_altered_entry() {
        let s = Store::open_in_memory().await.unwrap();
        for i in 0..5 {
            s.append_audit(&entry(i)).await.unwrap();
        }
        s.append_audit_batch(&[entry(5), entry(6)]).await.unwrap();
        let ok = s.verify_audit().await.unwrap();
        assert_eq!(ok.entries, 7);
        assert_eq!(ok.first_broken, None);
        s.tamper_audit_for_tests(3, "{\"x\":1}").await.unwrap();
        let bad = s.verify_audit().await.unwrap();
        assert_eq!(bad.first_broken, Some(3));
        assert_eq!(bad.entries, 2);
    }

    #[tokio::test]
    async fn a_deleted_entry_is_detected() {
        let s = Store::open_in_memory().await.unwrap();
        for i in 0..4 {
            s.append_audit(&entry(i)).await.unwrap();
        }
        s.sqlite()
            .unwrap()
            .write(|c| Ok(c.execute("DELETE FROM audit WHERE seq = 2", [])?))
            .await
            .unwrap();
        let bad = s.verify_audit().await.unwrap();
        assert_eq!(bad.first_broken, Some(3));
    }

    async fn prune(s: &Store, before: i64, max: u32) -> Result<u64, StoreError> {
        s.prune_audit(before, max, 5000, "system".into(), |removed, through| {
            format!("{{\"removed\":{removed},\"through\":{through}}}")
        })
        .await
    }

    #[tokio::test]
    async fn retention_removes_the_oldest_entries_and_the_rest_verify_from_the_anchor() {
        let s = Store::open_in_memory().await.unwrap();
        for i in 0..10 {
            s.append_audit(&entry(i)).await.unwrap();
        }
        let fourth = s.list_audit(3, 1).await.unwrap().remove(0);
        // Entries at 1000..=1009; those before 1004 go, two at a time.
        assert_eq!(prune(&s, 1004, 2).await.unwrap(), 2);
        assert_eq!(prune(&s, 1004, 2).await.unwrap(), 2);
        assert_eq!(prune(&s, 1004, 2).await.unwrap(), 0, "done");
        assert_eq!(s.audit_anchor().await.unwrap(), Some((4, fourth.hash)));
        let kept = s.list_audit(0, 100).await.unwrap();
        assert_eq!(kept.first().map(|e| e.seq), Some(5));
        // Each removal was recorded, after the entries kept.
        let records: Vec<_> = kept.iter().filter(|e| e.action == "audit.prune").collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].detail, "{\"removed\":2,\"through\":4}");
        let ok = s.verify_audit().await.unwrap();
        assert_eq!(
            (ok.starts_after, ok.entries, ok.first_broken),
            (Some(4), 8, None)
        );
        // Appending goes on from the head.
        let next = s.append_audit(&entry(20)).await.unwrap();
        assert_eq!(next.seq, 13);
        // Tampering after the anchor is still found, and so is removing the
        // first entry kept without moving the anchor.
        s.tamper_audit_for_tests(6, "{\"x\":1}").await.unwrap();
        assert_eq!(s.verify_audit().await.unwrap().first_broken, Some(6));
        s.sqlite()
            .unwrap()
            .write(|c| Ok(c.execute("DELETE FROM audit WHERE seq = 5", [])?))
            .await
            .unwrap();
        let bad = s.verify_audit().await.unwrap();
        assert_eq!((bad.starts_after, bad.first_broken), (Some(4), Some(6)));
        // An anchor moved without removing entries breaks the link.
        s.sqlite()
            .unwrap()
            .write(|c| Ok(c.execute("UPDATE audit_anchor SET hash = 'x'", [])?))
            .await
            .unwrap();
        assert!(s.verify_audit().await.unwrap().first_broken.is_some());
    }

    #[tokio::test]
    async fn retention_never_removes_the_newest_entry_nor_passes_a_newer_one() {
        let s = Store::open_in_memory().await.unwrap();
        assert_eq!(prune(&s, i64::MAX, 100).await.unwrap(), 0);
        s.append_audit(&entry(0)).await.unwrap();
        assert_eq!(
            prune(&s, i64::MAX, 100).await.unwrap(),
            0,
            "the only entry is the newest"
        );
        // A clock that went back: entry 3 is recorded before entry 2.
        let mut back = entry(-5);
        back.subject = "clock went back".into();
        s.append_audit(&entry(1)).await.unwrap();
        s.append_audit(&entry(3)).await.unwrap();
        s.append_audit(&back).await.unwrap();
        s.append_audit(&entry(4)).await.unwrap();
        // Entries at 1000, 1001, 1003, 995, 1004: cut-off 1002 stops at the
        // third, and the older one after it stays.
        assert_eq!(prune(&s, 1002, 100).await.unwrap(), 2);
        let kept: Vec<i64> = s
            .list_audit(0, 100)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(kept, [3, 4, 5, 6]);
        assert_eq!(s.verify_audit().await.unwrap().first_broken, None);
    }

    #[tokio::test]
    async fn an_anchor_no_prune_entry_vouches_for_is_a_break() {
        // Someone with the database deletes the oldest entries and writes
        // an anchor that fits the first entry kept.
        let s = Store::open_in_memory().await.unwrap();
        for i in 0..5 {
            s.append_audit(&entry(i)).await.unwrap();
        }
        let second = s.list_audit(1, 1).await.unwrap().remove(0);
        s.sqlite()
            .unwrap()
            .write(move |c| {
                c.execute("DELETE FROM audit WHERE seq <= 2", [])?;
                c.execute(
                    "INSERT INTO audit_anchor (id, seq, hash, pruned_at) VALUES (1, 2, ?1, 0)",
                    [second.hash],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let bad = s.verify_audit().await.unwrap();
        assert_eq!((bad.starts_after, bad.first_broken), (Some(2), Some(3)));
        assert!(bad.reason.unwrap().contains("audit.prune"));
        // Retention does not build on it: removing entries from the forged
        // anchor would leave a genuine anchor and a chain that verifies.
        match prune(&s, 1004, 100).await {
            Err(StoreError::Corrupt(m)) => assert!(m.contains("anchor (entry 2)"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.list_audit(0, 100).await.unwrap().len(),
            3,
            "nothing removed"
        );
        assert_eq!(s.verify_audit().await.unwrap().first_broken, Some(3));
    }

    #[tokio::test]
    async fn retention_goes_on_from_an_anchor_recorded_before_its_record_was_kept() {
        // Anchors written by schema 5 have no `recorded_by`: retention finds
        // their audit.prune entry by its subject.
        let s = Store::open_in_memory().await.unwrap();
        for i in 0..8 {
            s.append_audit(&entry(i)).await.unwrap();
        }
        assert_eq!(prune(&s, 1003, 100).await.unwrap(), 3);
        s.sqlite()
            .unwrap()
            .write(|c| Ok(c.execute("UPDATE audit_anchor SET recorded_by = NULL", [])?))
            .await
            .unwrap();
        assert_eq!(prune(&s, 1006, 100).await.unwrap(), 3);
        assert_eq!(s.audit_anchor().await.unwrap().map(|a| a.0), Some(6));
        assert_eq!(s.verify_audit().await.unwrap().first_broken, None);
    }

    #[tokio::test]
    async fn retention_does_not_remove_a_broken_stretch_of_the_chain() {
        let s = Store::open_in_memory().await.unwrap();
        for i in 0..6 {
            s.append_audit(&entry(i)).await.unwrap();
        }
        s.tamper_audit_for_tests(2, "{\"x\":1}").await.unwrap();
        match prune(&s, 1004, 100).await {
            Err(StoreError::Corrupt(m)) => assert!(m.contains("entry 2"), "{m}"),
            other => panic!("{other:?}"),
        }
        // Nothing was removed: the break is still there to be found.
        assert_eq!(s.audit_anchor().await.unwrap(), None);
        assert_eq!(s.verify_audit().await.unwrap().first_broken, Some(2));
    }
}
