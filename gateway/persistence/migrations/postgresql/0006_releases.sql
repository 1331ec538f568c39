-- Releases of what a redemption consumed (gateway/persistence/ledger.py, issue 19): the pledge of
-- an asset once its loan is repaid, or the income a cancelled FX purchase consumed. One row per
-- released attestation (a second release answers this one); the domain and record are the
-- attestation's. log_index is the release event's, set in the batch that appends it.
CREATE TABLE releases (
    jti TEXT PRIMARY KEY REFERENCES attestations (jti),
    consumption_kind TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    released_by_role TEXT NOT NULL,
    released_by TEXT NOT NULL,
    released_at TEXT NOT NULL,
    log_index BIGINT NOT NULL DEFAULT -1
);
