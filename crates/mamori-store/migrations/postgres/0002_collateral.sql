-- Vendor collateral fetched on demand (AMD KDS certificates and CRLs): a
-- cache that survives restarts and is shared by every node on the database.
-- Entries are verified when used, never trusted for being here.
CREATE TABLE IF NOT EXISTS collateral (
    key        TEXT PRIMARY KEY,
    body       BYTEA NOT NULL,
    fetched_at BIGINT NOT NULL
);
