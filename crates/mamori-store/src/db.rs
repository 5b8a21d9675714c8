//! Connections to the SQLite database and how statements run on them.
//!
//! Reads run inline on the calling thread: an indexed point read costs a
//! few microseconds in SQLite itself, while handing each statement to
//! another thread (as sqlx's SQLite driver does, one worker thread per
//! connection) cost about 30 µs of CPU per statement here, two futex
//! wake-ups included. Readers use a small pool of connections and never wait
//! for the writer (WAL).
//!
//! Writes go to one writer thread, which runs whatever is queued in one
//! transaction (group commit). Under load many requests share a commit, and
//! above all the pages they touch: in WAL mode every commit appends each
//! page it changed, whole, to the log, and the rows of concurrent sessions
//! and audit entries sit on the same few pages — committed one by one, the
//! log writes were the largest single cost of a complete attestation flow.
//! A write is acknowledged only after its transaction committed.
//! Checkpoints — the only step that may wait for the disk — run on a
//! background thread, never on a request's path.

use crate::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Read connections kept open for reuse (more may be opened under load;
/// the surplus is closed when returned).
const MAX_IDLE_READERS: usize = 8;
/// How often the background thread copies the write-ahead log into the
/// database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// A log longer than this many frames (256 MiB of 4 KiB pages) is started
/// over (see `restart_log`). Restarting costs the writer a pause of one
/// sync of the database file — 30 to 42 ms on this project's machines — so
/// it is done rarely: every 7 s or so at 2,300 KBS flows per second.
pub(crate) const RESTART_LOG_FRAMES: i64 = 65_536;
/// The log file is truncated back to this size when it starts over, so its
/// disk space is reused rather than freed and allocated again.
const LOG_SIZE_LIMIT: i64 = 256 << 20;
/// Writes waiting for the writer thread before callers wait to queue
/// (back-pressure instead of unbounded memory).
const QUEUE: usize = 4_096;
/// Most writes committed together.
const MAX_BATCH: usize = 512;
/// Statements kept prepared per connection (the store uses fewer).
const STATEMENT_CACHE: usize = 64;

/// The schema, in order. A database records the last one applied in
/// `PRAGMA user_version`.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_session_evidence.sql")),
    (
        3,
        include_str!("../migrations/0003_drop_evidence_index.sql"),
    ),
    (
        4,
        include_str!("../migrations/0004_open_sessions_index.sql"),
    ),
    (5, include_str!("../migrations/0005_audit_anchor.sql")),
    (
        6,
        include_str!("../migrations/0006_audit_anchor_record.sql"),
    ),
    (7, include_str!("../migrations/0007_collateral.sql")),
];

/// A write as the writer thread runs it: the operation, handed the
/// connection (or why the batch could not start), returns how to deliver
/// its result once the outcome of the commit is known.
type Job = Box<dyn FnOnce(Result<&Connection, &str>) -> Deliver + Send>;
/// Answers the caller; `true` when the answer is that its write committed.
type Deliver = Box<dyn FnOnce(Result<(), String>) -> bool + Send>;

/// What the writer thread did since the store opened: how well group
/// commit batches writes is the ratio of the two.
#[derive(Debug, Default)]
pub struct WriteStats {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Writes acknowledged as committed.
    pub writes: AtomicU64,
}

pub(crate) struct Db {
    writer: mpsc::Sender<Job>,
    stats: Arc<WriteStats>,
    /// `None` for an in-memory database, whose only connection is the
    /// writer's: reads are queued to it as well (and, run inside its open
    /// batch, may see writes not yet acknowledged).
    readers: Option<Readers>,
    /// Dropping it stops the checkpoint thread.
    _checkpointer: Option<std_mpsc::Sender<()>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("file", &self.readers.as_ref().map(|r| &r.path))
            .finish()
    }
}

struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Db {
    pub(crate) fn open(path: &Path, restart_log_frames: i64) -> Result<Self, StoreError> {
        let writer = Connection::open(path)?;
        configure(&writer)?;
        // Refuse a newer schema before changing anything in the file.
        let version = schema_version(&writer)?;
        // Only the writer may switch the journal mode; it persists in the file.
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "cannot switch the database to WAL mode (it reports {mode})"
            )));
        }
        // Checkpoints are the background thread's job (see the module doc).
        writer.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {LOG_SIZE_LIMIT};"
        ))?;
        migrate(&writer, version)?;
        let restart_due = Arc::new(AtomicBool::new(false));
        let checkpointer = spawn_checkpointer(path, restart_due.clone(), restart_log_frames)?;
        let stats = Arc::<WriteStats>::default();
        Ok(Db {
            writer: spawn_writer(writer, stats.clone(), restart_due)?,
            stats,
            readers: Some(Readers {
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
            }),
            _checkpointer: Some(checkpointer),
        })
    }

    pub(crate) fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory()?;
        configure(&conn)?;
        let version = schema_version(&conn)?;
        migrate(&conn, version)?;
        let stats = Arc::<WriteStats>::default();
        Ok(Db {
            // No log to restart in memory.
            writer: spawn_writer(conn, stats.clone(), Arc::default())?,
            stats,
            readers: None,
            _checkpointer: None,
        })
    }

    pub(crate) fn write_stats(&self) -> &WriteStats {
        &self.stats
    }

    /// Runs `f` on the writer thread, inside the transaction of its batch,
    /// and returns its result once that transaction committed. If `f`
    /// fails, its own changes are rolled back and the batch goes on.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.submit(f, true, || ()).await
    }

    /// [`Db::write`] for `f` whose only change is one statement: SQLite
    /// undoes a failing statement by itself, so no savepoint is needed.
    pub(crate) async fn write_statement<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.submit(f, false, || ()).await
    }

    /// [`Db::write`] (in a savepoint when `savepoint`) that also runs
    /// `after` on the writer thread once the outcome of the commit is known,
    /// whatever it is, and before the caller is answered. It runs even when
    /// the caller stopped waiting (a dropped request future): what must
    /// follow a committed change — dropping a cached copy of what it
    /// changed — cannot be skipped by a client that hangs up.
    pub(crate) async fn write_then<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        savepoint: bool,
        after: impl FnOnce() + Send + 'static,
    ) -> Result<T, StoreError> {
        self.submit(f, savepoint, after).await
    }

    async fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        savepoint: bool,
        after: impl FnOnce() + Send + 'static,
    ) -> Result<T, StoreError> {
        let (job, rx) = job(f, savepoint, after);
        self.writer
            .send(job)
            .await
            .map_err(|_| StoreError::Commit("the writer thread has stopped".into()))?;
        rx.await.map_err(|_| {
            StoreError::Commit("the write failed unexpectedly and was rolled back".into())
        })?
    }

    /// Runs `f` on a read connection (on the writer thread for an
    /// in-memory database).
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let Some(readers) = &self.readers else {
            // A read changes nothing: no savepoint needed.
            return self.submit(f, false, || ()).await;
        };
        let idle = lock(&readers.idle).pop();
        let conn = match idle {
            Some(c) => c,
            None => open_reader(&readers.path)?,
        };
        let out = f(&conn);
        // A connection left inside a transaction by an error is not reused.
        if conn.is_autocommit() {
            let mut idle = lock(&readers.idle);
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
        out
    }
}

/// A write as the writer thread runs it, and where its answer arrives.
fn job<T: Send + 'static>(
    f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    savepoint: bool,
    after: impl FnOnce() + Send + 'static,
) -> (Job, oneshot::Receiver<Result<T, StoreError>>) {
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move |conn: Result<&Connection, &str>| {
        let out = match conn {
            Ok(c) if savepoint => in_savepoint(c, f),
            Ok(c) => f(c),
            Err(e) => Err(StoreError::Commit(e.to_owned())),
        };
        Box::new(move |committed: Result<(), String>| {
            after();
            let answer = match (out, committed) {
                (Ok(v), Ok(())) => Ok(v),
                // A write's own error says more than the batch's.
                (Err(e), _) => Err(e),
                (Ok(_), Err(e)) => Err(StoreError::Commit(e)),
            };
            let committed = answer.is_ok();
            let _ = tx.send(answer);
            committed
        })
    });
    (job, rx)
}

