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
//! commit. A group that one write's data made the server refuse (a
//! constraint, a trigger) is retried one write at a time, so that only that
//! write fails; any other failure fails the group at once, and a failed
//! COMMIT is never retried (the server may have committed it). A write is
//! acknowledged only after its transaction committed, and runs to the end
//! even if its caller stopped waiting.

use crate::audit::{AuditEntry, NewAuditEntry};
use crate::{StoreError, WriteStats};
use deadpool_postgres::Pool;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Audited writes waiting before callers wait to queue.
const QUEUE: usize = 4_096;
/// Most audited writes committed together.
const MAX_BATCH: usize = 256;
/// Longest a caller waits for its audited write: beyond the database's own
/// bounds (a pooled connection, the lock timeout), a write that has not
/// finished is reported, though it may still commit.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

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
        let queued_and_answered = async {
            self.queue
                .send(Job { work, reply })
                .await
                .map_err(|_| StoreError::Commit("the audit writer has stopped".into()))?;
            answer
                .await
                .map_err(|_| StoreError::Commit("the audited write was abandoned".into()))?
        };
        tokio::time::timeout(ANSWER_WITHIN, queued_and_answered)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "the audited write did not finish within {} s (it may still commit)",
                    ANSWER_WITHIN.as_secs()
                )))
            })
    }

    /// Whether the writer still takes writes (readiness).
    pub(crate) fn is_running(&self) -> bool {
        !self.queue.is_closed()
    }
}

/// Why a group did not commit.
enum Failed {
    /// Before COMMIT was sent: nothing of it is stored. `one_write` when
    /// the server refused one write's data, so that the others may succeed
    /// without it.
    Before { error: StoreError, one_write: bool },
    /// COMMIT was sent and failed, or its answer was lost: the server may
    /// have committed it.
    AtCommit(StoreError),
}

impl Failed {
    fn into_error(self) -> StoreError {
        match self {
            Failed::Before { error, .. } | Failed::AtCommit(error) => error,
        }
    }
}

impl<E: Into<StoreError>> From<E> for Failed {
    fn from(e: E) -> Self {
        let error = e.into();
        // Data exceptions, integrity violations and PL/pgSQL's RAISE: the
        // server refused what one write carried.
        let one_write = match &error {
            StoreError::Postgres(e) => e.code().is_some_and(|c| {
                let c = c.code();
                c.starts_with("22") || c.starts_with("23") || c.starts_with("P0")
            }),
            _ => false,
        };
        Failed::Before { error, one_write }
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
        match guarded_commit(&pool, &works).await {
            Ok(outcomes) => {
                stats.commits.fetch_add(1, Relaxed);
                stats.writes.fetch_add(outcomes.len() as u64, Relaxed);
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            // Nothing of the group was stored, and one write's data was at
            // fault: each write on its own, so that only that one fails.
            Err(Failed::Before {
                one_write: true, ..
            }) if batch.len() > 1 => {
                for job in batch {
                    let result = match guarded_commit(&pool, &[&job.work]).await {
                        Ok(mut o) => {
                            stats.commits.fetch_add(1, Relaxed);
                            stats.writes.fetch_add(1, Relaxed);
                            o.pop().ok_or_else(nothing)
                        }
                        Err(f) => Err(f.into_error()),
                    };
                    let _ = job.reply.send(result);
                }
            }
            // The whole group failed: every write is told, in the same
            // words (a failed COMMIT stays a commit error: it may have been
            // stored).
            Err(f) => {
                let committing = matches!(f, Failed::AtCommit(_));
                let text = f.into_error().to_string();
                for job in batch {
                    let e = if committing {
                        StoreError::Commit(text.clone())
                    } else {
                        StoreError::Unavailable(text.clone())
                    };
                    let _ = job.reply.send(Err(e));
                }
            }
        }
    }
}

fn nothing() -> StoreError {
    StoreError::Corrupt("an audited write returned nothing".into())
}

/// [`commit`], with a panic in it reported as a failed commit instead of
/// ending the writer (and every later audited write with it).
async fn guarded_commit(pool: &Pool, works: &[&Work]) -> Result<Vec<Outcome>, Failed> {
    AssertUnwindSafe(commit(pool, works))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            tracing::error!("an audited-write group panicked; none of it was acknowledged");
            Err(Failed::AtCommit(StoreError::Commit(
                "internal error while committing".into(),
            )))
        })
}

