-- The asset history index (GetAssetHistory, issue 19 item 4; gateway/usecases/trail.py): which
-- log entries are about which asset, a record of a domain whose record ids are public asset ids
-- (the leaves name it in clear). holder is the subject pseudonym a version (record.put,
-- record.transferred) gave the asset; NULL on the other events (redeemed, released, erased).
-- Idempotent like 0001 (create_sqlite_schema runs every file again).
CREATE TABLE IF NOT EXISTS asset_index (
    domain TEXT NOT NULL,
    record_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    holder TEXT,
    PRIMARY KEY (domain, record_id, idx)
);
CREATE INDEX IF NOT EXISTS asset_index_holder ON asset_index (holder, domain);
-- Index the log written before this version, once (its erasures are not backfilled: a
-- record.erased leaf does not name the asset). Leaves that are not JSON (none the gateway writes)
-- are skipped.
INSERT OR IGNORE INTO asset_index (domain, record_id, idx, holder)
SELECT json_extract(j, '$.objects.domain'), json_extract(j, '$.objects.record_id'), idx,
       CASE WHEN json_extract(j, '$.type') IN ('record.put', 'record.transferred')
            THEN json_extract(j, '$.subject') END
FROM (SELECT idx, CASE WHEN json_valid(CAST(data AS TEXT)) THEN CAST(data AS TEXT) END AS j
      FROM audit_leaves WHERE NOT EXISTS (SELECT 1 FROM asset_index)) AS leaves
WHERE j IS NOT NULL
  AND json_extract(j, '$.type') IN
      ('record.put', 'record.transferred', 'attestation.redeemed', 'pledge.released')
  AND json_extract(j, '$.decision') = 'allow'
  AND json_extract(j, '$.objects.record_id') IS NOT NULL;
