//! The PostgreSQL backend: the store of a cluster, shared by any number of
//! `mamori serve` nodes (DESIGN.md, "Storage"). A session started on one
//! node completes on another.
//!
//! SQLite has one writer thread per file; here every node writes, and the
//! database arbitrates. A nonce is spent by a conditional `UPDATE` (one row
//! lock, so exactly one node's attestation wins), and the audit chain is
//! extended under a transaction-scoped advisory lock taken before its head
//! is read: appends from different nodes queue behind each other instead of
//! forking the chain, and the lock goes with the transaction whatever way it
//! ends. Statements run at READ COMMITTED (set for every session and every
//! transaction, whatever the database's default), so the head read after
//! the lock is the one the previous holder committed.
//!
//! TLS: with `sslmode=require` in the connection string, or a CA file or
//! a client certificate configured, connections are TLS (rustls on aws-lc-rs) and the server's
//! certificate must chain to Mozilla's roots or that CA and name the host
//! connected to — libpq's `verify-full`, which is what a key broker's
//! database connection needs. Otherwise (`sslmode` left at `prefer`)
//! connections are plain: a server's self-signed default certificate
//! could not be verified anyway, and an unverified TLS session would only
//! look safe.

use crate::audit::{self, AuditEntry, NewAuditEntry, GENESIS_HASH, PRUNE_ACTION};
use crate::error::{postgres_detail, with_causes};
use crate::pg_audit::{AuditWriter, Outcome, Work};
use crate::{PolicyRecord, ReferenceValue, SessionRecord, SigningKeyRecord, StoreError};
use crate::{PostgresOptions, WriteStats};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The schema, in order; a database records the last step applied in
/// `mamori_schema`.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../migrations/postgres/0002_collateral.sql"),
    ),
];

/// Advisory-lock keys (one 64-bit space per database, shared with whatever
/// else uses it: these spell "mamori" and a purpose).
const MIGRATION_LOCK: i64 = 0x6d61_6d6f_7269_0001;
pub(crate) const AUDIT_LOCK: i64 = 0x6d61_6d6f_7269_0002;
const KEYS_LOCK: i64 = 0x6d61_6d6f_7269_0003;

/// Server-side bounds on a session (see `Pg::connect`), milliseconds.
const IDLE_IN_TRANSACTION_MS: u32 = 30_000;
const LOCK_TIMEOUT_MS: u32 = 10_000;

/// How long a request waits for a pooled connection before it is answered
/// "unavailable" (a database that stopped answering must not hold every
/// request forever).
const POOL_WAIT: Duration = Duration::from_secs(5);

pub(crate) struct Pg {
    pool: Pool,
    stats: Arc<WriteStats>,
    /// Attestations' and releases' audited writes, committed in groups
    /// (`pg_audit.rs`).
    audit: AuditWriter,
    /// What the server said of the first connection.
    encrypted: bool,
    /// Bumped when another node announces a change (`pg_changes.rs`).
    changes: tokio::sync::watch::Sender<u64>,
    /// The change listener runs while this is held.
    _alive: Arc<()>,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg")
            .field("pool", &self.pool.status())
            .finish()
    }
}

type Param<'a> = &'a (dyn ToSql + Sync);

impl Pg {
    /// Parses the settings and builds the TLS client, without connecting.
    pub(crate) fn check(o: &PostgresOptions) -> Result<(), StoreError> {
        if wants_tls(&parse(o)?, o)? {
            tls_connector(o)?;
        }
        Ok(())
    }

