-- The asset history index (GetAssetHistory, issue 19 item 4; gateway/usecases/trail.py): which
-- log entries are about which asset, a record of a domain whose record ids are public asset ids
-- (the leaves name it in clear). holder is the subject pseudonym a version (record.put,
-- record.transferred) gave the asset; NULL on the other events (redeemed, released, erased).
CREATE TABLE asset_index (
    domain TEXT NOT NULL,
    record_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    holder TEXT,
    PRIMARY KEY (domain, record_id, idx)
);
CREATE INDEX asset_index_holder ON asset_index (holder, domain);
-- Index the log written before this version (its erasures are not backfilled: a record.erased
-- leaf does not name the asset).
INSERT INTO asset_index (domain, record_id, idx, holder)
SELECT e ->> 'domain', e ->> 'record_id', idx,
       CASE WHEN t IN ('record.put', 'record.transferred') THEN s END
FROM (
    SELECT idx, j -> 'objects' AS e, j ->> 'type' AS t, j ->> 'subject' AS s,
           j ->> 'decision' AS d
    FROM (SELECT idx, convert_from(data, 'UTF8')::jsonb AS j FROM audit_leaves) AS leaves
) AS events
WHERE t IN ('record.put', 'record.transferred', 'attestation.redeemed', 'pledge.released')
  AND d = 'allow'
  AND e ->> 'record_id' IS NOT NULL
ON CONFLICT DO NOTHING;