/// Runs one write inside a savepoint, so that a failing write leaves no
/// partial change in the batch's transaction. If the savepoint cannot be
/// released, the whole transaction is rolled back (the batch notices):
/// a write reported failed must not be committed with the others.
fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    run(conn, "SAVEPOINT w")?;
    let out = f(conn);
    if out.is_err() && run(conn, "ROLLBACK TO w").is_err() {
        // Usually SQLite already rolled the transaction back; the write's
        // own error is the one to report. If the transaction is still open
        // and cannot be closed either, this write's partial changes are in
        // it: the batch must not commit it (see `run_batch`).
        if run(conn, "ROLLBACK").is_err() && !conn.is_autocommit() {
            UNDO_FAILED.with(|u| u.set(true));
        }
        return out;
    }
    if let Err(e) = run(conn, "RELEASE w") {
        let _ = run(conn, "ROLLBACK");
        return out.and(Err(e.into()));
    }
    out
}

thread_local! {
    /// Set on the writer thread by a write whose changes could be neither
    /// rolled back to its savepoint nor with the whole transaction; the
    /// batch then abandons its transaction (see `run_batch`).
    static UNDO_FAILED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs a statement without parameters, prepared once per connection.
fn run(conn: &Connection, sql: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

fn spawn_writer(
    conn: Connection,
    stats: Arc<WriteStats>,
    restart_due: Arc<AtomicBool>,
) -> Result<mpsc::Sender<Job>, StoreError> {
    let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
    std::thread::Builder::new()
        .name("mamori-writer".into())
        .spawn(move || {
            // Stops when the store is dropped, after the queued writes.
            while let Some(first) = rx.blocking_recv() {
                let mut batch = vec![first];
                take_queued(&mut rx, &mut batch);
                // Woken by a write, give the threads serving requests one
                // turn before committing: the writes of concurrent requests
                // then join this commit instead of the next. Measured with
                // `mamori bench`: WAL frames per flow 6.0 -> 3.3 (SNP) and
                // 6.2 -> 4.1 (kbs-sample); when nothing else runs, the
                // yield returns at once.
                if batch.len() < MAX_BATCH {
                    std::thread::yield_now();
                    take_queued(&mut rx, &mut batch);
                }
                run_batch(&conn, batch, &stats);
                if restart_due.swap(false, Relaxed) {
                    restart_log(&conn);
                }
            }
        })
        .map_err(|e| StoreError::Commit(format!("cannot start the writer thread: {e}")))?;
    Ok(tx)
}

fn take_queued(rx: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(j) => batch.push(j),
            Err(_) => break,
        }
    }
}