    pub(crate) async fn connect(o: &PostgresOptions) -> Result<Self, StoreError> {
        let mut cfg = parse(o)?;
        if let Some(p) = &o.password {
            cfg.password(p);
        }
        if cfg.get_connect_timeout().is_none() {
            cfg.connect_timeout(POOL_WAIT);
        }
        if cfg.get_application_name().is_none() {
            cfg.application_name("mamori");
        }
        // A node that dies, or is cut off, inside a transaction holding the
        // audit lock would otherwise hold every node's audited writes until
        // TCP gives up (two hours by default): the server ends such a
        // session, lock waits are bounded, and dead peers are noticed.
        // Single statements run at READ COMMITTED too (see `begin`).
        let session = format!(
            "-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS} \
             -c lock_timeout={LOCK_TIMEOUT_MS} -c default_transaction_isolation=read\\ committed"
        );
        // The operator's own settings come last, so that they win.
        let options = match cfg.get_options() {
            Some(given) => format!("{session} {given}"),
            None => session,
        };
        cfg.options(options).keepalives(true);
        // Where the connection string leaves them at their defaults.
        if cfg.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
            cfg.keepalives_idle(Duration::from_secs(30));
        }
        if cfg.get_keepalives_interval().is_none() {
            cfg.keepalives_interval(Duration::from_secs(10));
        }
        if cfg.get_keepalives_retries().is_none() {
            cfg.keepalives_retries(3);
        }
        if cfg.get_tcp_user_timeout().is_none() {
            cfg.tcp_user_timeout(Duration::from_secs(30));
        }
        let tls = wants_tls(&cfg, o)?;
        let (changes, _) = tokio::sync::watch::channel(0u64);
        let alive = Arc::new(());
        let manager = if tls {
            // `prefer` would fall back to plain text when the server (or
            // anyone on the path) answers that it has no TLS.
            cfg.ssl_mode(SslMode::Require);
            let connector = tls_connector(o)?;
            listening_manager(cfg, connector, &changes, &alive)
        } else {
            listening_manager(cfg, NoTls, &changes, &alive)
        };
        let pool = Pool::builder(manager)
            .max_size(o.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| StoreError::Config(format!("PostgreSQL pool: {e}")))?;
        let stats = Arc::<WriteStats>::default();
        let mut pg = Pg {
            audit: AuditWriter::spawn(pool.clone(), stats.clone()),
            pool,
            stats,
            encrypted: false,
            changes,
            _alive: alive,
        };
        pg.migrate().await?;
        pg.encrypted = pg
            .client()
            .await?
            .query_opt(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await?
            .map(|r| r.try_get(0))
            .transpose()?
            .unwrap_or(false);
        // With `require`, tokio-postgres refuses a plain connection; the
        // server's view may still say plain behind a pooler that ends TLS.
        pg.encrypted |= tls;
        Ok(pg)
    }

    pub(crate) fn encrypted(&self) -> bool {
        self.encrypted
    }

    /// Bumped whenever another node announces a change.
    pub(crate) fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Tells the other nodes that policies, reference values, resources or
    /// keys changed. After the commit: a node that misses it (this one
    /// dying in between) still has its timer.
    async fn announce(&self) {
        let sent = async {
            self.client()
                .await?
                .execute(
                    "SELECT pg_notify($1, current_schema())",
                    &[&crate::pg_changes::CHANNEL],
                )
                .await?;
            Ok::<_, StoreError>(())
        };
        if let Err(e) = sent.await {
            tracing::warn!(error = %e, "telling the other nodes of a change failed; they see it at their next reload");
        }
    }

    pub(crate) fn pool_status(&self) -> crate::PoolStatus {
        let s = self.pool.status();
        crate::PoolStatus {
            max: s.max_size,
            open: s.size,
            idle: s.available,
            waiting: s.waiting,
        }
    }

