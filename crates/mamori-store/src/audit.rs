//! The append-only audit log. Each entry's hash covers the previous entry's
//! hash and every field of the entry, so editing, deleting or reordering a
//! committed entry breaks the chain at that point, and `verify` names it.

use crate::{Store, StoreError};
use aws_lc_rs::digest::{Context, SHA256};
use serde::Serialize;
use sqlx::Row;

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
    pub entries: u64,
    /// The first entry whose hash or link does not hold, if any.
    pub first_broken: Option<i64>,
    pub reason: Option<String>,
    pub head: String,
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

fn row_entry(r: &sqlx::sqlite::SqliteRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: r.try_get(0)?,
        at: r.try_get(1)?,
        actor: r.try_get(2)?,
        action: r.try_get(3)?,
        subject: r.try_get(4)?,
        outcome: r.try_get(5)?,
        detail: r.try_get(6)?,
        prev_hash: r.try_get(7)?,
        hash: r.try_get(8)?,
    })
}

const COLUMNS: &str = "seq, at, actor, action, subject, outcome, detail, prev_hash, hash";

/// A request to the audit writer: entries and where to send the result.
pub(crate) type AuditJob = (
    Vec<NewAuditEntry>,
    tokio::sync::oneshot::Sender<Result<Vec<AuditEntry>, StoreError>>,
);

/// The audit writer: one task owns appends, so the chain has one writer per
/// process, and it commits whatever is queued in one transaction (group
/// commit): under load, many requests share one commit.
pub(crate) async fn writer(pool: sqlx::SqlitePool, mut rx: tokio::sync::mpsc::Receiver<AuditJob>) {
    // 9 bound values per entry stay far below SQLite's variable limit.
    const MAX_BATCH: usize = 256;
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let all: Vec<NewAuditEntry> = jobs.iter().flat_map(|(e, _)| e.iter().cloned()).collect();
        let mut result = append(&pool, &all).await;
        // Across nodes, the primary key on `seq` makes a lost race fail;
        // retry on the new head.
        let mut attempts = 1;
        while matches!(&result, Err(StoreError::Database(sqlx::Error::Database(d))) if d.is_unique_violation())
            && attempts < 10
        {
            attempts += 1;
            result = append(&pool, &all).await;
        }
        match result {
            Ok(mut committed) => {
                for (entries, reply) in jobs {
                    let rest = committed.split_off(entries.len().min(committed.len()));
                    let _ = reply.send(Ok(committed));
                    committed = rest;
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for (_, reply) in jobs {
                    let _ = reply.send(Err(StoreError::Corrupt(format!(
                        "audit append failed: {msg}"
                    ))));
                }
            }
        }
    }
}

async fn append(
    pool: &sqlx::SqlitePool,
    entries: &[NewAuditEntry],
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut conn = pool.acquire().await?;
    // IMMEDIATE: take the write lock before reading the head, so the head
    // cannot move underneath (a deferred transaction would fail to upgrade).
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    match append_in(&mut conn, entries).await {
        Ok(out) => {
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            Ok(out)
        }
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            Err(e)
        }
    }
}

async fn append_in(
    conn: &mut sqlx::SqliteConnection,
    entries: &[NewAuditEntry],
) -> Result<Vec<AuditEntry>, StoreError> {
    let head = sqlx::query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let (mut seq, mut prev) = match head {
        Some(r) => (r.try_get::<i64, _>(0)?, r.try_get::<String, _>(1)?),
        None => (0, GENESIS_HASH.to_owned()),
    };
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        seq += 1;
        let hash = entry_hash(&prev, seq, e);
        out.push(AuditEntry {
            seq,
            at: e.at,
            actor: e.actor.clone(),
            action: e.action.clone(),
            subject: e.subject.clone(),
            outcome: e.outcome.clone(),
            detail: e.detail.clone(),
            prev_hash: prev.clone(),
            hash: hash.clone(),
        });
        prev = hash;
    }
    // One multi-row INSERT per batch: one round trip however many entries.
    let mut sql = format!("INSERT INTO audit ({COLUMNS}) VALUES ");
    for i in 0..out.len() {
        let b = i * 9;
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "(${},${},${},${},${},${},${},${},${})",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6,
            b + 7,
            b + 8,
            b + 9
        ));
    }
    let mut q = sqlx::query(&sql);
    for e in &out {
        q = q
            .bind(e.seq)
            .bind(e.at)
            .bind(&e.actor)
            .bind(&e.action)
            .bind(&e.subject)
            .bind(&e.outcome)
            .bind(&e.detail)
            .bind(&e.prev_hash)
            .bind(&e.hash);
    }
    if !out.is_empty() {
        q.execute(&mut *conn).await?;
    }
    Ok(out)
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
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.audit_queue()
            .send((entries.to_vec(), tx))
            .await
            .map_err(|_| StoreError::Corrupt("audit writer stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Corrupt("audit writer stopped".into()))?
    }

    /// Entries with `seq > after`, oldest first, at most `limit`.
    pub async fn list_audit(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(row_entry).collect()
    }

    /// Recomputes the whole chain and names the first broken link.
    pub async fn verify_audit(&self) -> Result<AuditCheck, StoreError> {
        let mut prev = GENESIS_HASH.to_owned();
        let mut expected_seq = 1;
        let mut count = 0u64;
        let mut after = 0;
        loop {
            let page = self.list_audit(after, 1000).await?;
            if page.is_empty() {
                break;
            }
            for e in &page {
                let broken = |reason: String| AuditCheck {
                    entries: count,
                    first_broken: Some(e.seq),
                    reason: Some(reason),
                    head: prev.clone(),
                };
                if e.seq != expected_seq {
                    return Ok(broken(format!(
                        "expected entry {expected_seq}, found {} (an entry was removed)",
                        e.seq
                    )));
                }
                if e.prev_hash != prev {
                    return Ok(broken(
                        "prev_hash does not link to the previous entry".into(),
                    ));
                }
                let computed = entry_hash(
                    &prev,
                    e.seq,
                    &NewAuditEntry {
                        at: e.at,
                        actor: e.actor.clone(),
                        action: e.action.clone(),
                        subject: e.subject.clone(),
                        outcome: e.outcome.clone(),
                        detail: e.detail.clone(),
                    },
                );
                if computed != e.hash {
                    return Ok(broken(
                        "hash does not match the entry's contents (the entry was altered)".into(),
                    ));
                }
                prev = e.hash.clone();
                expected_seq += 1;
                count += 1;
                after = e.seq;
            }
        }
        Ok(AuditCheck {
            entries: count,
            first_broken: None,
            reason: None,
            head: prev,
        })
    }

    /// Test support: rewrites one entry's field in place, as an attacker
    /// with database access would.
    #[doc(hidden)]
    pub async fn tamper_audit_for_tests(&self, seq: i64, detail: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE audit SET detail = $2 WHERE seq = $1")
            .bind(seq)
            .bind(detail)
            .execute(self.pool())
            .await?;
        Ok(())
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
        sqlx::query("DELETE FROM audit WHERE seq = 2")
            .execute(s.pool())
            .await
            .unwrap();
        let bad = s.verify_audit().await.unwrap();
        assert_eq!(bad.first_broken, Some(3));
    }
}
