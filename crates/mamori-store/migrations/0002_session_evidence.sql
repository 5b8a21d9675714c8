-- Completing a session is one statement: the nonce is consumed, the digest
-- of the accepted evidence recorded (unique: replayed evidence is refused)
-- and the token stored, atomically.
ALTER TABLE sessions ADD COLUMN evidence TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS sessions_evidence ON sessions (evidence) WHERE evidence IS NOT NULL;
DROP TABLE IF EXISTS evidence_seen;
