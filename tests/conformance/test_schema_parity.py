"""The SQLite and PostgreSQL migrations build the same tables.

Each dialect's migrations are written by hand (``gateway/persistence/migrations/<dialect>``), and
the stores
run the same SQL on both, so the schemas must agree: tables, column names, which columns may be
NULL, primary keys and the named indexes (with their columns and uniqueness). Types differ on
purpose (BLOB/BYTEA, INTEGER/BIGINT, flags INTEGER/BOOLEAN) and are not compared. sqlite-utils
introspects the SQLite side; the PostgreSQL side comes from its catalogs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import sqlite_utils

from attestgate.gateway.persistence.migrate import migrate
from attestgate.gateway.persistence.postgres import PgConnection
from attestgate.gateway.persistence.storage import connect

NOW = datetime(2026, 1, 2, tzinfo=UTC)

Index = tuple[str, bool, tuple[str, ...]]


@dataclass(frozen=True)
class Table:
    """What both dialects must agree on for one table."""

    not_null: dict[str, bool]
    primary_key: tuple[str, ...]
    indexes: frozenset[Index]


# Intended differences: PostgreSQL's replica coordination row; fx_rates' rowid, implicit on SQLite
# and an explicit column on PostgreSQL; SQLite's own AUTOINCREMENT bookkeeping.
POSTGRES_ONLY = {"audit_coord"}
SQLITE_ONLY = {"sqlite_sequence"}
IMPLICIT_ROWID = {"fx_rates"}


def sqlite_tables(db: sqlite_utils.Database) -> dict[str, Table]:
    """Every table of a SQLite database, as sqlite-utils introspects it."""
    found = {}
    for table in db.tables:
        not_null = {c.name: bool(c.notnull or c.is_pk) for c in table.columns}
        if table.name in IMPLICIT_ROWID:
            not_null["rowid"] = True
        indexes = frozenset(
            (index.name, bool(index.unique), tuple(index.columns))
            for index in table.indexes
            if index.origin == "c"  # CREATE INDEX, not a PRIMARY KEY or UNIQUE constraint
        )
        found[table.name] = Table(not_null, tuple(table.pks), indexes)
    return found


_PG_COLUMNS = """
    SELECT table_name, column_name, is_nullable = 'NO' FROM information_schema.columns
    WHERE table_schema = current_schema()"""
_PG_PRIMARY_KEYS = """
    SELECT t.relname, a.attname FROM pg_index x
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    JOIN unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
    WHERE n.nspname = current_schema() AND x.indisprimary ORDER BY t.relname, k.ord"""
_PG_INDEXES = """
    SELECT t.relname, i.relname, x.indisunique,
        ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
              JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord)
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = current_schema()
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"""


def postgres_tables(conn: PgConnection) -> dict[str, Table]:
    """Every table of the connection's schema, from the PostgreSQL catalogs."""
    not_null: dict[str, dict[str, bool]] = {}
    for table, column, required in conn.execute(_PG_COLUMNS).fetchall():
        not_null.setdefault(table, {})[column] = required
    keys: dict[str, list[str]] = {}
    for table, column in conn.execute(_PG_PRIMARY_KEYS).fetchall():
        keys.setdefault(table, []).append(column)
    indexes: dict[str, set[Index]] = {}
    for table, name, unique, columns in conn.execute(_PG_INDEXES).fetchall():
        indexes.setdefault(table, set()).add((name, unique, tuple(columns)))
    return {
        table: Table(columns, tuple(keys.get(table, ())), frozenset(indexes.get(table, ())))
        for table, columns in not_null.items()
    }


@pytest.mark.postgres
def test_both_dialects_build_the_same_tables(pg_url: str, tmp_path: Path) -> None:
    lite = connect(tmp_path / "parity.db")
    migrate(lite, now=NOW)
    sqlite = sqlite_tables(sqlite_utils.Database(lite))
    lite.close()
    pg = PgConnection(psycopg.connect(pg_url, autocommit=True))
    migrate(pg, now=NOW)
    postgres = postgres_tables(pg)
    pg.close()
    assert set(sqlite) - SQLITE_ONLY == set(postgres) - POSTGRES_ONLY
    assert len(sqlite) > 15  # every table of the gateway, not an empty database
    differ = {
        name: (sqlite[name], postgres[name])
        for name in set(sqlite) & set(postgres)
        if sqlite[name] != postgres[name]
    }
    assert differ == {}
