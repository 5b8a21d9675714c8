//! Mamori's storage: everything that must survive a restart and be shared by
//! the nodes of a cluster — sessions and single-use nonces, policies,
//! reference values, sealed resources and signing keys, and the hash-chained
//! audit log.
//!
//! The embedded backend is SQLite in WAL mode with `synchronous=NORMAL`: a
//! committed transaction survives the process being killed (SIGKILL); only an
//! operating-system crash can lose the last few commits. The store handles
//! bytes only: sealing secrets is the service's job, so the key-encryption
//! key never reaches the database.
#![forbid(unsafe_code)]

mod audit;
mod db;
mod error;
mod pg;
mod pg_audit;
mod pg_changes;
mod records;
mod resources;
mod sessions;
#[doc(hidden)]
pub mod testing;

pub use audit::{
    anchor_subject, AuditCheck, AuditEntry, NewAuditEntry, GENESIS_HASH, PRUNE_ACTION,
};
pub use db::WriteStats;

/// Tuning of the SQLite store.
#[derive(Clone, Copy, Debug)]
pub struct StoreOptions {
    /// Once the write-ahead log holds more frames than this, it is started
    /// over (the writer pauses for one sync of the database file).
    pub restart_log_frames: i64,
    /// Most sessions [`Store::purge`] deletes in one transaction.
    pub purge_chunk: u32,
}

/// Sessions read, and at most deleted, per step of [`Store::purge`]. One
/// statement for a minute of expired sessions held the writer, and every
/// request's write queued behind it, for 0.63 s at 2,300 KBS flows per
/// second (140,000 sessions with 2 KB tokens, measured here); deleting
/// 1,000 took 7 ms (22 ms at most), so a step of 500 holds the writer for
/// a few milliseconds, and the writes queued meanwhile commit between two
/// steps.
const PURGE_CHUNK: u32 = 500;
/// Steps per [`Store::purge`] call: 500,000 sessions, more than three
/// minutes of expiries at 2,300 flows per second, so the once-a-minute
/// purge keeps up, while a backlog (a node that was down) is worked off
/// over several rounds instead of holding up the others.
const PURGE_MAX_STEPS: usize = 1_000;

/// A PostgreSQL store's connections (for `/metrics`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStatus {
    /// `pool_size`.
    pub max: usize,
    /// Connections open.
    pub open: usize,
    /// Open and not in use.
    pub idle: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
}

/// Where a PostgreSQL store is and how to reach it.
#[derive(Clone)]
pub struct PostgresOptions {
    /// A libpq-style connection string or `postgres://` URL.
    pub url: String,
    /// Overrides the URL's password (kept out of configuration files).
    pub password: Option<String>,
    /// Connections this node keeps to the database at most.
    pub pool_size: usize,
    /// PEM certificates of the CAs that may sign the server's certificate,
    /// besides Mozilla's roots. Given, or with `sslmode=require` in the URL,
    /// the connection is TLS and the server's certificate and name are
    /// verified (see `pg.rs`).
    pub ca_pem: Option<Vec<u8>>,
    /// A certificate to present to the server (PostgreSQL's `cert`
    /// authentication, or `clientcert=verify-full` in `pg_hba.conf`).
    /// Given, the connection is TLS.
    pub client_cert: Option<ClientCertificate>,
}

/// A client certificate and its private key, both PEM.
#[derive(Clone)]
pub struct ClientCertificate {
    /// The certificate, followed by any intermediates the server needs.
    pub chain_pem: Vec<u8>,
    /// Its private key (PKCS#8, SEC1 or PKCS#1).
    pub key_pem: Vec<u8>,
}

/// Without the password: a connection string holding one (or one that
/// does not parse, which may) is not shown.
impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = match self.url.parse::<tokio_postgres::Config>() {
            Ok(c) if c.get_password().is_none() => self.url.clone(),
            Ok(_) => "(a connection string with a password)".into(),
            Err(_) => "(a connection string that does not parse)".into(),
        };
        f.debug_struct("PostgresOptions")
            .field("url", &url)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("pool_size", &self.pool_size)
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field("client_cert", &self.client_cert.as_ref().map(|_| "…"))
            .finish()
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            restart_log_frames: db::RESTART_LOG_FRAMES,
            purge_chunk: PURGE_CHUNK,
        }
    }
}
pub use error::StoreError;
pub use records::{
    CollateralRecord, PolicyRecord, ReferenceValue, SessionRecord, SigningKeyRecord,
};

