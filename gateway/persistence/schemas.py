"""Schemas of their own on one PostgreSQL server: a DSN bound to a schema, and throwaway schemas.

A gateway (or a test, or a benchmark) can share a server with others by living in a schema of
its own: libpq's ``options=-c search_path=...`` makes every session of the DSN resolve the
gateway's tables there. ``fresh_schema`` creates an empty one and drops it afterwards, which is
how the conformance, crash and replica tests and the PostgreSQL benchmark stay out of each
other's way.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, quote, urlencode, urlparse, urlunparse

import psycopg


def with_search_path(dsn: str, schema: str) -> str:
    """``dsn`` whose sessions use ``schema`` (libpq ``options=-c search_path=...``); the sessions
    are also named after the schema (``application_name``), so they can be found and ended."""
    parsed = urlparse(dsn)
    query = [(k, v) for k, v in parse_qsl(parsed.query) if k not in ("options", "application_name")]
    query += [("options", f"-c search_path={schema}"), ("application_name", schema)]
    return urlunparse(parsed._replace(query=urlencode(query, quote_via=quote)))


@contextmanager
def fresh_schema(server_dsn: str, prefix: str = "attestgate_test") -> Iterator[str]:
    """A ``postgresql://`` URL of a new, empty schema of its own; dropped on exit."""
    schema = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"'.encode())
    try:
        yield with_search_path(server_dsn, schema)
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as admin:
            # Sessions left behind (a failed test, a killed writer) must not block the drop.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND application_name = %s",
                (schema,),
            )
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE'.encode())
