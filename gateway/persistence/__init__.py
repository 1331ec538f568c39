"""The gateway's persistence: storage on SQLite and PostgreSQL, ``--db`` URLs, versioned migrations,
the sealed record vault and the attestation ledger.

Store code speaks ``audit.sql.Connection`` (``?`` placeholders, bytes as ``bytes``); SQLite
connections implement it natively, ``persistence.postgres.PgConnection`` adapts psycopg 3. The
storage objects the gateway runs on are in ``persistence.storage`` (SQLite) and
``persistence.pg_storage`` (PostgreSQL), chosen by ``persistence.storage.open_storage``; what
both implement and share (the ``Storage`` protocol, sequenced writes) is in
``persistence.backend``.
"""
