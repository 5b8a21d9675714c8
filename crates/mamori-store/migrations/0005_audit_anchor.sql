-- Where the audit chain starts once old entries were removed (retention):
-- the sequence number and hash of the last entry removed, so the entries
-- kept still verify from there. One row at most.
CREATE TABLE IF NOT EXISTS audit_anchor (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       INTEGER NOT NULL,
    hash      TEXT NOT NULL,
    pruned_at INTEGER NOT NULL
);
