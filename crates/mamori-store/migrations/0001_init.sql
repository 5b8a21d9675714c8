-- Sessions of the challenge/response protocols (native and KBS-compatible).
-- A nonce is single-use: `used` flips once, atomically.
CREATE TABLE IF NOT EXISTS sessions (
    id          TEXT PRIMARY KEY,
    tee         TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used        INTEGER NOT NULL DEFAULT 0,
    token       TEXT,
    token_exp   INTEGER
);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);

-- Digests of evidence already accepted: replayed evidence is refused.
CREATE TABLE IF NOT EXISTS evidence_seen (
    digest      TEXT PRIMARY KEY,
    seen_at     INTEGER NOT NULL
);

-- Appraisal policies (kind 'appraisal', id = TEE kind or policy id) and
-- resource policies (kind 'resource', id = path or path prefix).
CREATE TABLE IF NOT EXISTS policies (
    kind        TEXT NOT NULL,
    id          TEXT NOT NULL,
    source      TEXT NOT NULL,
    digest      TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE TABLE IF NOT EXISTS reference_values (
    name        TEXT PRIMARY KEY,
    vals        TEXT NOT NULL,
    expires_at  INTEGER,
    updated_at  INTEGER NOT NULL
);

-- Secrets sealed by the service (AES-256-GCM envelope); the store never
-- sees plaintext or the key-encryption key.
CREATE TABLE IF NOT EXISTS resources (
    path        TEXT PRIMARY KEY,
    sealed      BLOB NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Token-signing keys, sealed like resources.
CREATE TABLE IF NOT EXISTS signing_keys (
    kid         TEXT PRIMARY KEY,
    sealed      BLOB NOT NULL,
    public_jwk  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
);

-- Append-only, hash-chained audit log: hash = SHA-256(prev_hash || entry).
CREATE TABLE IF NOT EXISTS audit (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
