-- Data derived from a subject's records (an attestation's disclosed claims, gateway/vault.py) is
-- sealed under a data key per (subject, domain); erasing the subject's records of a domain deletes
-- that key, so what was derived from them can never be read again (crypto-shredding).
CREATE TABLE derived_keys (
    subject_ref TEXT NOT NULL,
    domain TEXT NOT NULL,
    kek_id TEXT NOT NULL,
    wrapped_key BYTEA NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (subject_ref, domain)
);
