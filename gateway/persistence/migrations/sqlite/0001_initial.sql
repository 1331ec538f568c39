-- attestgate schema version 1 (SQLite): every table of the gateway database.
-- A migration is frozen once released: change the schema with a new NNNN_name.sql file.
-- "IF NOT EXISTS" everywhere, so databases created before versioned migrations (by the old
-- per-module ensure_schema functions) adopt this version unchanged.
-- The audit and consent tables repeat audit.store.ensure_schema and
-- consent.sqlite_store.ensure_schema statement for statement; tests/conformance/test_migrations.py
-- fails when they drift apart.

-- audit log (audit/store.py): leaves, perfect-subtree hashes, signed checkpoints
CREATE TABLE IF NOT EXISTS audit_leaves (
        idx INTEGER PRIMARY KEY, data BLOB NOT NULL, leaf_hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audit_nodes (
        level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
        PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_checkpoints (
        size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL,
        created_at TEXT NOT NULL);
-- Append-only in storage: UPDATE, DELETE, overwriting INSERTs (INSERT OR REPLACE deletes without
-- firing delete triggers) and gaps in the leaf indices abort.
CREATE TRIGGER IF NOT EXISTS audit_leaves_no_update BEFORE UPDATE ON audit_leaves BEGIN SELECT RAISE(ABORT, 'audit_leaves is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_leaves_no_delete BEFORE DELETE ON audit_leaves BEGIN SELECT RAISE(ABORT, 'audit_leaves is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_leaves_no_overwrite BEFORE INSERT ON audit_leaves WHEN EXISTS (SELECT 1 FROM audit_leaves WHERE idx = NEW.idx) BEGIN SELECT RAISE(ABORT, 'audit_leaves is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_nodes_no_update BEFORE UPDATE ON audit_nodes BEGIN SELECT RAISE(ABORT, 'audit_nodes is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_nodes_no_delete BEFORE DELETE ON audit_nodes BEGIN SELECT RAISE(ABORT, 'audit_nodes is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_nodes_no_overwrite BEFORE INSERT ON audit_nodes WHEN EXISTS (SELECT 1 FROM audit_nodes WHERE level = NEW.level AND idx = NEW.idx) BEGIN SELECT RAISE(ABORT, 'audit_nodes is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_overwrite BEFORE INSERT ON audit_checkpoints WHEN EXISTS (SELECT 1 FROM audit_checkpoints WHERE size = NEW.size) BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_leaves_dense BEFORE INSERT ON audit_leaves WHEN NEW.idx IS NOT (SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_leaves) BEGIN SELECT RAISE(ABORT, 'audit_leaves indices must be dense'); END;

-- consents (consent/sqlite_store.py)
CREATE TABLE IF NOT EXISTS consent_requests (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, grantee TEXT NOT NULL, domain TEXT NOT NULL,
        purpose TEXT NOT NULL, claims TEXT NOT NULL, record_id TEXT, valid_for_us INTEGER NOT NULL,
        max_uses INTEGER NOT NULL, separate_consent INTEGER NOT NULL, cross_border INTEGER NOT NULL,
        state TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL, decided_at TEXT,
        consent_id TEXT, request_key TEXT NOT NULL DEFAULT '');
-- Idempotency: one request per (bank, key); an empty key means "no key".
CREATE UNIQUE INDEX IF NOT EXISTS consent_requests_key
        ON consent_requests (grantee, request_key) WHERE request_key <> '';
CREATE INDEX IF NOT EXISTS consent_requests_owner ON consent_requests (owner, id);
CREATE INDEX IF NOT EXISTS consent_requests_grantee ON consent_requests (grantee, id);
CREATE TABLE IF NOT EXISTS consents (
        id TEXT PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,
        grantee TEXT NOT NULL, domain TEXT NOT NULL, purpose TEXT NOT NULL, claims TEXT NOT NULL,
        record_domain TEXT NOT NULL, record_id TEXT, valid_from TEXT NOT NULL,
        valid_until TEXT NOT NULL, max_uses INTEGER NOT NULL, uses INTEGER NOT NULL,
        data_life_us INTEGER NOT NULL, separate_consent INTEGER NOT NULL,
        cross_border INTEGER NOT NULL, created_at TEXT NOT NULL, state TEXT NOT NULL,
        artefact_jws TEXT NOT NULL, artefact_hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS consents_owner ON consents (owner, id);
CREATE INDEX IF NOT EXISTS consents_grantee ON consents (grantee, id);
-- AUTOINCREMENT: a seq is never reused, so a bank's resume cursor can never skip an event.
CREATE TABLE IF NOT EXISTS consent_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, consent_id TEXT,
        grantee TEXT NOT NULL, owner TEXT NOT NULL, state_kind TEXT NOT NULL,
        state TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS consent_events_grantee ON consent_events (grantee, seq);

-- record vault (gateway/vault.py): wrapped data keys, sealed record versions, erasures
CREATE TABLE IF NOT EXISTS subject_keys (
    subject_ref TEXT PRIMARY KEY,
    kek_id TEXT NOT NULL,
    wrapped_key BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    domain TEXT NOT NULL,
    record_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    subject_ref TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (domain, record_id, version)
);
CREATE INDEX IF NOT EXISTS records_by_subject ON records (subject_ref, domain);
CREATE TABLE IF NOT EXISTS erasures (
    subject_ref TEXT PRIMARY KEY,
    erased_at TEXT NOT NULL,
    records INTEGER NOT NULL
);

-- attestations and the capacity ledger (gateway/attestations/ledger.py)
CREATE TABLE IF NOT EXISTS attestations (
    jti TEXT PRIMARY KEY,
    consent_id TEXT NOT NULL,
    grantee TEXT NOT NULL,
    domain TEXT NOT NULL,
    purpose TEXT NOT NULL,
    record_id TEXT NOT NULL,
    consumption_kind TEXT NOT NULL,
    consumption_amount INTEGER NOT NULL,
    state TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    redeemed_at TEXT,
    transaction_ref TEXT,
    response BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS attestations_by_consent ON attestations (consent_id);
CREATE TABLE IF NOT EXISTS capacity (
    domain TEXT NOT NULL,
    record_id TEXT NOT NULL,
    consumed INTEGER NOT NULL DEFAULT 0,
    pledged_by TEXT,
    PRIMARY KEY (domain, record_id)
);

-- idempotent creates, AIP-155 (gateway/idempotency.py)
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL,
    request_id TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    response BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (scope, request_id)
);

-- FX rate tables (gateway/records.py); the newest is the one with the largest rowid
CREATE TABLE IF NOT EXISTS fx_rates (
    table_id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL,
    base TEXT NOT NULL,
    rates TEXT NOT NULL,
    effective_at TEXT,
    created_at TEXT NOT NULL
);

-- per-subject index of the audit log behind ListActivity (gateway/trail.py)
CREATE TABLE IF NOT EXISTS activity_index (
    subject TEXT NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (subject, idx)
);
