-- Predicate evaluations per (bank, record, purpose, period) (gateway/attestations/budget.py): the
-- issue unit of work adds an attestation's evaluations with one conditional upsert, so the
-- catalog's evaluation_budget holds under concurrency and across replicas.
CREATE TABLE evaluation_budgets (
    grantee TEXT NOT NULL,
    domain TEXT NOT NULL,
    record_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    period_start TEXT NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (grantee, domain, record_id, purpose, period_start)
);
-- Pending requests per (owner, bank), counted before each new request (gateway/consents.py).
CREATE INDEX consent_requests_pending ON consent_requests (owner, grantee, state);
