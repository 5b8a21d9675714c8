use rusqlite::Row;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub tee: String,
    pub nonce: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used: bool,
    pub token: Option<String>,
    pub token_exp: Option<i64>,
}

impl SessionRecord {
    pub(crate) const COLUMNS: &'static str =
        "id, tee, nonce, created_at, expires_at, used, token, token_exp";

    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(SessionRecord {
            id: r.get(0)?,
            tee: r.get(1)?,
            nonce: r.get(2)?,
            created_at: r.get(3)?,
            expires_at: r.get(4)?,
            used: r.get::<_, i64>(5)? != 0,
            token: r.get(6)?,
            token_exp: r.get(7)?,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyRecord {
    /// `appraisal` or `resource`.
    pub kind: String,
    /// TEE kind / policy id, or resource path (prefix).
    pub id: String,
    pub source: String,
    pub digest: String,
    pub updated_at: i64,
}

impl PolicyRecord {
    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(PolicyRecord {
            kind: r.get(0)?,
            id: r.get(1)?,
            source: r.get(2)?,
            digest: r.get(3)?,
            updated_at: r.get(4)?,
        })
    }
}

/// A named set of allowed values, visible to policies until it expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceValue {
    pub name: String,
    pub values: Vec<serde_json::Value>,
    pub expires_at: Option<i64>,
    pub updated_at: i64,
}

impl ReferenceValue {
    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let vals: String = r.get(1)?;
        Ok(ReferenceValue {
            name: r.get(0)?,
            values: serde_json::from_str(&vals).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    1,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?,
            expires_at: r.get(2)?,
            updated_at: r.get(3)?,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// The PKCS#8 private key sealed under the key-encryption key.
    pub sealed: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

impl SigningKeyRecord {
    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(SigningKeyRecord {
            kid: r.get(0)?,
            sealed: r.get(1)?,
            public_jwk: r.get(2)?,
            created_at: r.get(3)?,
            retired_at: r.get(4)?,
        })
    }
}

/// Vendor collateral as cached: the bytes as served, and when (Unix
/// seconds) they were fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollateralRecord {
    pub body: Vec<u8>,
    pub fetched_at: i64,
}
