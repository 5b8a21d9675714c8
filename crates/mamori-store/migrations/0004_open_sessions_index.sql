-- Sessions whose nonce is unspent, by expiry: what the open-session gauge
-- counts on every metrics scrape. Without it the count looked up every
-- session of the last nonce lifetime in the table (about 50 ms of a worker
-- thread with 40,000 recent sessions, growing with the load); with it, only
-- the sessions still awaiting evidence. Its entries are added and removed
-- near its end, on pages that commits write anyway: 0.14 more log frames
-- per kbs-sample flow.
CREATE INDEX IF NOT EXISTS sessions_open ON sessions (expires_at) WHERE used = 0;
