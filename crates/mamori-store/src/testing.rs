//! Test support, not API: a PostgreSQL schema of its own per test, on the
//! server named by `MAMORI_TEST_POSTGRES` (a libpq connection string), by
//! default the local one this project's machines run. Without a server the
//! tests say so and pass, unless `MAMORI_TEST_POSTGRES_REQUIRED=1` (CI)
//! makes that a failure. Used by this crate's and the server's tests.

use crate::PostgresOptions;

const DEFAULT: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

/// A fresh schema for test `name` (per process, so that two runs against
/// one server do not drop each other's); `None`, with a note, without a
/// server.
///
/// # Panics
/// Without a server when `MAMORI_TEST_POSTGRES_REQUIRED=1`, or when the
/// schema cannot be made.
#[allow(clippy::expect_used)]
pub async fn postgres_schema(name: &str) -> Option<TestSchema> {
    let base = std::env::var("MAMORI_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT.into());
    let schema = format!("mamori_test_{name}_{}", std::process::id());
    let admin = match tokio_postgres::connect(&base, tokio_postgres::NoTls).await {
        Ok((client, conn)) => {
            tokio::spawn(conn);
            client
        }
        Err(e) => {
            assert!(
                std::env::var("MAMORI_TEST_POSTGRES_REQUIRED").as_deref() != Ok("1"),
                "no PostgreSQL at {base:?}: {e}"
            );
            eprintln!("skipped: no PostgreSQL at {base:?} ({e}); set MAMORI_TEST_POSTGRES");
            return None;
        }
    };
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE; CREATE SCHEMA \"{schema}\""
        ))
        .await
        .expect("create the test schema");
    Some(TestSchema {
        base,
        schema,
        admin,
    })
}

pub struct TestSchema {
    /// The server's connection string, without the schema.
    pub base: String,
    pub schema: String,
    /// A connection outside the store, for what an attacker or another
    /// program would do behind its back.
    pub admin: tokio_postgres::Client,
}

impl TestSchema {
    /// The connection string of a node working in this schema.
    pub fn url(&self) -> String {
        self.url_with("")
    }

    /// [`TestSchema::url`] with more server settings (`-c name=value …`).
    pub fn url_with(&self, settings: &str) -> String {
        format!(
            "{} options='-c search_path={} {settings}'",
            self.base, self.schema
        )
    }

    pub fn options(&self) -> PostgresOptions {
        self.options_with("")
    }

    pub fn options_with(&self, settings: &str) -> PostgresOptions {
        PostgresOptions {
            url: self.url_with(settings),
            password: None,
            pool_size: 8,
            ca_pem: None,
            client_cert: None,
        }
    }

    /// Runs SQL in this schema behind the store's back.
    ///
    /// # Panics
    /// When the SQL fails.
    #[allow(clippy::expect_used)]
    pub async fn inject(&self, sql: &str) {
        self.admin
            .batch_execute(&format!("SET search_path = \"{}\"; {sql}", self.schema))
            .await
            .expect("inject SQL");
    }

    pub async fn drop(self) {
        let _ = self
            .admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                self.schema
            ))
            .await;
    }
}
