-- Consented parameter bounds (issue 20; consent/bounds.py): a consent request's requested bounds,
-- one row per request that has any ({"amount": 5000000, "currency": "USD"}, canonical JSON). A
-- consent's bounds are signed in its artefact (consents.artefact_jws) and read from there.
CREATE TABLE consent_request_bounds (
    request_id TEXT COLLATE "C" PRIMARY KEY,
    bounds TEXT NOT NULL
);
