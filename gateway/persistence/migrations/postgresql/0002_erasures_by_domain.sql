-- Erasure is per (subject, domain): a provider erases only its own domains' records
-- (gateway/records.py, gateway/vault.py). An erasure from before covered every domain: '*'.
CREATE TABLE domain_erasures (
    subject_ref TEXT NOT NULL,
    domain TEXT NOT NULL,
    erased_at TEXT NOT NULL,
    records BIGINT NOT NULL,
    PRIMARY KEY (subject_ref, domain)
);
INSERT INTO domain_erasures (subject_ref, domain, erased_at, records)
    SELECT subject_ref, '*', erased_at, records FROM erasures;
DROP TABLE erasures;