/// Runs `works` in one transaction; their outcomes, in order, once it
/// committed.
async fn commit(pool: &Pool, works: &[&Work]) -> Result<Vec<Outcome>, Failed> {
    let mut client = pool.get().await.map_err(|e| {
        StoreError::Unavailable(format!("PostgreSQL: {}", crate::error::with_causes(&e)))
    })?;
    let tx = super::pg::begin(&mut client).await?;
    let spent = spend_nonces(&tx, works).await?;
    // What is to be recorded, in the order of the group.
    let mut to_record = Vec::new();
    for (i, w) in works.iter().enumerate() {
        match w {
            Work::Complete { entry, .. } if spent[i] => to_record.push(entry.clone()),
            Work::Complete { .. } => {}
            Work::Append(entries) => to_record.extend(entries.iter().cloned()),
        }
    }
    // The chain, under the lock (see `pg.rs`); nothing to record, no lock.
    let mut chained = if to_record.is_empty() {
        Vec::new()
    } else {
        super::pg::append(&tx, &to_record).await?
    }
    .into_iter();
    let mut outcomes = Vec::with_capacity(works.len());
    for (i, w) in works.iter().enumerate() {
        outcomes.push(match w {
            Work::Complete { .. } if spent[i] => {
                Outcome::Completed(true, Some(chained.next().ok_or_else(nothing)?))
            }
            Work::Complete { .. } => Outcome::Completed(false, None),
            Work::Append(entries) => {
                Outcome::Appended(chained.by_ref().take(entries.len()).collect::<Vec<_>>())
            }
        });
    }
    tx.commit().await.map_err(at_commit)?;
    Ok(outcomes)
}

/// The session updates of `works`, pipelined in one round trip: for each
/// work, whether it spent its session's nonce (false for appends). Sent in
/// id order whatever the order of arrival, so that two nodes' groups lock
/// shared rows in the same order and cannot deadlock; a session twice in a
/// group is spent by the first and not by the second.
async fn spend_nonces(
    tx: &deadpool_postgres::Transaction<'_>,
    works: &[&Work],
) -> Result<Vec<bool>, Failed> {
    let update = tx
        .prepare_cached(
            "UPDATE sessions SET used = TRUE, token = $2, token_exp = $3 \
             WHERE id = $1 AND NOT used AND expires_at >= $4",
        )
        .await?;
    type Completion<'a> = (usize, &'a String, &'a i64, Option<&'a str>, Option<i64>);
    let mut completions: Vec<Completion<'_>> = works
        .iter()
        .enumerate()
        .filter_map(|(i, w)| match w {
            Work::Complete { id, now, token, .. } => Some((
                i,
                id,
                now,
                token.as_ref().map(|t| t.0.as_str()),
                token.as_ref().map(|t| t.1),
            )),
            Work::Append(_) => None,
        })
        .collect();
    completions.sort_by(|a, b| a.1.cmp(b.1));
    let updates = completions.iter().map(|(_, id, now, tok, exp)| {
        let update = &update;
        async move { tx.execute(update, &[id, tok, exp, now]).await }
    });
    let counts = futures_util::future::try_join_all(updates).await?;
    let mut spent = vec![false; works.len()];
    for ((i, ..), n) in completions.iter().zip(counts) {
        spent[*i] = n == 1;
    }
    Ok(spent)
}

fn at_commit(e: tokio_postgres::Error) -> Failed {
    Failed::AtCommit(StoreError::Commit(crate::error::postgres_detail(&e)))
}
