-- attestgate schema version 1 (PostgreSQL): every table of the gateway database.
-- A migration is frozen once released: change the schema with a new NNNN_name.sql file.
-- Same tables and columns as the SQLite migration, with PostgreSQL types: BYTEA for blobs, BIGINT
-- for counters, indices and microseconds, BOOLEAN for flags. Text that is ordered or paged by
-- (ids, RFC 3339 timestamps) is COLLATE "C", so order is byte order on every server locale, as in
-- SQLite and in the in-memory stores.

-- Audit log (audit/store.py)
CREATE TABLE audit_leaves (
    idx BIGINT PRIMARY KEY,
    data BYTEA NOT NULL,
    leaf_hash BYTEA NOT NULL
);
CREATE TABLE audit_nodes (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE audit_checkpoints (
    size BIGINT PRIMARY KEY,
    root BYTEA NOT NULL,
    note TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);
-- The coordination row every batch transaction locks FOR UPDATE before it writes anything: the
-- batches of all replicas run one at a time (gateway/db/postgres.py).
CREATE TABLE audit_coord (
    id INTEGER PRIMARY KEY CHECK (id = 1)
);
INSERT INTO audit_coord (id) VALUES (1);

-- Append-only in storage, not only in code. A duplicate key is already refused by the primary
-- keys (and INSERT ... ON CONFLICT DO UPDATE fires the UPDATE trigger); row triggers refuse UPDATE
-- and DELETE, statement triggers refuse TRUNCATE (which fires no row triggers).
CREATE FUNCTION attestgate_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END
$$;
CREATE FUNCTION attestgate_audit_leaves_dense() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A row-level BEFORE trigger sees the rows inserted before it by the same statement.
    IF NEW.idx IS DISTINCT FROM (SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_leaves) THEN
        RAISE EXCEPTION 'audit_leaves indices must be dense' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_leaves_no_change BEFORE UPDATE OR DELETE ON audit_leaves
    FOR EACH ROW EXECUTE FUNCTION attestgate_append_only();
CREATE TRIGGER audit_leaves_no_truncate BEFORE TRUNCATE ON audit_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION attestgate_append_only();
CREATE TRIGGER audit_leaves_dense BEFORE INSERT ON audit_leaves
    FOR EACH ROW EXECUTE FUNCTION attestgate_audit_leaves_dense();
CREATE TRIGGER audit_nodes_no_change BEFORE UPDATE OR DELETE ON audit_nodes
    FOR EACH ROW EXECUTE FUNCTION attestgate_append_only();
CREATE TRIGGER audit_nodes_no_truncate BEFORE TRUNCATE ON audit_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION attestgate_append_only();
CREATE TRIGGER audit_checkpoints_no_change BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION attestgate_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION attestgate_append_only();

-- Consents (consent/pg_store.py)
CREATE TABLE consent_requests (
    id TEXT COLLATE "C" PRIMARY KEY,
    owner TEXT NOT NULL,
    grantee TEXT NOT NULL,
    domain TEXT NOT NULL,
    purpose TEXT NOT NULL,
    claims TEXT NOT NULL,
    record_id TEXT,
    valid_for_us BIGINT NOT NULL,
    max_uses INTEGER NOT NULL,
    separate_consent BOOLEAN NOT NULL,
    cross_border BOOLEAN NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    decided_at TEXT,
    consent_id TEXT,
    request_key TEXT NOT NULL DEFAULT ''
);
-- Idempotency: one request per (bank, key); an empty key means "no key".
CREATE UNIQUE INDEX consent_requests_key ON consent_requests (grantee, request_key)
    WHERE request_key <> '';
CREATE INDEX consent_requests_owner ON consent_requests (owner, id);
CREATE INDEX consent_requests_grantee ON consent_requests (grantee, id);
CREATE TABLE consents (
    id TEXT COLLATE "C" PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    grantee TEXT NOT NULL,
    domain TEXT NOT NULL,
    purpose TEXT NOT NULL,
    claims TEXT NOT NULL,
    record_domain TEXT NOT NULL,
    record_id TEXT,
    valid_from TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    max_uses INTEGER NOT NULL,
    uses INTEGER NOT NULL,
    data_life_us BIGINT NOT NULL,
    separate_consent BOOLEAN NOT NULL,
    cross_border BOOLEAN NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL,
    artefact_jws TEXT NOT NULL,
    artefact_hash TEXT NOT NULL
);
CREATE INDEX consents_owner ON consents (owner, id);
CREATE INDEX consents_grantee ON consents (grantee, id);
-- An identity is never reused. Batches commit one at a time, in seq order, so a bank's resume
-- cursor can never skip an event that commits late.
CREATE TABLE consent_events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id TEXT NOT NULL,
    consent_id TEXT,
    grantee TEXT NOT NULL,
    owner TEXT NOT NULL,
    state_kind TEXT NOT NULL,
    state TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX consent_events_grantee ON consent_events (grantee, seq);

-- Record vault (gateway/vault.py)
CREATE TABLE subject_keys (
    subject_ref TEXT PRIMARY KEY,
    kek_id TEXT NOT NULL,
    wrapped_key BYTEA NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE records (
    domain TEXT NOT NULL,
    record_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    subject_ref TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    nonce BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (domain, record_id, version)
);
CREATE INDEX records_by_subject ON records (subject_ref, domain);
CREATE TABLE erasures (
    subject_ref TEXT PRIMARY KEY,
    erased_at TEXT NOT NULL,
    records BIGINT NOT NULL
);

-- Attestations and the capacity ledger (gateway/attestations/ledger.py)
CREATE TABLE attestations (
    jti TEXT PRIMARY KEY,
    consent_id TEXT NOT NULL,
    grantee TEXT NOT NULL,
    domain TEXT NOT NULL,
    purpose TEXT NOT NULL,
    record_id TEXT NOT NULL,
    consumption_kind TEXT NOT NULL,
    consumption_amount BIGINT NOT NULL,
    state TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    redeemed_at TEXT,
    transaction_ref TEXT,
    response BYTEA NOT NULL
);
CREATE INDEX attestations_by_consent ON attestations (consent_id);
CREATE TABLE capacity (
    domain TEXT NOT NULL,
    record_id TEXT NOT NULL,
    consumed BIGINT NOT NULL DEFAULT 0,
    pledged_by TEXT,
    PRIMARY KEY (domain, record_id)
);

-- Idempotent creates, AIP-155 (gateway/idempotency.py)
CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    request_id TEXT NOT NULL,
    fingerprint BYTEA NOT NULL,
    response BYTEA NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (scope, request_id)
);

-- FX rate tables (gateway/records.py). SQLite orders ties of created_at by its implicit rowid;
-- this identity column carries the same name so one query serves both.
CREATE TABLE fx_rates (
    table_id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL,
    base TEXT NOT NULL,
    rates TEXT NOT NULL,
    effective_at TEXT,
    created_at TEXT COLLATE "C" NOT NULL,
    rowid BIGINT GENERATED ALWAYS AS IDENTITY
);

-- Per-subject index of the audit log behind ListActivity (gateway/trail.py)
CREATE TABLE activity_index (
    subject TEXT NOT NULL,
    idx BIGINT NOT NULL,
    PRIMARY KEY (subject, idx)
);
