-- Mamori's schema on PostgreSQL: the SQLite schema as it stands after its
-- sixth step, in PostgreSQL's types. Times are Unix seconds.
CREATE TABLE IF NOT EXISTS sessions (
    id          TEXT PRIMARY KEY,
    tee         TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used        BOOLEAN NOT NULL DEFAULT FALSE,
    token       TEXT,
    token_exp   BIGINT
);
-- The purge walks sessions in (expires_at, id) order.
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at, id);
-- The open-session count reads only the sessions awaiting evidence.
CREATE INDEX IF NOT EXISTS sessions_open ON sessions (expires_at) WHERE NOT used;

CREATE TABLE IF NOT EXISTS policies (
    kind        TEXT NOT NULL,
    id          TEXT NOT NULL,
    source      TEXT NOT NULL,
    digest      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE TABLE IF NOT EXISTS reference_values (
    name        TEXT PRIMARY KEY,
    vals        TEXT NOT NULL,
    expires_at  BIGINT,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS resources (
    path        TEXT PRIMARY KEY,
    sealed      BYTEA NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS signing_keys (
    kid         TEXT PRIMARY KEY,
    sealed      BYTEA NOT NULL,
    public_jwk  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);

CREATE TABLE IF NOT EXISTS audit (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS audit_anchor (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    pruned_at   BIGINT NOT NULL,
    recorded_by BIGINT
);
