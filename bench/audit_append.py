"""Benchmark 2a: durable group-commit appends through ``audit.sequencer.Sequencer`` vs raw SQLite.

For each number of concurrent submitters, the real sequencer (its writer thread, the Merkle
log, canonical JSON, checkpoints every second) appends one audit event per unit of work; the
batch sizes it formed are recorded through its ``on_commit`` hook. Then, in the same run, plain
``INSERT``s of the very same event bytes into a bare table are committed in exactly those
batch sizes on one connection. Both use WAL with ``synchronous=FULL`` (durable on COMMIT) on the
same file system. Target: the sequencer reaches >= 50 % of the raw rate.
"""

from __future__ import annotations

import sqlite3
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from attestgate.audit.events import (
    ActorRole,
    AuditEvent,
    Decision,
    EventType,
    Pseudonym,
    canonical_json,
)
from attestgate.audit.sequencer import Sequencer, SequencerSettings, Tx
from attestgate.audit.sql import Connection, begin_immediate
from attestgate.audit.tree import AuditLog
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.gateway.persistence.migrate import create_sqlite_schema
from attestgate.protocol.note import NoteSigner
from bench.common import Settings, progress, verdict

TARGET = 0.50
"""The sequencer reaches at least this fraction of raw inserts of the same rows."""
GATEWAY_SUBMITTERS = GatewayConfig().max_workers
"""The most units of work one gateway process has in flight: its RPC worker threads submit them.
Levels up to this count are the target's; larger ones are a stress test, shown for information."""


