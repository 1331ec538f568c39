-- Erasure is per (subject, domain): a provider erases only its own domains' records
-- (gateway/records.py, gateway/vault.py). An erasure from before covered every domain: '*'.
-- Idempotent like 0001 (create_sqlite_schema runs every file again): 0001 re-creates an empty
-- erasures table, which this file copies (nothing) and drops.
CREATE TABLE IF NOT EXISTS domain_erasures (
    subject_ref TEXT NOT NULL,
    domain TEXT NOT NULL,
    erased_at TEXT NOT NULL,
    records INTEGER NOT NULL,
    PRIMARY KEY (subject_ref, domain)
);
INSERT OR IGNORE INTO domain_erasures (subject_ref, domain, erased_at, records)
    SELECT subject_ref, '*', erased_at, records FROM erasures;
DROP TABLE IF EXISTS erasures;
