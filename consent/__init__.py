"""The consent core: who may learn what, for which purpose, from which record. No grpc here.

Modules:

- ``consent.model``: ids, states, ``ConsentRequest``, ``Consent`` (the artefact), ``ConsentEvent``.
- ``consent.machine``: the request and consent state machines as pure functions.
- ``consent.catalog``: domains, fields, predicates and purposes, shipped as TOML data files.
- ``consent.predicates`` / ``consent.builtin_predicates``: the predicate registry and built-ins.
  What a predicate is (types, the ``predicate`` decorator): ``consent.predicate_types``.
- ``consent.fx``, ``consent.currencies``: exact FX conversion, ISO 4217 minor units.
- ``consent.policy``: minimum sufficiency (disclosure, request limits, record validation).
- ``consent.artefact``: the signed consent artefact (JWS ES256) and its hash.
- ``consent.store`` / ``consent.sql_store``: storage Protocol and in-memory store; the SQL store
  (SQLite and PostgreSQL, over ``audit.sql.Connection``).
"""