    pub(crate) fn write_stats(&self) -> &WriteStats {
        &self.stats
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(format!("PostgreSQL: {}", with_causes(&e))))
    }

    /// Applies the steps this database lacks, one node at a time: nodes
    /// starting together wait for the first one's migration.
    async fn migrate(&self) -> Result<(), StoreError> {
        let latest = MIGRATIONS.last().map_or(0, |m| m.0);
        let mut c = self.client().await?;
        // Up to date: no DDL at all, so that a role without CREATE (granted
        // only for the first start and upgrades) starts.
        let exists: bool = c
            .query_one("SELECT to_regclass('mamori_schema') IS NOT NULL", &[])
            .await?
            .try_get(0)?;
        let found: Option<i32> = if exists {
            c.query_one("SELECT MAX(version) FROM mamori_schema", &[])
                .await?
                .try_get(0)?
        } else {
            None
        };
        if found == Some(latest) {
            return Ok(());
        }
        let tx = begin(&mut c).await?;
        // Another node's migration may take longer than the lock timeout.
        tx.batch_execute("SET LOCAL lock_timeout = 0").await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS mamori_schema (version INTEGER NOT NULL)")
            .await?;
        let version: i32 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM mamori_schema", &[])
            .await?
            .try_get(0)?;
        if version > latest {
            return Err(StoreError::Migration(format!(
                "the database has schema version {version}, newer than this build's {latest}: \
                 run a newer mamori"
            )));
        }
        for (step, sql) in MIGRATIONS.iter().filter(|m| m.0 > version) {
            tx.batch_execute(sql)
                .await
                .map_err(|e| StoreError::Migration(format!("step {step}: {e}")))?;
            tx.execute("INSERT INTO mamori_schema (version) VALUES ($1)", &[step])
                .await?;
        }
        commit(tx).await
    }

    /// One statement in its own transaction; the number of rows it changed.
    async fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let c = self.client().await?;
        let st = c.prepare_cached(sql).await?;
        let n = c.execute(&st, params).await?;
        self.count_commit(1);
        Ok(n)
    }

    async fn query(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, StoreError> {
        let c = self.client().await?;
        let st = c.prepare_cached(sql).await?;
        Ok(c.query(&st, params).await?)
    }

    fn count_commit(&self, writes: u64) {
        self.stats.commits.fetch_add(1, Relaxed);
        self.stats.writes.fetch_add(writes, Relaxed);
    }

    /// Runs `sql` and, when it changed a row and `audit` is given, appends
    /// the entry recording it, in one transaction (see
    /// `Store::write_recorded`). Returns the number of rows changed.
    async fn recorded(
        &self,
        sql: &str,
        params: &[Param<'_>],
        audit: Option<NewAuditEntry>,
    ) -> Result<u64, StoreError> {
        let Some(entry) = audit else {
            let n = self.execute(sql, params).await?;
            if n > 0 {
                self.announce().await;
            }
            return Ok(n);
        };
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        let st = tx.prepare_cached(sql).await?;
        let n = tx.execute(&st, params).await?;
        if n > 0 {
            append(&tx, std::slice::from_ref(&entry)).await?;
        }
        commit(tx).await?;
        self.count_commit(1);
        if n > 0 {
            self.announce().await;
        }
        Ok(n)
    }

    /// A statement on a pooled connection, and a writer that still takes
    /// audited writes.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        if !self.audit.is_running() {
            return Err(StoreError::Unavailable(
                "the audited-write writer has stopped".into(),
            ));
        }
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    // ---- sessions ---------------------------------------------------------

    pub(crate) async fn insert_session(&self, r: &SessionRecord) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO sessions (id, tee, nonce, created_at, expires_at, used) \
             VALUES ($1, $2, $3, $4, $5, FALSE)",
            &[&r.id, &r.tee, &r.nonce, &r.created_at, &r.expires_at],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let rows = self
            .query(
                "SELECT id, tee, nonce, created_at, expires_at, used, token, token_exp \
                 FROM sessions WHERE id = $1",
                &[&id],
            )
            .await?;
        rows.first().map(session_row).transpose()
    }

    pub(crate) async fn count_open_sessions(&self, now: i64) -> Result<i64, StoreError> {
        let rows = self
            .query(
                "SELECT COUNT(*) FROM sessions WHERE NOT used AND expires_at >= $1",
                &[&now],
            )
            .await?;
        Ok(rows.first().map(|r| r.try_get(0)).transpose()?.unwrap_or(0))
    }

    /// Deletes sessions (and their tokens) dead before `before`, walking the
    /// expiry index `step` sessions at a time, at most `max_steps` steps: the
    /// same bounded steps as on SQLite, so that a backlog never becomes one
    /// long transaction holding row locks.
    pub(crate) async fn purge(
        &self,
        before: i64,
        step: u32,
        max_steps: usize,
    ) -> Result<u64, StoreError> {
        let mut after = (i64::MIN, String::new());
        let mut total = 0u64;
        for _ in 0..max_steps {
            let rows = self
                .query(
                    "SELECT expires_at, id, token_exp FROM sessions \
                     WHERE (expires_at, id) > ($1, $2) AND expires_at < $3 \
                     ORDER BY expires_at, id LIMIT $4",
                    &[&after.0, &after.1, &before, &i64::from(step)],
                )
                .await?;
            let Some(last) = rows.last() else {
                break;
            };
            let next = (last.try_get::<_, i64>(0)?, last.try_get::<_, String>(1)?);
            let mut dead = Vec::new();
            for r in &rows {
                let token_exp: Option<i64> = r.try_get(2)?;
                if token_exp.is_none_or(|t| t < before) {
                    dead.push(r.try_get::<_, String>(1)?);
                }
            }
            if !dead.is_empty() {
                total += self
                    .execute(
                        "DELETE FROM sessions WHERE id = ANY($1) AND expires_at < $2 \
                         AND (token_exp IS NULL OR token_exp < $2)",
                        &[&dead, &before],
                    )
                    .await?;
            }
            if rows.len() < step as usize {
                break;
            }
            after = next;
        }
        Ok(total)
    }

    /// Spends the session's nonce and stores its token, with `entry` when
    /// given, in one transaction. `(false, None)` when the session was not
    /// there to complete (unknown, used or expired).
    pub(crate) async fn complete(
        &self,
        id: &str,
        now: i64,
        token: Option<(&str, i64)>,
        entry: Option<NewAuditEntry>,
    ) -> Result<(bool, Option<AuditEntry>), StoreError> {
        const SQL: &str = "UPDATE sessions SET used = TRUE, token = $2, token_exp = $3 \
                           WHERE id = $1 AND NOT used AND expires_at >= $4";
        let (tok, tok_exp) = (token.map(|t| t.0), token.map(|t| t.1));
        let params: [Param<'_>; 4] = [&id, &tok, &tok_exp, &now];
        let Some(entry) = entry else {
            return Ok((self.execute(SQL, &params).await? == 1, None));
        };
        let work = Work::Complete {
            id: id.to_owned(),
            now,
            token: token.map(|(t, exp)| (t.to_owned(), exp)),
            entry,
        };
        match self.audit.submit(work).await? {
            Outcome::Completed(spent, record) => Ok((spent, record)),
            Outcome::Appended(_) => Err(mismatched()),
        }
    }

    pub(crate) async fn burn_session(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .execute(
                "UPDATE sessions SET used = TRUE WHERE id = $1 AND NOT used",
                &[&id],
            )
            .await?
            == 1)
    }

    // ---- policies and reference values ------------------------------------

    pub(crate) async fn put_policy(
        &self,
        p: &PolicyRecord,
        audit: Option<NewAuditEntry>,
    ) -> Result<(), StoreError> {
        self.recorded(
            "INSERT INTO policies (kind, id, source, digest, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (kind, id) DO UPDATE SET source = excluded.source, \
             digest = excluded.digest, updated_at = excluded.updated_at",
            &[&p.kind, &p.id, &p.source, &p.digest, &p.updated_at],
            audit,
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn delete_policy(&self, kind: &str, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .recorded(
                "DELETE FROM policies WHERE kind = $1 AND id = $2",
                &[&kind, &id],
                None,
            )
            .await?
            == 1)
    }

    pub(crate) async fn list_policies(&self, kind: &str) -> Result<Vec<PolicyRecord>, StoreError> {
        let rows = self
            .query(
                "SELECT kind, id, source, digest, updated_at FROM policies WHERE kind = $1 ORDER BY id COLLATE \"C\"",
                &[&kind],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PolicyRecord {
                    kind: r.try_get(0)?,
                    id: r.try_get(1)?,
                    source: r.try_get(2)?,
                    digest: r.try_get(3)?,
                    updated_at: r.try_get(4)?,
                })
            })
            .collect()
    }

    pub(crate) async fn put_reference_value(
        &self,
        v: &ReferenceValue,
        vals: &str,
        audit: Option<NewAuditEntry>,
    ) -> Result<(), StoreError> {
        self.recorded(
            "INSERT INTO reference_values (name, vals, expires_at, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET vals = excluded.vals, \
             expires_at = excluded.expires_at, updated_at = excluded.updated_at",
            &[&v.name, &vals, &v.expires_at, &v.updated_at],
            audit,
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn delete_reference_value(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .recorded(
                "DELETE FROM reference_values WHERE name = $1",
                &[&name],
                None,
            )
            .await?
            == 1)
    }

    pub(crate) async fn list_reference_values(&self) -> Result<Vec<ReferenceValue>, StoreError> {
        let rows = self
            .query(
                "SELECT name, vals, expires_at, updated_at FROM reference_values ORDER BY name COLLATE \"C\"",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let vals: String = r.try_get(1)?;
                Ok(ReferenceValue {
                    name: r.try_get(0)?,
                    values: serde_json::from_str(&vals)?,
                    expires_at: r.try_get(2)?,
                    updated_at: r.try_get(3)?,
                })
            })
            .collect()
    }

    // ---- sealed resources and keys ----------------------------------------

    pub(crate) async fn put_resource(
        &self,
        path: &str,
        sealed: &[u8],
        now: i64,
        audit: Option<NewAuditEntry>,
    ) -> Result<(), StoreError> {
        self.recorded(
            "INSERT INTO resources (path, sealed, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (path) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
            &[&path, &sealed, &now],
            audit,
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn get_resource(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self
            .query("SELECT sealed FROM resources WHERE path = $1", &[&path])
            .await?;
        Ok(rows.first().map(|r| r.try_get(0)).transpose()?)
    }

    pub(crate) async fn delete_resource(
        &self,
        path: &str,
        audit: Option<NewAuditEntry>,
    ) -> Result<bool, StoreError> {
        Ok(self
            .recorded("DELETE FROM resources WHERE path = $1", &[&path], audit)
            .await?
            == 1)
    }

    pub(crate) async fn list_resources(&self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .query(
                "SELECT path FROM resources ORDER BY path COLLATE \"C\"",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?)
    }

    pub(crate) async fn get_collateral(
        &self,
        key: &str,
    ) -> Result<Option<crate::CollateralRecord>, StoreError> {
        let rows = self
            .query(
                "SELECT body, fetched_at FROM collateral WHERE key = $1",
                &[&key],
            )
            .await?;
        rows.first()
            .map(|r| {
                Ok(crate::CollateralRecord {
                    body: r.try_get(0)?,
                    fetched_at: r.try_get(1)?,
                })
            })
            .transpose()
    }

    pub(crate) async fn put_collateral(
        &self,
        key: &str,
        body: &[u8],
        fetched_at: i64,
    ) -> Result<(), StoreError> {
        // Not announced: other nodes read the cache when they miss, and
        // have nothing to reload.
        self.execute(
            "INSERT INTO collateral (key, body, fetched_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET body = EXCLUDED.body, fetched_at = EXCLUDED.fetched_at \
             WHERE collateral.fetched_at <= EXCLUDED.fetched_at",
            &[&key, &body, &fetched_at],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn purge_collateral(
        &self,
        pattern: &str,
        before: i64,
    ) -> Result<u64, StoreError> {
        self.execute(
            "DELETE FROM collateral WHERE key LIKE $1 ESCAPE '\\' AND fetched_at < $2",
            &[&pattern, &before],
        )
        .await
    }

    pub(crate) async fn put_signing_key(&self, k: &SigningKeyRecord) -> Result<(), StoreError> {
        self.recorded(
            "INSERT INTO signing_keys (kid, sealed, public_jwk, created_at, retired_at) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &k.kid,
                &k.sealed,
                &k.public_jwk,
                &k.created_at,
                &k.retired_at,
            ],
            None,
        )
        .await?;
        Ok(())
    }

    /// `Store::rotate_signing_key`, under the key lock so that nodes
    /// rotating together see each other's new key.
    pub(crate) async fn rotate_signing_key(
        &self,
        k: &SigningKeyRecord,
        now: i64,
        audit: Option<NewAuditEntry>,
        unless_active_after: Option<i64>,
    ) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&KEYS_LOCK])
            .await?;
        if let Some(after) = unless_active_after {
            let newer = tx
                .query_opt(
                    "SELECT 1 FROM signing_keys WHERE retired_at IS NULL AND created_at > $1 LIMIT 1",
                    &[&after],
                )
                .await?;
            if newer.is_some() {
                return Ok(false);
            }
        }
        tx.execute(
            "INSERT INTO signing_keys (kid, sealed, public_jwk, created_at, retired_at) \
             VALUES ($1, $2, $3, $4, NULL)",
            &[&k.kid, &k.sealed, &k.public_jwk, &k.created_at],
        )
        .await?;
        tx.execute(
            "UPDATE signing_keys SET retired_at = $2 WHERE kid <> $1 AND retired_at IS NULL",
            &[&k.kid, &now],
        )
        .await?;
        if let Some(e) = audit {
            append(&tx, std::slice::from_ref(&e)).await?;
        }
        commit(tx).await?;
        self.count_commit(1);
        self.announce().await;
        Ok(true)
    }

    pub(crate) async fn drop_retired_keys(&self, before: i64) -> Result<u64, StoreError> {
        self.execute(
            "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1",
            &[&before],
        )
        .await
    }

    pub(crate) async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows = self
            .query(
                "SELECT kid, sealed, public_jwk, created_at, retired_at FROM signing_keys \
                 ORDER BY created_at, kid COLLATE \"C\"",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SigningKeyRecord {
                    kid: r.try_get(0)?,
                    sealed: r.try_get(1)?,
                    public_jwk: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                    retired_at: r.try_get(4)?,
                })
            })
            .collect()
    }

    // ---- audit --------------------------------------------------------------

    pub(crate) async fn append_audit(
        &self,
        entries: Vec<NewAuditEntry>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        match self.audit.submit(Work::Append(entries)).await? {
            Outcome::Appended(out) => Ok(out),
            Outcome::Completed(..) => Err(mismatched()),
        }
    }

    pub(crate) async fn list_audit(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = self
            .query(
                &format!(
                    "SELECT {} FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                    audit::COLUMNS
                ),
                &[&after, &limit],
            )
            .await?;
        rows.iter().map(audit_row).collect()
    }

    pub(crate) async fn audit_anchor(&self) -> Result<Option<(i64, String)>, StoreError> {
        let c = self.client().await?;
        Ok(anchor_row(&c).await?.map(|(seq, hash, _)| (seq, hash)))
    }

    /// `Store::prune_audit` on PostgreSQL: the same checks, under the audit
    /// lock, so that no node appends while the oldest entries are verified
    /// and removed.
    pub(crate) async fn prune_audit(
        &self,
        before: i64,
        max: u32,
        at: i64,
        actor: String,
        detail: impl FnOnce(u64, i64) -> String,
    ) -> Result<u64, StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
            .await?;
        let (mut expected, mut prev) = match anchor_row(&tx).await? {
            Some((seq, hash, recorded_by)) => {
                check_anchor_recorded(&tx, seq, &hash, recorded_by).await?;
                (seq.saturating_add(1), hash)
            }
            None => (1, GENESIS_HASH.to_owned()),
        };
        let first = expected;
        let head: Option<i64> = tx
            .query_one("SELECT MAX(seq) FROM audit", &[])
            .await?
            .try_get(0)?;
        let Some(head) = head else {
            return Ok(0);
        };
        let rows = tx
            .query(
                &format!(
                    "SELECT {} FROM audit WHERE seq >= $1 AND seq < $2 ORDER BY seq LIMIT $3",
                    audit::COLUMNS
                ),
                &[&expected, &head, &i64::from(max)],
            )
            .await?;
        let mut last = None;
        for r in &rows {
            let e = audit_row(r)?;
            if e.at >= before {
                break;
            }
            audit::check_link(&e, expected, &prev)
                .map_err(|reason| audit::broken_for_retention(e.seq, &reason))?;
            expected = e.seq.saturating_add(1);
            prev = e.hash.clone();
            last = Some(e.seq);
        }
        let Some(through) = last else {
            return Ok(0);
        };
        let removed = tx
            .execute(
                "DELETE FROM audit WHERE seq BETWEEN $1 AND $2",
                &[&first, &through],
            )
            .await?;
        let record = audit::prune_record(at, actor, through, &prev, detail(removed, through));
        let recorded_by = append(&tx, std::slice::from_ref(&record))
            .await?
            .pop()
            .map(|e| e.seq)
            .ok_or_else(|| StoreError::Corrupt("audit append returned nothing".into()))?;
        tx.execute(
            "INSERT INTO audit_anchor (id, seq, hash, pruned_at, recorded_by) \
             VALUES (1, $1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, \
             pruned_at = excluded.pruned_at, recorded_by = excluded.recorded_by",
            &[&through, &prev, &at, &recorded_by],
        )
        .await?;
        commit(tx).await?;
        self.count_commit(1);
        Ok(removed)
    }

    pub(crate) async fn tamper_audit(&self, seq: i64, detail: &str) -> Result<(), StoreError> {
        self.execute(
            "UPDATE audit SET detail = $2 WHERE seq = $1",
            &[&seq, &detail],
        )
        .await?;
        Ok(())
    }
}

