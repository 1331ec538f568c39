"""Benchmark 2c (information, no target): group commit on PostgreSQL vs raw inserts there.

The same measurement as benchmark 2a (``bench.audit_append``), on the multi-replica backend:
the real sequencer with the gateway's PostgreSQL batch transaction (``lock_batch``: BEGIN and the
coordination row ``FOR UPDATE``), then the rows it stored, ``INSERT``ed by one connection into
a second schema in exactly its batch sizes (``BEGIN`` / ``executemany`` / ``COMMIT``, pipelined
by psycopg). Each side gets a fresh, migrated schema on the server of
``ATTESTGATE_BENCH_PG_DSN`` (default: the test server), dropped afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg

from attestgate.audit.sql import Connection
from attestgate.gateway.persistence.migrate import migrate
from attestgate.gateway.persistence.postgres import PgConnection, lock_batch
from attestgate.gateway.persistence.schemas import fresh_schema
from bench.audit_append import AppendRun, commit_batches, run_sequencer_on, same_rows_work
from bench.common import Settings, progress

DSN_ENV = "ATTESTGATE_BENCH_PG_DSN"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PG_LEVELS = (1, 8, 32)
"""Submitters: one, a few, and the gateway's worker-thread count."""


def _opener(url: str) -> Callable[[], Connection]:
    def open_conn() -> Connection:
        return PgConnection(psycopg.connect(url, autocommit=True))

    return open_conn


def _migrated(url: str) -> None:
    conn = PgConnection(psycopg.connect(url, autocommit=True))
    try:
        migrate(conn, now=datetime.now(UTC))
    finally:
        conn.close()


def _same_rows(source_url: str, target_url: str, batches: tuple[int, ...]) -> AppendRun:
    source, target = _opener(source_url)(), _opener(target_url)()
    try:
        work = same_rows_work(source, batches)
        seconds = commit_batches(target, work, begin="BEGIN")
    finally:
        source.close()
        target.close()
    return AppendRun(sum(batches), seconds, batches)


def _level(dsn: str, threads: int, units: int) -> dict[str, Any]:
    progress(f"audit append on PostgreSQL: {units} events from {threads} submitter thread(s)")
    with (
        fresh_schema(dsn, "attestgate_bench") as seq_url,
        fresh_schema(dsn, "attestgate_bench") as raw_url,
    ):
        _migrated(seq_url)
        _migrated(raw_url)
        seq = run_sequencer_on(_opener(seq_url), threads, units, begin=lock_batch)
        same = _same_rows(seq_url, raw_url, seq.batches)
    return {
        "submitters": threads,
        "events": seq.events,
        "mean_batch": round(seq.events / len(seq.batches), 1),
        "sequencer_events_per_s": round(seq.rate),
        "same_rows_events_per_s": round(same.rate),
        "ratio": round(seq.rate / same.rate, 3),
    }


def run_audit_append_pg(settings: Settings) -> dict[str, Any]:
    """Benchmark 2c at 1, 8 and 32 submitters (one round each)."""
    dsn = os.environ.get(DSN_ENV) or DEFAULT_DSN
    server = psycopg.connect(dsn, autocommit=True)
    try:
        version = str(server.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        fsync = str(server.execute("SHOW synchronous_commit").fetchone()[0])  # type: ignore[index]
    finally:
        server.close()
    levels = [
        _level(dsn, threads, max(threads, min(settings.audit_units, 300 * threads)))
        for threads in PG_LEVELS
    ]
    return {
        "settings": {
            "server_version": version,
            "synchronous_commit": fsync,
            "sequencer": "gateway defaults, batches begin with lock_batch (row lock FOR UPDATE)",
            "same_rows": "the rows the sequencer stored, one connection, BEGIN / executemany "
            "(pipelined) / COMMIT in the sequencer's batch sizes, into a migrated schema",
        },
        "levels": levels,
    }


def append_pg_rows(data: dict[str, Any]) -> list[list[object]]:
    """Table rows: submitters, mean batch, sequencer/s, same rows/s, ratio."""
    return [
        [
            level["submitters"],
            level["mean_batch"],
            level["sequencer_events_per_s"],
            level["same_rows_events_per_s"],
            level["ratio"],
        ]
        for level in data["levels"]
    ]
