//! Helpers shared by the store's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use mamori_store::SessionRecord;
use std::path::{Path, PathBuf};

/// A directory of its own per test, removed afterwards.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("mamori-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn db(&self) -> PathBuf {
        self.0.join("db.sqlite")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An unused session with a nonce derived from its id.
pub fn session(id: &str, expires_at: i64) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        tee: "snp".into(),
        nonce: format!("nonce-{id}"),
        created_at: 100,
        expires_at,
        used: false,
        token: None,
        token_exp: None,
    }
}

/// Adds SQL (a trigger, say) to the database behind the store's back, as a
/// fault injector or an attacker with file access would.
pub fn inject(path: &Path, sql: &str) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(sql)
        .unwrap();
}