/// The pool's connection manager over `tls`, with the change listener
/// (`pg_changes.rs`) started on a connection of its own made the same way.
fn listening_manager<T>(
    cfg: tokio_postgres::Config,
    tls: T,
    changes: &tokio::sync::watch::Sender<u64>,
    alive: &Arc<()>,
) -> Manager
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> + Clone + Sync + Send + 'static,
    T::Stream: Sync + Send + 'static,
    T::TlsConnect: Sync + Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<tokio_postgres::Socket>>::Future: Send,
{
    crate::pg_changes::spawn_listener(
        cfg.clone(),
        tls.clone(),
        changes.clone(),
        Arc::downgrade(alive),
    );
    let recycling = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    Manager::from_config(cfg, tls, recycling)
}

/// Whether the settings ask for TLS: `sslmode=require`, a CA or a client
/// certificate given.
fn wants_tls(cfg: &tokio_postgres::Config, o: &PostgresOptions) -> Result<bool, StoreError> {
    let given = match (&o.ca_pem, &o.client_cert) {
        (Some(_), Some(_)) => Some("store.ca_file and store.client_cert"),
        (None, Some(_)) => Some("store.client_cert"),
        (Some(_), None) => Some("store.ca_file"),
        (None, None) => None,
    };
    if let (Some(key), SslMode::Disable) = (given, cfg.get_ssl_mode()) {
        return Err(StoreError::Config(format!(
            "{key} is set but the connection string says sslmode=disable"
        )));
    }
    Ok(cfg.get_ssl_mode() == SslMode::Require || given.is_some())
}

