-- Data derived from a subject's records (an attestation's disclosed claims, gateway/vault.py) is
-- sealed under a data key per (subject, domain); erasing the subject's records of a domain deletes
-- that key, so what was derived from them can never be read again (crypto-shredding).
-- Idempotent like 0001 (create_sqlite_schema runs every file again).
CREATE TABLE IF NOT EXISTS derived_keys (
    subject_ref TEXT NOT NULL,
    domain TEXT NOT NULL,
    kek_id TEXT NOT NULL,
    wrapped_key BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (subject_ref, domain)
);
