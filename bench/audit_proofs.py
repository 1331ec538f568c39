"""Benchmark 2b: proof time and peak memory of the audit log at 10^4, 10^5 and 10^6 entries.

Each size runs in its own interpreter (``python -m bench.audit_proofs SIZE DIR``) so that its
peak RSS (``VmHWM``, see ``peak_rss_kib``) is the peak of that size alone. The child builds the
log with ``AuditLog.append`` in large batches (one durable transaction each), then times RFC 9162
inclusion proofs
(random leaf, full tree) and consistency proofs (random old size, full tree) on a fresh reader
connection, as the AuditService does. Targets: p50 < 1 ms at 10^6; peak RSS grows < 50 MB from
10^5 to 10^6 entries.
"""

from __future__ import annotations

import json
import random
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from attestgate.audit.tree import AuditLog
from attestgate.gateway.persistence.migrate import create_sqlite_schema
from bench.common import Settings, latency_summary_ms, progress, verdict

BUILD_BATCH = 10_000
P50_TARGET_MS = 1.0
RSS_GROWTH_TARGET_MB = 50.0
_LEAF = (
    '{"actor_id":"bank-bench","actor_role":"bank","claims":["in_good_standing","name","status"],'
    '"decision":"allow","objects":{"attestation_jti":"%019x","consent_id":"cs_%016x"},'
    '"reason":null,"subject":"ps_%032x","time":"2026-01-15T12:00:00.000Z",'
    '"type":"attestation.issued","v":1}'
)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def build_log(path: Path, size: int) -> float:
    """Append ``size`` typical event leaves in batches of ``BUILD_BATCH``; returns leaves/s."""
    conn = _connect(path)
    create_sqlite_schema(conn)
    log = AuditLog(conn)
    start = time.perf_counter()
    for first in range(0, size, BUILD_BATCH):
        leaves = [
            (_LEAF % (i, i, i)).encode() for i in range(first, min(first + BUILD_BATCH, size))
        ]
        conn.execute("BEGIN IMMEDIATE")
        log.append(conn, leaves)
        conn.execute("COMMIT")
        log.commit_pending()
    seconds = time.perf_counter() - start
    conn.close()
    return size / seconds


def time_proofs(path: Path, size: int, samples: int) -> dict[str, Any]:
    """p50/p99 of inclusion and consistency proofs against the full tree, fresh connection."""
    conn = _connect(path)
    log = AuditLog(conn)
    rng = random.Random(size)  # sampling indices, not security: seeded for repeatability
    inclusion, consistency = [], []
    for _ in range(samples):
        index = rng.randrange(size)
        start = time.perf_counter()
        log.inclusion_proof(conn, index, size)
        inclusion.append(time.perf_counter() - start)
        old = rng.randrange(1, size)
        start = time.perf_counter()
        log.consistency_proof(conn, old, size)
        consistency.append(time.perf_counter() - start)
    conn.close()
    return {
        "inclusion": latency_summary_ms(inclusion),
        "consistency": latency_summary_ms(consistency),
    }


def peak_rss_kib() -> int:
    """This process's peak RSS in KiB: ``VmHWM`` where /proc has it, else ``ru_maxrss``.

    On Linux ``ru_maxrss`` survives fork + exec, so a child started by a 100 MB parent reports
    at least 100 MB; ``VmHWM`` belongs to the new address space and starts from zero.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure_size(path: Path, size: int, samples: int) -> dict[str, Any]:
    """Build, time, and report this process's peak RSS, and the peak before the log was
    touched (interpreter and imports), to tell the log's share from the interpreter's."""
    before_kib = peak_rss_kib()
    rate = build_log(path, size)
    proofs = time_proofs(path, size, samples)
    peak_kib = peak_rss_kib()
    return {
        "entries": size,
        "build_leaves_per_s": round(rate),
        **proofs,
        "peak_rss_mb": round(peak_kib / 1024, 1),
        "peak_rss_before_log_mb": round(before_kib / 1024, 1),
        "db_mb": round(sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20),
    }


def run_audit_proofs(settings: Settings, work_dir: Path) -> dict[str, Any]:
    """Benchmark 2b: one child interpreter per size of ``settings.proof_sizes``."""
    sizes = []
    for size in settings.proof_sizes:
        progress(f"audit proofs: building a log of {size:,} entries in a child process")
        db = work_dir / f"log-{size}.db"
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.audit_proofs",
                str(size),
                str(db),
                str(settings.proof_samples),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        sizes.append(json.loads(out.stdout))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    largest, second = sizes[-1], sizes[-2]
    growth = largest["peak_rss_mb"] - second["peak_rss_mb"]
    p50s = {kind: largest[kind]["p50_ms"] for kind in ("inclusion", "consistency")}
    return {
        "settings": {"build_batch": BUILD_BATCH, "samples": settings.proof_samples},
        "sizes": sizes,
        "targets": {
            "proof_p50_ms_at_largest": {
                "entries": largest["entries"],
                "value": p50s,
                "target": f"< {P50_TARGET_MS}",
                "holds": all(v < P50_TARGET_MS for v in p50s.values()),
            },
            "peak_rss_growth_mb": {
                "from_to": [second["entries"], largest["entries"]],
                "value": round(growth, 1),
                "target": f"< {RSS_GROWTH_TARGET_MB}",
                "holds": growth < RSS_GROWTH_TARGET_MB,
            },
        },
    }


def proof_rows(data: dict[str, Any]) -> list[list[object]]:
    """Table rows: entries, inclusion p50/p99, consistency p50/p99, peak RSS."""
    rows: list[list[object]] = [
        [
            s["entries"],
            s["inclusion"]["p50_ms"],
            s["inclusion"]["p99_ms"],
            s["consistency"]["p50_ms"],
            s["consistency"]["p99_ms"],
            s["peak_rss_mb"],
            s["build_leaves_per_s"],
        ]
        for s in data["sizes"]
    ]
    targets = data["targets"]
    rows.append(
        [
            "targets",
            verdict(targets["proof_p50_ms_at_largest"]["holds"]),
            "",
            "",
            "",
            f"+{targets['peak_rss_growth_mb']['value']} MB "
            f"({verdict(targets['peak_rss_growth_mb']['holds'])})",
            "",
        ]
    )
    return rows


if __name__ == "__main__":
    _size, _db = int(sys.argv[1]), Path(sys.argv[2])
    _samples = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    print(json.dumps(measure_size(_db, _size, _samples)))
