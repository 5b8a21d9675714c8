use thiserror::Error;

/// A storage failure. Callers map it to "service unavailable": the request
/// was not carried out, and nothing already stored was changed.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
}
