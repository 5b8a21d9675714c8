//! Group commit of audited writes on PostgreSQL.
//!
//! Every attestation and every release appends to the one audit chain, and
//! an append holds the cluster-wide audit lock from reading the chain's
//! head until its transaction has committed (an fsync on the server). One
//! transaction per append made that lock the limit of the whole cluster:
//! about 550 kbs-sample flows per second here, with the database and the
//! node both well short of busy. As on SQLite (`db.rs`), a node therefore
//! runs the audited writes queued at a moment in one transaction: their
//! session updates pipelined in one round trip before the lock is taken,
//! then the lock, the head, every entry in one `INSERT … UNNEST`, and one
//! commit. A batch that fails is retried one job at a time, so that one
//! bad write cannot fail the others; a write is acknowledged only after its
//! transaction committed, and runs to the end even if its caller stopped
//! waiting.

use crate::audit::{self, AuditEntry, NewAuditEntry, GENESIS_HASH};
use crate::{StoreError, WriteStats};
use deadpool_postgres::Pool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Audited writes waiting before callers wait to queue.
const QUEUE: usize = 4_096;
/// Most audited writes committed together.
const MAX_BATCH: usize = 256;

/// An audited write.
pub(crate) enum Work {
    /// Spend the session's nonce, store its token and, if it was spent,
    /// append `entry`.
    Complete {
        id: String,
        now: i64,
        token: Option<(String, i64)>,
        entry: NewAuditEntry,
    },
    /// Append entries, consecutive in the chain.
    Append(Vec<NewAuditEntry>),
}

/// What became of a [`Work`].
pub(crate) enum Outcome {
    /// Whether the session was spent, and the entry recording it.
    Completed(bool, Option<AuditEntry>),
    Appended(Vec<AuditEntry>),
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

/// The node's queue of audited writes; its task stops once this is dropped.
pub(crate) struct AuditWriter {
    queue: mpsc::Sender<Job>,
}

impl AuditWriter {
    pub(crate) fn spawn(pool: Pool, stats: Arc<WriteStats>) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, stats, rx));
        AuditWriter { queue }
    }

    pub(crate) async fn submit(&self, work: Work) -> Result<Outcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { work, reply })
            .await
            .map_err(|_| StoreError::Commit("the audit writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Commit("the audited write was abandoned".into()))?
    }
}

async fn run(pool: Pool, stats: Arc<WriteStats>, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let works: Vec<&Work> = batch.iter().map(|j| &j.work).collect();
        match commit(&pool, &works).await {
            Ok(outcomes) => {
                stats.commits.fetch_add(1, Relaxed);
                stats.writes.fetch_add(outcomes.len() as u64, Relaxed);
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(e) if batch.len() == 1 => {
                if let Some(job) = batch.pop() {
                    let _ = job.reply.send(Err(e));
                }
            }
            // Nothing of the batch was stored: each write on its own, so
            // that only the one at fault fails.
            Err(_) => {
                for job in batch {
                    let result = commit(&pool, &[&job.work]).await;
                    if result.is_ok() {
                        stats.commits.fetch_add(1, Relaxed);
                        stats.writes.fetch_add(1, Relaxed);
                    }
                    let _ = job
                        .reply
                        .send(result.and_then(|mut o| o.pop().ok_or_else(nothing)));
                }
            }
        }
    }
}

fn nothing() -> StoreError {
    StoreError::Corrupt("an audited write returned nothing".into())
}

/// Runs `works` in one transaction; their outcomes, in order, once it
/// committed.
async fn commit(pool: &Pool, works: &[&Work]) -> Result<Vec<Outcome>, StoreError> {
    let mut client = pool
        .get()
        .await
        .map_err(|e| StoreError::Unavailable(format!("PostgreSQL: {e}")))?;
    let tx = super::pg::begin(&mut client).await?;
    // The session updates, pipelined, before the lock is taken: they lock
    // only their own rows.
    let update = tx
        .prepare_cached(
            "UPDATE sessions SET used = TRUE, token = $2, token_exp = $3 \
             WHERE id = $1 AND NOT used AND expires_at >= $4",
        )
        .await?;
    let mut updates = Vec::new();
    for w in works {
        if let Work::Complete { id, now, token, .. } = w {
            let (tok, exp) = (
                token.as_ref().map(|t| t.0.as_str()),
                token.as_ref().map(|t| t.1),
            );
            let (tx, update) = (&tx, &update);
            updates.push(async move { tx.execute(update, &[id, &tok, &exp, now]).await });
        }
    }
    let mut spent = futures_util::future::try_join_all(updates)
        .await?
        .into_iter()
        .map(|n| n == 1);
    // The chain, under the lock (see `pg.rs`).
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&super::pg::AUDIT_LOCK],
    )
    .await?;
    let head = tx
        .query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])
        .await?;
    let (mut seq, mut prev): (i64, String) = match head {
        Some(r) => (r.try_get(0)?, r.try_get(1)?),
        None => (0, GENESIS_HASH.to_owned()),
    };
    let mut chained = Vec::new();
    let mut chain = |e: &NewAuditEntry| -> Result<AuditEntry, StoreError> {
        seq = audit::next_seq(seq)?;
        let a = AuditEntry::chained(seq, e.clone(), std::mem::take(&mut prev));
        prev = a.hash.clone();
        chained.push(a.clone());
        Ok(a)
    };
    let mut outcomes = Vec::with_capacity(works.len());
    for w in works {
        outcomes.push(match w {
            Work::Complete { entry, .. } => {
                if spent.next().unwrap_or(false) {
                    Outcome::Completed(true, Some(chain(entry)?))
                } else {
                    Outcome::Completed(false, None)
                }
            }
            Work::Append(entries) => {
                Outcome::Appended(entries.iter().map(&mut chain).collect::<Result<_, _>>()?)
            }
        });
    }
    if !chained.is_empty() {
        insert(&tx, &chained).await?;
    }
    tx.commit()
        .await
        .map_err(|e| StoreError::Commit(crate::error::postgres_detail(&e)))?;
    Ok(outcomes)
}

/// Inserts `entries` in one statement.
async fn insert(
    tx: &deadpool_postgres::Transaction<'_>,
    entries: &[AuditEntry],
) -> Result<(), StoreError> {
    let column = |f: fn(&AuditEntry) -> &str| entries.iter().map(f).collect::<Vec<_>>();
    let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
    let ats: Vec<i64> = entries.iter().map(|e| e.at).collect();
    let st = tx
        .prepare_cached(&format!(
            "INSERT INTO audit ({}) SELECT * FROM UNNEST($1::bigint[], $2::bigint[], \
             $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])",
            audit::COLUMNS
        ))
        .await?;
    tx.execute(
        &st,
        &[
            &seqs,
            &ats,
            &column(|e| &e.actor),
            &column(|e| &e.action),
            &column(|e| &e.subject),
            &column(|e| &e.outcome),
            &column(|e| &e.detail),
            &column(|e| &e.prev_hash),
            &column(|e| &e.hash),
        ],
    )
    .await?;
    Ok(())
}
