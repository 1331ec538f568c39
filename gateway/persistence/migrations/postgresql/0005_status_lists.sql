-- Token Status List (draft-ietf-oauth-status-list; gateway/persistence/status_store.py): every
-- attestation holds one entry of a status list, at an index drawn at random from a large list
-- (herd privacy) and never reused. status is the draft's value: 0 VALID, 1 INVALID, 2 SUSPENDED.
CREATE TABLE status_lists (
    list_id INTEGER PRIMARY KEY,
    bits INTEGER NOT NULL,
    size INTEGER NOT NULL,
    allocated INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE status_entries (
    list_id INTEGER NOT NULL REFERENCES status_lists (list_id),
    idx INTEGER NOT NULL,
    jti TEXT NOT NULL UNIQUE,
    consent_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (list_id, idx)
);
CREATE INDEX status_entries_consent ON status_entries (consent_id, status);
-- The packed bit array itself, in chunks of 256 bytes (1024 two-bit entries; a missing chunk is
-- all VALID): a change rewrites one small chunk, a publication reads a list's chunks in one query.
CREATE TABLE status_chunks (
    list_id INTEGER NOT NULL REFERENCES status_lists (list_id),
    chunk INTEGER NOT NULL,
    bits BYTEA NOT NULL,
    PRIMARY KEY (list_id, chunk)
);