fn parse(o: &PostgresOptions) -> Result<tokio_postgres::Config, StoreError> {
    o.url
        .parse()
        .map_err(|e| StoreError::Config(format!("store.postgres_url: {e}")))
}

/// The TLS client: Mozilla's roots and the configured CAs, TLS 1.2 and 1.3,
/// aws-lc-rs (the one crypto provider of the build), and the client
/// certificate when one is configured.
fn tls_connector(o: &PostgresOptions) -> Result<MakeRustlsConnect, StoreError> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = &o.ca_pem {
        let mut added = 0;
        for der in CertificateDer::pem_slice_iter(pem) {
            let der = der.map_err(|e| StoreError::Config(format!("store.ca_file: {e}")))?;
            roots
                .add(der)
                .map_err(|e| StoreError::Config(format!("store.ca_file: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(StoreError::Config(
                "store.ca_file holds no PEM certificate".into(),
            ));
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let config = match &o.client_cert {
        None => builder.with_no_client_auth(),
        Some(c) => {
            let (chain, key) = client_identity(c)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| StoreError::Config(format!("store.client_key: {e}")))?
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The client certificate chain and key, parsed.
fn client_identity(
    c: &crate::ClientCertificate,
) -> Result<
    (
        Vec<rustls::pki_types::CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ),
    StoreError,
> {
    use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(&c.chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Config(format!("store.client_cert: {e}")))?;
    if chain.is_empty() {
        return Err(StoreError::Config(
            "store.client_cert holds no PEM certificate".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&c.key_pem)
        .map_err(|e| StoreError::Config(format!("store.client_key: no PEM private key ({e})")))?;
    Ok((chain, key))
}

/// A transaction at READ COMMITTED whatever the database's default: the
/// audit chain and the nonce rely on each statement seeing what committed
/// before it (see the module doc).
pub(crate) async fn begin(
    c: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    Ok(c.build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
        .start()
        .await?)
}

fn mismatched() -> StoreError {
    StoreError::Corrupt("the audit writer answered another kind of write".into())
}

/// Commits, reporting a failed commit as one (nothing of it was stored).
async fn commit(tx: deadpool_postgres::Transaction<'_>) -> Result<(), StoreError> {
    tx.commit()
        .await
        .map_err(|e| StoreError::Commit(postgres_detail(&e)))
}

/// Appends `entries` after the chain's head, inside `tx`, holding the audit
/// lock until `tx` ends (see the module doc), in one `INSERT`.
pub(crate) async fn append(
    tx: &deadpool_postgres::Transaction<'_>,
    entries: &[NewAuditEntry],
) -> Result<Vec<AuditEntry>, StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
        .await?;
    let head = tx
        .query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])
        .await?
        .map(|r| Ok::<_, tokio_postgres::Error>((r.try_get(0)?, r.try_get(1)?)))
        .transpose()?;
    let (mut seq, mut prev): (i64, String) = head.unwrap_or((0, GENESIS_HASH.to_owned()));
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        seq = audit::next_seq(seq)?;
        let a = AuditEntry::chained(seq, e.clone(), std::mem::take(&mut prev));
        prev = a.hash.clone();
        out.push(a);
    }
    let column = |f: fn(&AuditEntry) -> &str| out.iter().map(f).collect::<Vec<_>>();
    let seqs: Vec<i64> = out.iter().map(|e| e.seq).collect();
    let ats: Vec<i64> = out.iter().map(|e| e.at).collect();
    let insert = tx
        .prepare_cached(&format!(
            "INSERT INTO audit ({}) SELECT * FROM UNNEST($1::bigint[], $2::bigint[], \
             $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])",
            audit::COLUMNS
        ))
        .await?;
    tx.execute(
        &insert,
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
    Ok(out)
}

async fn anchor_row(
    c: &impl GenericClient,
) -> Result<Option<(i64, String, Option<i64>)>, StoreError> {
    let row = c
        .query_opt(
            "SELECT seq, hash, recorded_by FROM audit_anchor WHERE id = 1",
            &[],
        )
        .await?;
    Ok(row
        .map(|r| Ok::<_, tokio_postgres::Error>((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .transpose()?)
}

/// `audit::check_anchor_recorded` on PostgreSQL.
async fn check_anchor_recorded(
    c: &impl GenericClient,
    seq: i64,
    hash: &str,
    recorded_by: Option<i64>,
) -> Result<(), StoreError> {
    let subject = audit::anchor_subject(seq, hash);
    let found = match recorded_by {
        Some(r) => c
            .query_opt(
                "SELECT 1 FROM audit WHERE seq = $1 AND action = $2 AND subject = $3",
                &[&r, &PRUNE_ACTION, &subject],
            )
            .await?
            .is_some(),
        None => c
            .query_opt(
                "SELECT 1 FROM audit WHERE seq > $1 AND action = $2 AND subject = $3 LIMIT 1",
                &[&seq, &PRUNE_ACTION, &subject],
            )
            .await?
            .is_some(),
    };
    if found {
        Ok(())
    } else {
        Err(audit::anchor_unrecorded(seq))
    }
}

fn session_row(r: &Row) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: r.try_get(0)?,
        tee: r.try_get(1)?,
        nonce: r.try_get(2)?,
        created_at: r.try_get(3)?,
        expires_at: r.try_get(4)?,
        used: r.try_get(5)?,
        token: r.try_get(6)?,
        token_exp: r.try_get(7)?,
    })
}

fn audit_row(r: &Row) -> Result<AuditEntry, StoreError> {
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
