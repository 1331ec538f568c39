-- Releases of what a redemption consumed (gateway/persistence/ledger.py, issue 19): the pledge of
-- an asset once its loan is repaid, or the income a cancelled FX purchase consumed. One row per
-- released attestation (a second release answers this one); the domain and record are the
-- attestation's. log_index is the release event's, set in the batch that appends it.
-- Idempotent like 0001 (create_sqlite_schema runs every file again).
CREATE TABLE IF NOT EXISTS releases (
    jti TEXT PRIMARY KEY REFERENCES attestations (jti),
    consumption_kind TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    released_by_role TEXT NOT NULL,
    released_by TEXT NOT NULL,
    released_at TEXT NOT NULL,
    log_index INTEGER NOT NULL DEFAULT -1
);
