-- Portal sessions in the database (gateway/portal/sessions.py, issue 20 item 4), so any replica
-- serves any signed-in browser. The cookie value is never stored: rows are keyed by its SHA-256.
-- Times are Unix microseconds; a row past expires_at is dead (refused, then deleted).
-- Idempotent like 0001.
CREATE TABLE IF NOT EXISTS portal_sessions (
    id_hash TEXT PRIMARY KEY,
    csrf TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    subject TEXT,
    role TEXT,
    issuer TEXT,
    principal_expires_at BIGINT,
    cnf_x5t TEXT,
    token TEXT NOT NULL DEFAULT '',
    id_token TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS portal_sessions_by_expiry ON portal_sessions (expires_at);
-- OpenID Connect sign-ins on their way (state -> nonce and PKCE verifier): the provider's
-- callback may reach another replica than the one that sent the browser there.
CREATE TABLE IF NOT EXISTS portal_logins (
    state_hash TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS portal_logins_by_expiry ON portal_logins (expires_at);