/// Runs a batch in one IMMEDIATE transaction: the write lock is taken
/// first, so no other process can slip in between a read and a write of the
/// batch (the audit chain's head, for one). Writes are acknowledged after
/// the commit. If the transaction is lost midway — SQLite rolls a
/// transaction back by itself on some errors (disk full, I/O), or a write
/// panicked — the writes before are answered with the error, and the rest
/// run in a new transaction.
fn run_batch(conn: &Connection, batch: Vec<Job>, stats: &WriteStats) {
    let mut ran: Vec<Deliver> = Vec::with_capacity(batch.len());
    let mut open = false;
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        if !open {
            if let Err(e) = begin(conn) {
                // The write lock is held elsewhere (or the file is
                // unusable) and the busy timeout already ran out: the rest
                // of the batch is answered at once rather than each write
                // waiting out the timeout again.
                job(Err(&e))(Ok(()));
                for job in jobs.by_ref() {
                    job(Err(&e))(Ok(()));
                }
                break;
            }
            open = true;
        }
        UNDO_FAILED.with(|u| u.set(false));
        let deliver = std::panic::catch_unwind(AssertUnwindSafe(|| job(Ok(conn))));
        let undo_failed = UNDO_FAILED.with(|u| u.replace(false));
        if deliver.is_err() || undo_failed || conn.is_autocommit() {
            if !conn.is_autocommit() {
                let _ = run(conn, "ROLLBACK");
            }
            // Still open: the connection is closed and reopened by no one,
            // so the next batch's `begin` retries the rollback.
            for d in ran.drain(..) {
                d(Err("the batch's transaction was rolled back".into()));
            }
            if let Ok(d) = deliver {
                d(Err("the transaction was rolled back".into()));
            }
            open = false;
        } else if let Ok(d) = deliver {
            ran.push(d);
        }
    }
    if open {
        let committed = run(conn, "COMMIT").map_err(|e| {
            let _ = run(conn, "ROLLBACK");
            e.to_string()
        });
        // Every write is answered; those answered "committed" are counted.
        let written = ran
            .into_iter()
            .map(|d| d(committed.clone()))
            .filter(|ok| *ok)
            .count();
        if committed.is_ok() {
            stats.commits.fetch_add(1, Relaxed);
            stats.writes.fetch_add(written as u64, Relaxed);
        }
    }
}

fn begin(conn: &Connection) -> Result<(), String> {
    // A transaction an earlier failure could not close.
    if !conn.is_autocommit() {
        let _ = run(conn, "ROLLBACK");
    }
    run(conn, "BEGIN IMMEDIATE").map_err(|e| e.to_string())
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    configure(&conn)?;
    // Readers do point lookups on a small working set; up to eight of them
    // with SQLite's default 2 MiB page cache each would be most of the
    // server's memory.
    conn.execute_batch("PRAGMA query_only = 1; PRAGMA cache_size = -1024;")?;
    Ok(conn)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Under steady load the checkpoint thread's PASSIVE checkpoints never
/// catch up with the writer, and SQLite starts the log over only when all
/// of it was copied into the database before a write transaction begins:
/// the log grew without bound (by about 37 MB/s at 2,300 flows/s), and every
/// read searched a longer index. So once the log is long, the writer itself
/// copies the last frames (PASSIVE has just copied the rest) between two
/// batches — RESTART, so that its next transaction starts the log over. Run
/// here rather than from the checkpoint thread, the writer does not sleep
/// in SQLite's busy handler waiting for that thread's lock; it pauses for
/// about one sync of the database file, measured at 30–42 ms here (a
/// restart at every 16–64 MiB of log raised the p99 latency of `mamori bench`
/// by 5–13 ms; see `RESTART_LOG_FRAMES`).
fn restart_log(conn: &Connection) {
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(())) {
        tracing::warn!(error = %e, "restarting the write-ahead log failed; retried later");
    }
}

fn spawn_checkpointer(
    path: &Path,
    restart_due: Arc<AtomicBool>,
    restart_log_frames: i64,
) -> Result<std_mpsc::Sender<()>, StoreError> {
    let conn = open_reader(path)?;
    conn.execute_batch("PRAGMA query_only = 0;")?;
    let (tx, rx) = std_mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("mamori-checkpoint".into())
        .spawn(move || {
            // Runs until the store is dropped (the sender with it).
            // PASSIVE never blocks writers; what it cannot copy now (frames
            // a reader still uses) is copied next time.
            loop {
                let stop = !matches!(
                    rx.recv_timeout(CHECKPOINT_EVERY),
                    Err(std_mpsc::RecvTimeoutError::Timeout)
                );
                let log_frames = conn
                    .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1))
                    .unwrap_or(0);
                // See `restart_log`.
                if log_frames > restart_log_frames {
                    restart_due.store(true, Relaxed);
                }
                if stop {
                    break;
                }
            }
        })
        .map_err(|e| StoreError::Commit(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(tx)
}

/// The schema version of the file. A database written by a newer Mamori is
/// refused rather than guessed at. A database created by Mamori's earlier
/// sqlx-based store carries its own migration table; its applied versions
/// are adopted.
fn schema_version(conn: &Connection) -> Result<i64, StoreError> {
    let mut version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version == 0 {
        let legacy: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
            [],
            |r| r.get(0),
        )?;
        if legacy {
            version = adopt_legacy(conn)?;
        }
    }
    check_known(version)?;
    Ok(version)
}

