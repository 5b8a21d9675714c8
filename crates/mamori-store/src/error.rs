use thiserror::Error;

/// A storage failure. Callers map it to "service unavailable": the request
/// was not carried out, and nothing already stored was changed.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("PostgreSQL: {}", postgres_detail(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The store's settings cannot be used (a malformed connection string).
    #[error("store configuration: {0}")]
    Config(String),
    #[error("database schema: {0}")]
    Migration(String),
    /// The write's transaction did not commit (nothing of it was stored).
    /// On PostgreSQL, a connection lost after the commit was sent leaves it
    /// unknown whether the server committed: the next read tells.
    #[error("database commit: {0}")]
    Commit(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A readiness check found no answer in time (a writer stuck behind
    /// another process's lock, a disk that does not answer).
    #[error("the database did not answer within {0} ms")]
    Unresponsive(u128),
    /// A failure found by a check made moments ago, reported again (the
    /// readiness probe's answer stands for a second).
    #[error("{0}")]
    Unavailable(String),
}

/// tokio-postgres's own text for a server error is only "db error": the
/// server's message, detail and hint are what an operator needs.
pub(crate) fn postgres_detail(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{}: {} ({})", db.severity(), db.message(), db.code().code());
            if let Some(d) = db.detail() {
                s.push_str(&format!("; {d}"));
            }
            s
        }
        None => with_causes(e),
    }
}

/// `e` and what caused it, outermost first: a TLS failure's reason (an
/// unknown issuer, a wrong name) is several sources down.
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}