use rusqlite::{params, OptionalExtension};
use std::path::Path;
use std::sync::Arc;

/// How completing a session went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    Done,
    Unknown,
    AlreadyUsed,
    Expired,
}

/// An active signing key made after a time (`Store::rotate_signing_key`).
const NEWER_ACTIVE_KEY: &str =
    "SELECT 1 FROM signing_keys WHERE retired_at IS NULL AND created_at > ?1 LIMIT 1";

/// Answered from the partial index of unspent nonces (schema step 4): a
/// metrics scrape reads the sessions awaiting evidence, not every recent one.
const COUNT_OPEN_SESSIONS: &str =
    "SELECT COUNT(*) FROM sessions WHERE used = 0 AND expires_at >= ?1";

/// A handle on the database; cheap to clone.
///
/// The methods are `async` so that a networked backend can share the API;
/// on SQLite they complete without suspending (see `db.rs` for why
/// statements run inline).
#[derive(Clone, Debug)]
pub struct Store {
    backend: Arc<Backend>,
    purge_chunk: u32,
    sessions: Arc<sessions::SessionCache>,
    resources: Arc<resources::ResourceCache>,
}

/// Where the records are.
#[derive(Debug)]
enum Backend {
    /// One node's embedded file.
    Sqlite(db::Db),
    /// A database shared by the nodes of a cluster (`pg.rs`).
    Postgres(pg::Pg),
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, StoreOptions::default()).await
    }

    /// [`Store::open`] with tuning other than the defaults.
    pub async fn open_with(path: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let mut store = Self::with_db(db::Db::open(path, options.restart_log_frames)?);
        store.purge_chunk = options.purge_chunk.max(1);
        Ok(store)
    }

    /// A private in-memory database (tests).
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        Ok(Self::with_db(db::Db::open_in_memory()?))
    }

    /// Connects to a PostgreSQL database shared with other nodes, bringing
    /// its schema up to date (one node at a time).
    pub async fn open_postgres(options: &PostgresOptions) -> Result<Self, StoreError> {
        Ok(Self::with_backend(Backend::Postgres(
            pg::Pg::connect(options).await?,
        )))
    }

    /// Checks PostgreSQL settings as [`Store::open_postgres`] would read
    /// them (the connection string, the CA certificates), without
    /// connecting (`mamori serve --check`).
    pub fn check_postgres(options: &PostgresOptions) -> Result<(), StoreError> {
        pg::Pg::check(options)
    }

    /// Whether the records live in a database shared with other nodes.
    pub fn is_shared(&self) -> bool {
        matches!(*self.backend, Backend::Postgres(_))
    }

    /// For a PostgreSQL store, a counter bumped whenever another node
    /// announces a change to policies, reference values, resources or keys
    /// (`None` for SQLite, where no other node writes).
    pub fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        match &*self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(pg) => Some(pg.changes()),
        }
    }

    /// For a PostgreSQL store, its connection pool now; `None` for SQLite.
    pub fn pool_status(&self) -> Option<PoolStatus> {
        match &*self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(pg) => Some(pg.pool_status()),
        }
    }

    /// For a PostgreSQL store, whether its connections are TLS (as the
    /// server reported for the first one); `None` for SQLite.
    pub fn is_encrypted(&self) -> Option<bool> {
        match &*self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(pg) => Some(pg.encrypted()),
        }
    }

    fn with_db(db: db::Db) -> Self {
        Self::with_backend(Backend::Sqlite(db))
    }

    fn with_backend(backend: Backend) -> Self {
        Store {
            backend: Arc::new(backend),
            purge_chunk: PURGE_CHUNK,
            sessions: Default::default(),
            resources: Default::default(),
        }
    }

    /// Commits and writes since the store opened (for `/metrics`).
    pub fn write_stats(&self) -> &WriteStats {
        match &*self.backend {
            Backend::Sqlite(db) => db.write_stats(),
            Backend::Postgres(pg) => pg.write_stats(),
        }
    }

    /// The SQLite database, or the PostgreSQL one as `Err` (each method
    /// hands that on to `pg.rs`).
    fn sqlite(&self) -> Result<&db::Db, &pg::Pg> {
        match &*self.backend {
            Backend::Sqlite(db) => Ok(db),
            Backend::Postgres(pg) => Err(pg),
        }
    }

    /// Nothing to flush: every acknowledged write is committed. Kept so
    /// that callers close a store the same way whatever its backend.
    pub async fn close(&self) {}

    /// Whether the store answers within `within`: a statement run on the
    /// writer thread, which shows that the thread is not stuck and can take
    /// the write lock (a readiness probe). It runs there, not on a reader
    /// connection, because reads run inline on the caller's thread, where a
    /// disk that stopped answering would hold the caller past any timeout.
    /// It changes nothing, though it counts as a write in [`WriteStats`].
    /// On PostgreSQL, a statement on a pooled connection.
    pub async fn ping(&self, within: std::time::Duration) -> Result<(), StoreError> {
        let probe = async {
            match self.sqlite() {
                Ok(db) => {
                    db.write_statement(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
                        .await
                }
                Err(pg) => pg.ping().await,
            }
        };
        tokio::time::timeout(within, probe)
            .await
            .map_err(|_| StoreError::Unresponsive(within.as_millis()))?
    }

    // ---- sessions and nonces -------------------------------------------

    pub async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let r = s.clone();
        match self.sqlite() {
            Err(pg) => pg.insert_session(&r).await?,
            Ok(db) => db.write_statement(move |c| {
                c.prepare_cached(
                    "INSERT INTO sessions (id, tee, nonce, created_at, expires_at, used) VALUES (?1, ?2, ?3, ?4, ?5, 0)",
                )?
                .execute(params![r.id, r.tee, r.nonce, r.created_at, r.expires_at])?;
                Ok(())
            })
            .await?,
        }
        // Cached as stored: a new session is unused and has no token.
        self.sessions.put(&SessionRecord {
            used: false,
            token: None,
            token_exp: None,
            ..s.clone()
        });
        Ok(())
    }

    pub async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        // A session used here with its token is in its final state.
        if let Some(c) = self.sessions.get(id) {
            if c.used && c.token.is_some() {
                return Ok(Some(c));
            }
        }
        self.get_session_db(id).await
    }

    /// The session as the attestation path needs it: a locally cached
    /// unused entry is good enough, because the nonce is spent by the
    /// conditional UPDATE of [`Store::complete_session`], which reports
    /// whether another node spent it first. Do not use it to conclude that
    /// a session is *not* attested (use [`Store::get_session`]).
    pub async fn session_for_attest(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        if let Some(c) = self.sessions.get(id) {
            return Ok(Some(c));
        }
        self.get_session_db(id).await
    }

    async fn get_session_db(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.get_session(id).await,
        };
        let id = id.to_owned();
        db.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {} FROM sessions WHERE id = ?1",
                SessionRecord::COLUMNS
            ))?
            .query_row([id], SessionRecord::from_row)
            .optional()?)
        })
        .await
    }

    /// Sessions whose nonce is still usable.
    pub async fn count_open_sessions(&self, now: i64) -> Result<i64, StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.count_open_sessions(now).await,
        };
        db.read(move |c| {
            Ok(c.prepare_cached(COUNT_OPEN_SESSIONS)?
                .query_row([now], |r| r.get(0))?)
        })
        .await
    }

    /// Deletes sessions that expired before `before` (and whose token, if
    /// any, expired too). Their evidence can no longer be replayed anyway:
    /// it binds the session's nonce, which is gone.
    ///
    /// Walks the expiry index in steps of `purge_chunk` sessions: each step
    /// reads the next sessions on a reader connection, and the writer then
    /// deletes those of them that are dead (checked again as it deletes).
    /// A step holds the writer for at most `purge_chunk` deletions, however
    /// many sessions a long token lifetime keeps alive in between, and
    /// those are passed over once per purge, on a reader. At most
    /// [`PURGE_MAX_STEPS`] steps run per call; a larger backlog is left to
    /// the next one.
    pub async fn purge(&self, before: i64) -> Result<u64, StoreError> {
        let step = self.purge_chunk;
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => {
                let total = pg.purge(before, step, PURGE_MAX_STEPS).await?;
                self.sessions.purge(before);
                return Ok(total);
            }
        };
        // The last session read, as (expires_at, rowid): the index's order.
        let mut after = (i64::MIN, i64::MIN);
        let mut total = 0u64;
        for _ in 0..PURGE_MAX_STEPS {
            let rows: Vec<(i64, i64, Option<i64>)> = db
                .read(move |c| {
                    let mut stmt = c.prepare_cached(
                        "SELECT expires_at, rowid, token_exp FROM sessions \
                         WHERE (expires_at, rowid) > (?1, ?2) AND expires_at < ?3 \
                         ORDER BY expires_at, rowid LIMIT ?4",
                    )?;
                    let rows = stmt
                        .query_map(params![after.0, after.1, before, step], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })?
                        .collect::<Result<_, _>>()?;
                    Ok(rows)
                })
                .await?;
            let Some(&(expires_at, rowid, _)) = rows.last() else {
                break;
            };
            let dead: Vec<i64> = rows
                .iter()
                .filter(|(_, _, token_exp)| token_exp.is_none_or(|t| t < before))
                .map(|(_, rowid, _)| *rowid)
                .collect();
            if !dead.is_empty() {
                total += db
                    .write_statement(move |c| {
                        let mut delete = c.prepare_cached(
                            "DELETE FROM sessions WHERE rowid = ?1 AND expires_at < ?2 \
                             AND (token_exp IS NULL OR token_exp < ?2)",
                        )?;
                        let mut n = 0u64;
                        for rowid in dead {
                            n += delete.execute(params![rowid, before])? as u64;
                        }
                        Ok(n)
                    })
                    .await?;
            }
            if rows.len() < step as usize {
                break;
            }
            after = (expires_at, rowid);
        }
        self.sessions.purge(before);
        Ok(total)
    }

    /// Completes a session in one statement: consumes its nonce and stores
    /// the token, if any (the KBS cookie stands for it afterwards).
    pub async fn complete_session(
        &self,
        id: &str,
        now: i64,
        token: Option<(&str, i64)>,
    ) -> Result<Completion, StoreError> {
        self.complete(id, now, token, None).await.map(|(c, _)| c)
    }

    /// [`Store::complete_session`] and, if the session completes, the audit
    /// entry recording it, in one transaction: the result is never stored
    /// without its record, nor recorded without being stored.
    pub async fn complete_session_audited(
        &self,
        id: &str,
        now: i64,
        token: Option<(&str, i64)>,
        entry: NewAuditEntry,
    ) -> Result<(Completion, Option<AuditEntry>), StoreError> {
        self.complete(id, now, token, Some(entry)).await
    }

    async fn complete(
        &self,
        id: &str,
        now: i64,
        token: Option<(&str, i64)>,
        entry: Option<NewAuditEntry>,
    ) -> Result<(Completion, Option<AuditEntry>), StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => {
                let done = pg.complete(id, now, token, entry).await?;
                return self.completed(id, token, done).await;
            }
        };
        let sid = id.to_owned();
        let (tok, tok_exp) = (token.map(|t| t.0.to_owned()), token.map(|t| t.1));
        let audited = entry.is_some();
        // The conditional UPDATE spends the nonce; the audit entry, when
        // given, is a second change, so that job runs in a savepoint.
        let job = move |c: &rusqlite::Connection| {
            let updated = c
                .prepare_cached(
                    "UPDATE sessions SET used = 1, token = ?2, token_exp = ?3 \
                     WHERE id = ?1 AND used = 0 AND expires_at >= ?4",
                )?
                .execute(params![sid, tok, tok_exp, now])?;
            if updated != 1 {
                return Ok((false, None));
            }
            let record = match entry {
                Some(e) => audit::append(c, vec![e])?.pop(),
                None => None,
            };
            Ok((true, record))
        };
        let done = if audited {
            db.write(job).await?
        } else {
            db.write_statement(job).await?
        };
        self.completed(id, token, done).await
    }

    /// What a completion attempt's outcome means, with this node's copy of
    /// a completed session brought up to date.
    async fn completed(
        &self,
        id: &str,
        token: Option<(&str, i64)>,
        (outcome, record): (bool, Option<AuditEntry>),
    ) -> Result<(Completion, Option<AuditEntry>), StoreError> {
        if outcome {
            self.sessions.mark_used(id, token);
            return Ok((Completion::Done, record));
        }
        let why = match self.get_session_db(id).await? {
            None => Completion::Unknown,
            Some(s) if s.used => Completion::AlreadyUsed,
            Some(_) => Completion::Expired,
        };
        Ok((why, None))
    }

    /// Marks a session's nonce used without completing it (a failed
    /// attempt still spends the nonce).
    /// Spends an unused session's nonce without attesting it (a failed
    /// attempt). Whether this call spent it: false when it was already
    /// used (or is unknown), so that concurrent failures count it once.
    pub async fn burn_session(&self, id: &str) -> Result<bool, StoreError> {
        let sid = id.to_owned();
        let burned =
            match self.sqlite() {
                Err(pg) => pg.burn_session(id).await?,
                Ok(db) => {
                    db.write_statement(move |c| {
                        Ok(c.prepare_cached(
                            "UPDATE sessions SET used = 1 WHERE id = ?1 AND used = 0",
                        )?
                        .execute([sid])?
                            == 1)
                    })
                    .await?
                }
            };
        self.sessions.mark_used(id, None);
        Ok(burned)
    }

    // ---- policies and reference values --------------------------------

    pub async fn put_policy(&self, p: &PolicyRecord) -> Result<(), StoreError> {
        self.put_policy_recorded(p, None).await
    }

    /// [`Store::put_policy`] and, when given, the audit entry that records
    /// it, committed together (see [`Store::write_recorded`]).
    pub async fn put_policy_recorded(
        &self,
        p: &PolicyRecord,
        audit: Option<NewAuditEntry>,
    ) -> Result<(), StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.put_policy(p, audit).await,
        };
        let p = p.clone();
        Self::write_recorded(
            db,
            move |c| {
                c.prepare_cached(
                    "INSERT INTO policies (kind, id, source, digest, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (kind, id) DO UPDATE SET source = excluded.source, digest = excluded.digest, updated_at = excluded.updated_at",
                )?
                .execute(params![p.kind, p.id, p.source, p.digest, p.updated_at])?;
                Ok(())
            },
            audit,
            |_| true,
            || (),
        )
        .await
    }

    /// Runs `f` and, when `audit` is given and `changed` says `f`'s result
    /// is a change, appends `audit` to the chain in the same transaction:
    /// an admin change is never committed without the entry that records
    /// it — not when the server is killed between the two, nor when the
    /// client hangs up — and no entry records a change that was not made.
    /// `f` must be one statement when `audit` is `None`. `after` runs on the
    /// writer thread once the outcome is known (`Db::write_then`).
    async fn write_recorded<T: Send + 'static>(
        db: &db::Db,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
        audit: Option<NewAuditEntry>,
        changed: fn(&T) -> bool,
        after: impl FnOnce() + Send + 'static,
    ) -> Result<T, StoreError> {
        // Two changes need a savepoint, so that a failing append takes the
        // first back out; one statement undoes itself.
        let savepoint = audit.is_some();
        db.write_then(
            move |c| {
                let out = f(c)?;
                if let Some(e) = audit.filter(|_| changed(&out)) {
                    audit::append(c, vec![e])?;
                }
                Ok(out)
            },
            savepoint,
            after,
        )
        .await
    }

    pub async fn delete_policy(&self, kind: &str, id: &str) -> Result<bool, StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.delete_policy(kind, id).await,
        };
        let (kind, id) = (kind.to_owned(), id.to_owned());
        db.write_statement(move |c| {
            Ok(
                c.prepare_cached("DELETE FROM policies WHERE kind = ?1 AND id = ?2")?
                    .execute([kind, id])?
                    == 1,
            )
        })
        .await
    }

    pub async fn list_policies(&self, kind: &str) -> Result<Vec<PolicyRecord>, StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.list_policies(kind).await,
        };
        let kind = kind.to_owned();
        db.read(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT kind, id, source, digest, updated_at FROM policies WHERE kind = ?1 ORDER BY id",
                )?;
                let rows = st.query_map([kind], PolicyRecord::from_row)?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }

    pub async fn put_reference_value(&self, v: &ReferenceValue) -> Result<(), StoreError> {
        self.put_reference_value_recorded(v, None).await
    }

    /// [`Store::put_reference_value`] with its audit entry (see
    /// [`Store::write_recorded`]).
    pub async fn put_reference_value_recorded(
        &self,
        v: &ReferenceValue,
        audit: Option<NewAuditEntry>,
    ) -> Result<(), StoreError> {
        let vals = serde_json::to_string(&v.values)?;
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.put_reference_value(v, &vals, audit).await,
        };
        let (name, expires_at, updated_at) = (v.name.clone(), v.expires_at, v.updated_at);
        Self::write_recorded(
            db,
            move |c| {
                c.prepare_cached(
                    "INSERT INTO reference_values (name, vals, expires_at, updated_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (name) DO UPDATE SET vals = excluded.vals, expires_at = excluded.expires_at, updated_at = excluded.updated_at",
                )?
                .execute(params![name, vals, expires_at, updated_at])?;
                Ok(())
            },
            audit,
            |_| true,
            || (),
        )
        .await
    }

    pub async fn delete_reference_value(&self, name: &str) -> Result<bool, StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.delete_reference_value(name).await,
        };
        let name = name.to_owned();
        db.write_statement(move |c| {
            Ok(
                c.prepare_cached("DELETE FROM reference_values WHERE name = ?1")?
                    .execute([name])?
                    == 1,
            )
        })
        .await
    }

    pub async fn list_reference_values(&self) -> Result<Vec<ReferenceValue>, StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.list_reference_values().await,
        };
        db.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT name, vals, expires_at, updated_at FROM reference_values ORDER BY name",
            )?;
            let rows = st.query_map([], ReferenceValue::from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    // ---- sealed resources and keys --------------------------------------

    pub async fn put_resource(
        &self,
        path: &str,
        sealed: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        self.put_resource_recorded(path, sealed, now, None).await
    }

    /// [`Store::put_resource`] with its audit entry (see
    /// [`Store::write_recorded`]).
    pub async fn put_resource_recorded(
        &self,
        path: &str,
        sealed: &[u8],
        now: i64,
        audit: Option<NewAuditEntry>,
    ) -> Result<(), StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => {
                let _forget = ForgetOnDrop(Some(self.forget_resource_after(path)));
                return pg.put_resource(path, sealed, now, audit).await;
            }
        };
        let (p, sealed) = (path.to_owned(), sealed.to_vec());
        Self::write_recorded(
            db,
                move |c| {
                    c.prepare_cached(
                        "INSERT INTO resources (path, sealed, updated_at) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (path) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
                    )?
                    .execute(params![p, sealed, now])?;
                    Ok(())
                },
                audit,
                |_| true,
                self.forget_resource_after(path),
            )
            .await
    }

    /// Drops this node's copy of `path` once a change to it has been
    /// committed or has failed (whether a failed commit changed the row is
    /// the database's to say). Run by the writer thread, so that it happens
    /// even if the caller stops waiting for the write.
    fn forget_resource_after(&self, path: &str) -> impl FnOnce() + Send + 'static {
        let (copy, path) = (self.resources.clone(), path.to_owned());
        move || copy.invalidate(&path)
    }

    /// A sealed resource. Served from this node's copy when it has one (see
    /// `resources.rs`): a change made through another store on the same
    /// database shows here once [`Store::forget_cached_resources`] ran.
    pub async fn get_resource(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let ticket = match self.resources.get(path) {
            Ok(sealed) => return Ok(Some(sealed.to_vec())),
            Err(ticket) => ticket,
        };
        let p = path.to_owned();
        let sealed: Option<Vec<u8>> = match self.sqlite() {
            Err(pg) => pg.get_resource(path).await?,
            Ok(db) => {
                db.read(move |c| {
                    Ok(
                        c.prepare_cached("SELECT sealed FROM resources WHERE path = ?1")?
                            .query_row([p], |r| r.get(0))
                            .optional()?,
                    )
                })
                .await?
            }
        };
        if let Some(s) = &sealed {
            self.resources.fill(ticket, path, s);
        }
        Ok(sealed)
    }

    /// Drops this node's copy of the resources, so that changes other nodes
    /// made are read from the database.
    pub fn forget_cached_resources(&self) {
        self.resources.clear();
    }

    pub async fn delete_resource(&self, path: &str) -> Result<bool, StoreError> {
        self.delete_resource_recorded(path, None).await
    }

    /// [`Store::delete_resource`] with its audit entry, appended only when
    /// there was a resource to delete (see [`Store::write_recorded`]).
    pub async fn delete_resource_recorded(
        &self,
        path: &str,
        audit: Option<NewAuditEntry>,
    ) -> Result<bool, StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => {
                let _forget = ForgetOnDrop(Some(self.forget_resource_after(path)));
                return pg.delete_resource(path, audit).await;
            }
        };
        let p = path.to_owned();
        Self::write_recorded(
            db,
            move |c| {
                Ok(c.prepare_cached("DELETE FROM resources WHERE path = ?1")?
                    .execute([p])?
                    == 1)
            },
            audit,
            |deleted| *deleted,
            self.forget_resource_after(path),
        )
        .await
    }

    pub async fn list_resources(&self) -> Result<Vec<String>, StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.list_resources().await,
        };
        db.read(|c| {
            let mut st = c.prepare_cached("SELECT path FROM resources ORDER BY path")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Cached vendor collateral under `key`, as [`Store::put_collateral`]
    /// left it.
    pub async fn get_collateral(&self, key: &str) -> Result<Option<CollateralRecord>, StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.get_collateral(key).await,
        };
        let key = key.to_owned();
        db.read(move |c| {
            Ok(
                c.prepare_cached("SELECT body, fetched_at FROM collateral WHERE key = ?1")?
                    .query_row([key], |r| {
                        Ok(CollateralRecord {
                            body: r.get(0)?,
                            fetched_at: r.get(1)?,
                        })
                    })
                    .optional()?,
            )
        })
        .await
    }

    /// Caches vendor collateral under `key`, replacing an entry fetched no
    /// later (a slower node's older copy never overwrites a newer one).
    /// Not audited: it is a cache of public, signed vendor data, verified
    /// wherever it is used.
    pub async fn put_collateral(
        &self,
        key: &str,
        body: &[u8],
        fetched_at: i64,
    ) -> Result<(), StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.put_collateral(key, body, fetched_at).await,
        };
        let (key, body) = (key.to_owned(), body.to_vec());
        db.write_statement(move |c| {
            c.prepare_cached(
                "INSERT INTO collateral (key, body, fetched_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (key) DO UPDATE SET body = excluded.body, fetched_at = excluded.fetched_at \
                 WHERE collateral.fetched_at <= excluded.fetched_at",
            )?
            .execute(params![key, body, fetched_at])?;
            Ok(())
        })
        .await
    }

    /// Removes cached collateral under `prefix` fetched before `before`:
    /// items that attesters name (a VCEK per chip and TCB) would otherwise
    /// accumulate for ever. Returns how many were removed.
    pub async fn purge_collateral(&self, prefix: &str, before: i64) -> Result<u64, StoreError> {
        // LIKE with the prefix's own wildcards escaped.
        let pattern = format!(
            "{}%",
            prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.purge_collateral(&pattern, before).await,
        };
        db.write_statement(move |c| {
            Ok(c.prepare_cached(
                "DELETE FROM collateral WHERE key LIKE ?1 ESCAPE '\\' AND fetched_at < ?2",
            )?
            .execute(params![pattern, before])? as u64)
        })
        .await
    }

    pub async fn put_signing_key(&self, k: &SigningKeyRecord) -> Result<(), StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.put_signing_key(k).await,
        };
        let k = k.clone();
        db.write_statement(move |c| {
                c.prepare_cached(
                    "INSERT INTO signing_keys (kid, sealed, public_jwk, created_at, retired_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![k.kid, k.sealed, k.public_jwk, k.created_at, k.retired_at])?;
                Ok(())
            })
            .await
    }

    /// Adds `k` as the active key and retires every other key at `now`, with
    /// `audit` when given, in one transaction: a rotation is never half
    /// done, nor done without its entry. With `unless_active_after`, nothing
    /// is done (`false`) when an active key made after that time exists:
    /// several nodes finding a rotation due, or finding no key at all on an
    /// empty shared database, rotate once between them.
    pub async fn rotate_signing_key(
        &self,
        k: &SigningKeyRecord,
        now: i64,
        audit: Option<NewAuditEntry>,
        unless_active_after: Option<i64>,
    ) -> Result<bool, StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => {
                return pg
                    .rotate_signing_key(k, now, audit, unless_active_after)
                    .await
            }
        };
        let k = k.clone();
        db.write(move |c| {
            if let Some(after) = unless_active_after {
                let newer = c
                    .prepare_cached(NEWER_ACTIVE_KEY)?
                    .query_row([after], |_| Ok(()))
                    .optional()?;
                if newer.is_some() {
                    return Ok(false);
                }
            }
            c.prepare_cached(
                "INSERT INTO signing_keys (kid, sealed, public_jwk, created_at, retired_at) VALUES (?1, ?2, ?3, ?4, NULL)",
            )?
            .execute(params![k.kid, k.sealed, k.public_jwk, k.created_at])?;
            c.prepare_cached(
                "UPDATE signing_keys SET retired_at = ?2 WHERE kid <> ?1 AND retired_at IS NULL",
            )?
            .execute(params![k.kid, now])?;
            if let Some(e) = audit {
                audit::append(c, vec![e])?;
            }
            Ok(true)
        })
        .await
    }

    /// Deletes keys retired before `before` (their tokens have expired).
    pub async fn drop_retired_keys(&self, before: i64) -> Result<u64, StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.drop_retired_keys(before).await,
        };
        let n = db
            .write_statement(move |c| {
                Ok(c.prepare_cached(
                    "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < ?1",
                )?
                .execute([before])?)
            })
            .await?;
        Ok(n as u64)
    }

    pub async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let db = match self.sqlite() {
            Ok(db) => db,
            Err(pg) => return pg.list_signing_keys().await,
        };
        db.read(|c| {
                let mut st = c.prepare_cached(
                    "SELECT kid, sealed, public_jwk, created_at, retired_at FROM signing_keys ORDER BY created_at, kid",
                )?;
                let rows = st.query_map([], SigningKeyRecord::from_row)?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }
}

/// Runs its function when dropped: on PostgreSQL, a change to a resource
/// drops this node's copy whether the write committed, failed, or the
/// caller stopped waiting for it (the writer thread does this on SQLite).
struct ForgetOnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for ForgetOnDrop<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn the_open_session_count_reads_only_the_partial_index() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        crate::db::migrate_for_test(&c);
        let plan: Vec<String> = c
            .prepare(&format!(
                "EXPLAIN QUERY PLAN {}",
                super::COUNT_OPEN_SESSIONS
            ))
            .unwrap()
            .query_map([0], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter()
                .any(|step| step.contains("COVERING INDEX sessions_open")),
            "{plan:?}"
        );
    }
}