/// Records the versions a legacy (sqlx) database applied as its
/// `user_version`, under the write lock: another process opening the same
/// file may be adopting or migrating it at the same time, and a version it
/// already moved on from must not be written back.
fn adopt_legacy(conn: &Connection) -> Result<i64, StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let adopted = (|| -> Result<i64, StoreError> {
        let now: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if now != 0 {
            return Ok(now);
        }
        let v: Option<i64> = conn.query_row(
            "SELECT MAX(version) FROM _sqlx_migrations WHERE success = 1",
            [],
            |r| r.get(0),
        )?;
        let v = v.unwrap_or(0);
        check_known(v)?;
        conn.execute_batch(&format!("PRAGMA user_version = {v}"))?;
        Ok(v)
    })();
    match adopted {
        Ok(v) => {
            conn.execute_batch("COMMIT")?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn check_known(version: i64) -> Result<(), StoreError> {
    let latest = MIGRATIONS.last().map_or(0, |m| m.0);
    if version > latest {
        return Err(StoreError::Migration(format!(
            "the database has schema version {version}, newer than this build's {latest}: \
             it was written by a newer Mamori"
        )));
    }
    Ok(())
}

/// A fresh schema on `conn`, for tests of the statements' plans.
#[cfg(test)]
pub(crate) fn migrate_for_test(conn: &Connection) {
    migrate(conn, 0).unwrap_or_else(|e| panic!("migrating a new database: {e}"));
}

/// Brings the schema up to date from `version`, one transaction per step.
fn migrate(conn: &Connection, version: i64) -> Result<(), StoreError> {
    for (v, sql) in MIGRATIONS.iter().filter(|m| m.0 > version) {
        apply_step(conn, *v, sql).map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            StoreError::Migration(format!("schema step {v}: {e}"))
        })?;
    }
    Ok(())
}