def connect(path: Path) -> sqlite3.Connection:
    """The pragmas of the gateway's SQLite connections: WAL, durable on COMMIT."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def sample_event(i: int) -> AuditEvent:
    """A typical ``attestation.issued`` event (pseudonymous subject, ids, claim names)."""
    return AuditEvent(
        type=EventType.ATTESTATION_ISSUED,
        time=datetime(2026, 1, 15, 12, 0, tzinfo=UTC) + timedelta(milliseconds=i),
        actor_role=ActorRole.BANK,
        actor_id="bank-bench",
        subject=Pseudonym(f"ps_{i:032x}"),
        objects={"consent_id": f"cs_{i:016x}", "attestation_jti": f"jti{i:019x}"},
        decision=Decision.ALLOW,
        claims=("in_good_standing", "name", "status"),
    )


@dataclass(frozen=True)
class AppendRun:
    """One measured run: events per second and the batch sizes that were committed."""

    events: int
    seconds: float
    batches: tuple[int, ...]

    @property
    def rate(self) -> float:
        """Durable events per second."""
        return self.events / self.seconds


def run_sequencer(
    path: Path, threads: int, units: int, settings: SequencerSettings | None = None
) -> AppendRun:
    """``threads`` submitters each wait for ``units // threads`` one-event units of work on the
    SQLite file ``path`` (``settings``: the sequencer's batching knobs, default the gateway's)."""
    with connect(path) as conn:
        create_sqlite_schema(conn)
    return run_sequencer_on(lambda: connect(path), threads, units, settings=settings)


def run_sequencer_on(
    open_conn: Callable[[], Connection],
    threads: int,
    units: int,
    *,
    settings: SequencerSettings | None = None,
    begin: Callable[[Connection], None] = begin_immediate,
) -> AppendRun:
    """``run_sequencer`` on any migrated database: ``open_conn`` opens a connection to it and
    ``begin`` opens a batch transaction (PostgreSQL:
    ``gateway.persistence.postgres.lock_batch``)."""
    log = AuditLog(open_conn, signer=NoteSigner.generate("bench.local/log"))
    sizes: list[int] = []
    last = [0]

    def on_commit(next_index: int) -> None:
        if next_index > last[0]:  # -1: a checkpoint-only batch
            sizes.append(next_index - last[0])
            last[0] = next_index

    sequencer = Sequencer(
        open_conn,
        log,
        settings=settings or SequencerSettings(),
        now=lambda: datetime.now(UTC),
        on_commit=on_commit,
        begin=begin,
    )
    per_thread = units // threads
    events = [sample_event(i) for i in range(per_thread * threads)]

    # Every submitter is started and waiting before the clock starts: creating hundreds of
    # threads is not part of appending (the gateway's worker threads exist before any call).
    ready = threading.Barrier(threads + 1)

    def submitter(k: int) -> None:
        ready.wait()
        for event in events[k * per_thread : (k + 1) * per_thread]:
            sequencer.submit(_emitter(event))

    sequencer.start()
    workers = [threading.Thread(target=submitter, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    ready.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - start
    sequencer.stop()
    return AppendRun(len(events), seconds, tuple(sizes))


def _emitter(event: AuditEvent) -> Callable[[Tx], None]:
    def unit(tx: Tx) -> None:
        tx.emit(event)

    return unit


def _batch_ranges(batches: tuple[int, ...]) -> list[tuple[int, int]]:
    ranges, index = [], 0
    for size in batches:
        ranges.append((index, index + size))
        index += size
    return ranges


def commit_batches(
    conn: Connection,
    batches: list[list[tuple[str, list[tuple[Any, ...]]]]],
    begin: str = "BEGIN IMMEDIATE",
) -> float:
    """Seconds to commit ``batches`` (each: statements with their rows) one transaction each."""
    start = time.perf_counter()
    for statements in batches:
        conn.execute(begin)
        for sql, rows in statements:
            conn.executemany(sql, rows)
        conn.execute("COMMIT")
    return time.perf_counter() - start


def run_bare(path: Path, batches: tuple[int, ...]) -> AppendRun:
    """The same event bytes ``INSERT``ed into a bare table, committed in exactly ``batches``."""
    sql = "INSERT INTO bare_events (idx, data) VALUES (?, ?)"
    work = [
        [(sql, [(i, canonical_json(sample_event(i))) for i in range(lo, hi)])]
        for lo, hi in _batch_ranges(batches)
    ]
    with connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bare_events (idx INTEGER PRIMARY KEY, data BLOB)")
        seconds = commit_batches(conn, work)
    return AppendRun(sum(batches), seconds, batches)


def same_rows_work(
    source: Connection, batches: tuple[int, ...]
) -> list[list[tuple[str, list[tuple[Any, ...]]]]]:
    """The leaf and Merkle-node rows stored in ``source``, as ``INSERT``s grouped in ``batches``
    (a node goes with the leaf that completes it)."""
    leaves = source.execute("SELECT idx, data, leaf_hash FROM audit_leaves ORDER BY idx")
    leaf_rows = [tuple(row) for row in leaves.fetchall()]
    node_rows = source.execute("SELECT level, idx, hash FROM audit_nodes").fetchall()
    by_leaf: dict[int, list[tuple[int, int, bytes]]] = {}
    for level, idx, digest in node_rows:
        by_leaf.setdefault(((idx + 1) << level) - 1, []).append((level, idx, digest))
    leaf_sql = "INSERT INTO audit_leaves (idx, data, leaf_hash) VALUES (?, ?, ?)"
    node_sql = "INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)"
    return [
        [
            (leaf_sql, leaf_rows[lo:hi]),
            (node_sql, [node for i in range(lo, hi) for node in by_leaf.get(i, [])]),
        ]
        for lo, hi in _batch_ranges(batches)
    ]


def run_same_rows(source: Path, path: Path, batches: tuple[int, ...]) -> AppendRun:
    """The rows the sequencer stored (leaves and Merkle nodes, read back from ``source``),
    ``INSERT``ed into the real audit schema (append-only triggers included) in ``batches``."""
    with connect(source) as conn:
        work = same_rows_work(conn, batches)
    with connect(path) as conn:
        create_sqlite_schema(conn)
        seconds = commit_batches(conn, work)
    return AppendRun(sum(batches), seconds, batches)


def _round(work_dir: Path, threads: int, units: int, k: int) -> dict[str, AppendRun]:
    seq_db = work_dir / f"seq-{threads}-{k}.db"
    seq = run_sequencer(seq_db, threads, units)
    same = run_same_rows(seq_db, work_dir / f"rows-{threads}-{k}.db", seq.batches)
    bare = run_bare(work_dir / f"bare-{threads}-{k}.db", seq.batches)
    # What-if (a setting): hold each batch open 5 ms for late joiners (audit_batch_wait_ms = 5).
    eager = run_sequencer(
        work_dir / f"eager-{threads}-{k}.db",
        threads,
        units,
        SequencerSettings(max_wait=timedelta(milliseconds=5)),
    )
    return {"seq": seq, "same": same, "bare": bare, "eager": eager}


def _level(settings: Settings, work_dir: Path, threads: int) -> dict[str, Any]:
    # One submitter waits one commit per event: keep the small levels short.
    units = max(threads, min(settings.audit_units, 300 * threads))
    progress(f"audit append: {units} events from {threads} submitter thread(s)")
    rounds = [_round(work_dir, threads, units, k) for k in range(settings.audit_repeats)]

    def median(kind: str, of: Callable[[AppendRun], float]) -> float:
        # Rounds alternate the variants; the median round is robust to a noisy neighbour.
        return statistics.median(of(r[kind]) for r in rounds)

    rate = {kind: median(kind, lambda run: run.rate) for kind in rounds[0]}
    batch = {kind: median(kind, lambda run: run.events / len(run.batches)) for kind in rounds[0]}
    ratio = rate["seq"] / rate["same"]
    in_range = threads <= GATEWAY_SUBMITTERS
    return {
        "submitters": threads,
        "events": units - units % threads,
        "rounds": len(rounds),
        "mean_batch": round(batch["seq"], 1),
        "sequencer_events_per_s": round(rate["seq"]),
        "same_rows_events_per_s": round(rate["same"]),
        "bare_events_per_s": round(rate["bare"]),
        "ratio": round(ratio, 3),
        "ratio_vs_bare": round(rate["seq"] / rate["bare"], 3),
        "target_level": in_range,
        "holds": ratio >= TARGET if in_range else None,
        "what_if_max_wait_5ms": {
            "sequencer_events_per_s": round(rate["eager"]),
            "mean_batch": round(batch["eager"], 1),
        },
    }


def run_audit_append(settings: Settings, work_dir: Path) -> dict[str, Any]:
    """Benchmark 2a at each submitter count of ``settings``."""
    levels = [_level(settings, work_dir, threads) for threads in settings.audit_threads]
    return {
        "settings": {
            "journal_mode": "WAL",
            "synchronous": "FULL",
            "sequencer": "gateway defaults: max_batch 256, max_wait 0 (natural group commit), "
            "checkpoint every 1 s",
            "same_rows": "the leaf and node rows the sequencer wrote, into the audit schema "
            "(append-only triggers on), in the sequencer's batch sizes, one connection",
            "bare": "the same event bytes into a bare (idx, data) table, same batch sizes",
        },
        "levels": levels,
        "targets": {
            "sequencer_vs_same_rows": {
                "min_ratio": min(
                    (level["ratio"] for level in levels if level["target_level"]), default=None
                ),
                "target": f">= {TARGET} at 1-{GATEWAY_SUBMITTERS} submitters",
                "holds": all(level["holds"] for level in levels if level["target_level"]),
            }
        },
    }


def _mark(level: dict[str, Any]) -> str:
    return verdict(level["holds"]) if level["target_level"] else "stress, info"


def append_rows(data: dict[str, Any]) -> list[list[object]]:
    """Table rows: submitters, mean batch, sequencer/s, same rows/s, bare/s, ratio, what-if."""
    return [
        [
            level["submitters"],
            level["mean_batch"],
            level["sequencer_events_per_s"],
            level["same_rows_events_per_s"],
            level["bare_events_per_s"],
            f"{level['ratio']:.2f} ({_mark(level)})",
            level["what_if_max_wait_5ms"]["sequencer_events_per_s"],
        ]
        for level in data["levels"]
    ]
