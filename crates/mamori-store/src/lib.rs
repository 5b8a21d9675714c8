//! Mamori's storage: everything that must survive a restart and be shared by
//! the nodes of a cluster — sessions and single-use nonces, evidence already
//! seen, policies, reference values, sealed resources and signing keys, and
//! the hash-chained audit log.
//!
//! The embedded backend is SQLite in WAL mode with `synchronous=NORMAL`: a
//! committed transaction survives the process being killed (SIGKILL); only an
//! operating-system crash can lose the last few commits. The store handles
//! bytes only: sealing secrets is the service's job, so the key-encryption
//! key never reaches the database.
#![forbid(unsafe_code)]

mod audit;
mod error;
mod records;
mod sessions;

pub use audit::{AuditCheck, AuditEntry, NewAuditEntry, GENESIS_HASH};
pub use error::StoreError;
pub use records::{PolicyRecord, ReferenceValue, SessionRecord, SigningKeyRecord};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// How completing a session went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    Done,
    Unknown,
    AlreadyUsed,
    Expired,
    /// The same evidence was already accepted for another session.
    Replay,
}

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    audit: tokio::sync::mpsc::Sender<audit::AuditJob>,
    sessions: std::sync::Arc<sessions::SessionCache>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Opens (creating if needed) the SQLite database at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(StoreError::from)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await?;
        Self::init(pool).await
    }

    /// A private in-memory database (tests).
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:")?;
        // One connection: every connection to :memory: is a new database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
        Self::init(pool).await
    }

    async fn init(pool: SqlitePool) -> Result<Self, StoreError> {
        MIGRATOR.run(&pool).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        tokio::spawn(audit::writer(pool.clone(), rx));
        Ok(Store {
            pool,
            audit: tx,
            sessions: Default::default(),
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- sessions and nonces -------------------------------------------

    pub async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, tee, nonce, created_at, expires_at, used) VALUES ($1, $2, $3, $4, $5, 0)",
        )
        .bind(&s.id)
        .bind(&s.tee)
        .bind(&s.nonce)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await?;
        self.sessions.put(s);
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
        let row = sqlx::query(
            "SELECT id, tee, nonce, created_at, expires_at, used, token, token_exp FROM sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| SessionRecord::from_row(&r)))
    }

    /// Sessions whose nonce is still usable.
    pub async fn count_open_sessions(&self, now: i64) -> Result<i64, StoreError> {
        let r = sqlx::query("SELECT COUNT(*) FROM sessions WHERE used = 0 AND expires_at >= $1")
            .bind(now)
            .fetch_one(&self.pool)
            .await?;
        Ok(r.try_get(0)?)
    }

    /// Deletes sessions that expired before `before` (and whose token, if
    /// any, expired too). Their evidence can no longer be replayed anyway:
    /// it binds the session's nonce, which is gone.
    pub async fn purge(&self, before: i64) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "DELETE FROM sessions WHERE expires_at < $1 AND (token_exp IS NULL OR token_exp < $1)",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        self.sessions.purge(before);
        Ok(r.rows_affected())
    }

    /// Completes a session in one statement: consumes its nonce, records
    /// the accepted evidence's digest (unique across sessions, so replayed
    /// evidence is refused) and stores the token, if any (the KBS cookie
    /// stands for it afterwards).
    pub async fn complete_session(
        &self,
        id: &str,
        now: i64,
        evidence_digest: &str,
        token: Option<(&str, i64)>,
    ) -> Result<Completion, StoreError> {
        let r = sqlx::query(
            "UPDATE sessions SET used = 1, evidence = $2, token = $3, token_exp = $4 \
             WHERE id = $1 AND used = 0 AND expires_at >= $5",
        )
        .bind(id)
        .bind(evidence_digest)
        .bind(token.map(|t| t.0))
        .bind(token.map(|t| t.1))
        .bind(now)
        .execute(&self.pool)
        .await;
        match r {
            Ok(r) if r.rows_affected() == 1 => {
                self.sessions.mark_used(id, token);
                Ok(Completion::Done)
            }
            Ok(_) => Ok(match self.get_session_db(id).await? {
                None => Completion::Unknown,
                Some(s) if s.used => Completion::AlreadyUsed,
                Some(_) => Completion::Expired,
            }),
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                self.burn_session(id).await?;
                Ok(Completion::Replay)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Marks a session's nonce used without completing it (a failed
    /// attempt still spends the nonce).
    pub async fn burn_session(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET used = 1 WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.sessions.mark_used(id, None);
        Ok(())
    }

    // ---- policies and reference values --------------------------------

    pub async fn put_policy(&self, p: &PolicyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO policies (kind, id, source, digest, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (kind, id) DO UPDATE SET source = excluded.source, digest = excluded.digest, updated_at = excluded.updated_at",
        )
        .bind(&p.kind)
        .bind(&p.id)
        .bind(&p.source)
        .bind(&p.digest)
        .bind(p.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_policy(&self, kind: &str, id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM policies WHERE kind = $1 AND id = $2")
            .bind(kind)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn list_policies(&self, kind: &str) -> Result<Vec<PolicyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, id, source, digest, updated_at FROM policies WHERE kind = $1 ORDER BY id",
        )
        .bind(kind)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(PolicyRecord::from_row).collect()
    }

    pub async fn put_reference_value(&self, v: &ReferenceValue) -> Result<(), StoreError> {
        let vals = serde_json::to_string(&v.values)?;
        sqlx::query(
            "INSERT INTO reference_values (name, vals, expires_at, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET vals = excluded.vals, expires_at = excluded.expires_at, updated_at = excluded.updated_at",
        )
        .bind(&v.name)
        .bind(vals)
        .bind(v.expires_at)
        .bind(v.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_reference_value(&self, name: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM reference_values WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn list_reference_values(&self) -> Result<Vec<ReferenceValue>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, vals, expires_at, updated_at FROM reference_values ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ReferenceValue::from_row).collect()
    }

    // ---- sealed resources and keys --------------------------------------

    pub async fn put_resource(
        &self,
        path: &str,
        sealed: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO resources (path, sealed, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (path) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
        )
        .bind(path)
        .bind(sealed)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get_resource(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT sealed FROM resources WHERE path = $1")
            .bind(path)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get(0)?),
            None => None,
        })
    }

    pub async fn delete_resource(&self, path: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM resources WHERE path = $1")
            .bind(path)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn list_resources(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT path FROM resources ORDER BY path")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
            .collect()
    }

    pub async fn put_signing_key(&self, k: &SigningKeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, sealed, public_jwk, created_at, retired_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&k.kid)
        .bind(&k.sealed)
        .bind(&k.public_jwk)
        .bind(k.created_at)
        .bind(k.retired_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks every key but `keep` retired at `now` (rotation).
    pub async fn retire_signing_keys_except(&self, keep: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $2 WHERE kid <> $1 AND retired_at IS NULL",
        )
        .bind(keep)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes keys retired before `before` (their tokens have expired).
    pub async fn drop_retired_keys(&self, before: i64) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    pub async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, sealed, public_jwk, created_at, retired_at FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(SigningKeyRecord::from_row).collect()
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
    pub(crate) fn audit_queue(&self) -> &tokio::sync::mpsc::Sender<audit::AuditJob> {
        &self.audit
    }
}