/// One schema step. The version is read again under the write lock: another
/// process opening the same file at the same time may have applied it.
fn apply_step(conn: &Connection, v: i64, sql: &str) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let now: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    // A newer build may have migrated the file since it was first read.
    check_known(now)?;
    if now < v {
        conn.execute_batch(sql)?;
        conn.execute_batch(&format!("PRAGMA user_version = {v}"))?;
    }
    Ok(conn.execute_batch("COMMIT")?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn temp_file(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("mamori-db-{name}-{}.db", std::process::id()));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
        p
    }

    /// The writer's connection as `Db::open` sets it up, with a scratch
    /// table the writes below fill.
    fn writer(path: &Path) -> Connection {
        let c = Connection::open(path).unwrap();
        configure(&c).unwrap();
        let _: String = c
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap();
        migrate(&c, 0).unwrap();
        c.execute_batch("CREATE TABLE scratch (x INTEGER NOT NULL)")
            .unwrap();
        c
    }

    fn insert(x: i64) -> impl FnOnce(&Connection) -> Result<(), StoreError> + Send + 'static {
        move |c| {
            c.execute("INSERT INTO scratch (x) VALUES (?1)", [x])?;
            Ok(())
        }
    }

    fn rows(c: &Connection) -> Vec<i64> {
        let mut s = c.prepare("SELECT x FROM scratch ORDER BY x").unwrap();
        let r = s.query_map([], |r| r.get(0)).unwrap();
        r.map(Result::unwrap).collect()
    }

    fn answer<T>(mut rx: oneshot::Receiver<Result<T, StoreError>>) -> Result<T, StoreError> {
        rx.try_recv()
            .expect("answered by the time run_batch returns")
    }

    #[test]
    fn a_batch_that_cannot_begin_answers_every_write_at_once_and_runs_none() {
        let path = temp_file("begin");
        let mut conn = writer(&path);
        // Each attempt to take the write lock gives up at once, counted.
        static ATTEMPTS: AtomicUsize = AtomicUsize::new(0);
        fn give_up(_: i32) -> bool {
            ATTEMPTS.fetch_add(1, Relaxed);
            false
        }
        conn.busy_handler(Some(give_up)).unwrap();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let stats = WriteStats::default();
        let (jobs, answers): (Vec<_>, Vec<_>) = (0..3)
            .map(|i| {
                let ran = ran.clone();
                job(
                    move |c| {
                        ran.fetch_add(1, Relaxed);
                        insert(i)(c)
                    },
                    true,
                    || (),
                )
            })
            .unzip();
        run_batch(&conn, jobs, &stats);
        for a in answers {
            match answer(a) {
                Err(StoreError::Commit(m)) => assert!(m.contains("locked"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(ran.load(Relaxed), 0, "no write ran without a transaction");
        assert_eq!(
            ATTEMPTS.load(Relaxed),
            1,
            "the lock is asked for once, not once per write"
        );
        assert_eq!(stats.commits.load(Relaxed), 0);
        // Once the lock is free, the next batch commits.
        other.execute_batch("ROLLBACK").unwrap();
        let (jobs, answers): (Vec<_>, Vec<_>) =
            (1..=2).map(|i| job(insert(i), true, || ())).unzip();
        run_batch(&conn, jobs, &stats);
        for a in answers {
            answer(a).unwrap();
        }
        assert_eq!(rows(&other), [1, 2]);
        assert_eq!(stats.commits.load(Relaxed), 1);
        assert_eq!(stats.writes.load(Relaxed), 2);
    }

    #[test]
    fn a_write_that_cannot_be_undone_abandons_its_batch() {
        let path = temp_file("undo");
        let conn = writer(&path);
        let stats = WriteStats::default();
        let (first, first_rx) = job(insert(1), true, || ());
        // Neither its savepoint nor the transaction could be rolled back:
        // provoked here by setting the flag `in_savepoint` sets then.
        let (broken, broken_rx) = job(
            |c: &Connection| {
                insert(2)(c)?;
                UNDO_FAILED.with(|u| u.set(true));
                Err::<(), _>(StoreError::Commit("could not undo".into()))
            },
            false,
            || (),
        );
        let (after, after_rx) = job(insert(3), true, || ());
        run_batch(&conn, vec![first, broken, after], &stats);
        match answer(first_rx) {
            Err(StoreError::Commit(m)) => assert!(m.contains("rolled back"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(answer(broken_rx), Err(StoreError::Commit(m)) if m == "could not undo"));
        answer(after_rx).unwrap();
        // Only the write after the abandoned transaction is stored.
        assert_eq!(rows(&conn), [3]);
        assert_eq!(stats.writes.load(Relaxed), 1);
    }

    #[test]
    fn a_schema_step_another_process_applied_meanwhile_is_not_applied_again() {
        let path = temp_file("migrate");
        let late = Connection::open(&path).unwrap();
        configure(&late).unwrap();
        // It read the version before the other process migrated the file.
        let seen = schema_version(&late).unwrap();
        assert_eq!(seen, 0);
        let early = Connection::open(&path).unwrap();
        configure(&early).unwrap();
        migrate(&early, 0).unwrap();
        migrate(&late, seen).expect("every step re-reads the version under the lock");
        let latest = MIGRATIONS.last().map_or(0, |m| m.0);
        assert_eq!(schema_version(&late).unwrap(), latest);
    }
}
