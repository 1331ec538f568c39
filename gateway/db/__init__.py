"""The gateway's database layer: ``--db`` URLs, PostgreSQL adapters, versioned migrations.

Store code speaks ``audit.sql.Connection`` (``?`` placeholders, bytes as ``bytes``); SQLite
connections implement it natively, ``gateway.db.postgres.PgConnection`` adapts psycopg 3. The
storage objects the gateway runs on are in ``gateway.storage`` (SQLite) and
``gateway.db.pg_storage`` (PostgreSQL), chosen by ``gateway.storage.open_storage``; what both
implement and share (the ``Storage`` protocol, sequenced writes) is in ``gateway.db.backend``.
"""
