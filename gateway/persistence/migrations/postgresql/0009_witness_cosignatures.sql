-- Witness cosignatures of the audit log's checkpoints (gateway/witness/collector.py, issue 18
-- item 4): one row per checkpoint size and witness key, the verified signature line
-- (c2sp.org/tlog-cosignature) as the witness returned it. Rows are only added; every replica
-- serves the checkpoint with the lines stored for its size.
CREATE TABLE audit_cosignatures (
    size BIGINT NOT NULL,
    witness TEXT COLLATE "C" NOT NULL,
    key_id TEXT COLLATE "C" NOT NULL,
    line TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (size, witness, key_id)
);
CREATE INDEX audit_cosignatures_by_witness ON audit_cosignatures (witness, size);
