-- Replayed evidence is refused by its binding, not by a unique index: every
-- accepted piece of evidence binds its session's single-use nonce, so on
-- another session it fails the binding check and on its own the nonce is
-- spent. The random-keyed index cost a page of the write-ahead log per
-- attestation. The column stays (old rows keep their digest); new sessions
-- leave it empty.
DROP INDEX IF EXISTS sessions_evidence;
