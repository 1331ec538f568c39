"""What every benchmark shares: run settings, statistics, progress, JSON results, the machine."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

RESULTS_DIR = Path(__file__).resolve().parent / "results"
"""Where ``python -m bench`` writes ``<name>.json`` (and the plot)."""


@dataclass(frozen=True)
class Settings:
    """Sizes and durations of one run: ``full()`` (``make bench``) or ``quick()``."""

    mode: str
    rpc_seconds: float
    rpc_warmup: float
    processes: int
    concurrency: int
    sweep_fractions: tuple[float, ...]
    sweep_seconds: float
    audit_threads: tuple[int, ...]
    audit_units: int
    audit_repeats: int
    proof_sizes: tuple[int, ...]
    proof_samples: int
    crypto_seconds: float
    variant_rounds: int = 1
    """rpc: rounds of the sync vs grpc.aio comparison (the order alternates between rounds)."""
    throughput_rounds: int = 1
    concurrency_levels: tuple[int, ...] = (8, 32)
    """sweep: calls in flight of the closed-loop concurrency sweep (benchmark 1c)."""
    concurrency_seconds: float = 2.0
    """sweep: measured seconds per level and call."""
    """rpc: rounds of no-op / issue / redeem (the no-op and issue order alternates); the ratio
    of each round pairs measurements taken a minute apart, and the median round counts."""

    @classmethod
    def full(cls) -> Settings:
        """The run whose figures ``bench/README.md`` records."""
        return cls(
            mode="full",
            rpc_seconds=10.0,
            rpc_warmup=2.0,
            processes=2,
            concurrency=32,
            sweep_fractions=(0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.25),
            sweep_seconds=6.0,
            audit_threads=(1, 8, 32, 64, 256),
            audit_units=20000,
            audit_repeats=3,
            proof_sizes=(10**4, 10**5, 10**6),
            proof_samples=2000,
            crypto_seconds=2.0,
            variant_rounds=3,
            throughput_rounds=3,
            concurrency_levels=(4, 8, 16, 32, 64),
            concurrency_seconds=5.0,
        )

    @classmethod
    def quick(cls) -> Settings:
        """About a minute end to end (``BENCH_QUICK=1``)."""
        return cls(
            mode="quick",
            rpc_seconds=3.0,
            rpc_warmup=1.0,
            processes=2,
            concurrency=32,
            sweep_fractions=(0.25, 0.5, 1.0),
            sweep_seconds=2.0,
            audit_threads=(1, 32, 256),
            audit_units=3000,
            audit_repeats=1,
            proof_sizes=(10**3, 10**4),
            proof_samples=300,
            crypto_seconds=0.5,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """``quick()`` when ``BENCH_QUICK`` is set to anything but empty or ``0``."""
        value = (env if env is not None else os.environ).get("BENCH_QUICK", "")
        return cls.quick() if value not in ("", "0") else cls.full()


def progress(message: str) -> None:
    """One progress line on stderr (stdout is kept for the result table)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency_summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p90 / p99 / max / mean of latencies given in seconds, in milliseconds."""
    if not seconds:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    return {
        "p50_ms": round(percentile(seconds, 50) * 1000, 3),
        "p90_ms": round(percentile(seconds, 90) * 1000, 3),
        "p99_ms": round(percentile(seconds, 99) * 1000, 3),
        "max_ms": round(max(seconds) * 1000, 3),
        "mean_ms": round(statistics.fmean(seconds) * 1000, 3),
    }


def machine() -> dict[str, Any]:
    """nproc, CPU model, Python and library versions: numbers mean little without them."""
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "grpcio": grpc.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()],  # other work on the machine
    }


def write_result(
    name: str, settings: Settings, data: Mapping[str, Any], out_dir: Path | None = None
) -> Path:
    """Write ``<out_dir>/<name>.json`` (``<name>-quick.json`` in quick mode, so that a quick run
    never overwrites the committed full figures); returns the path."""
    out_dir = out_dir or RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "" if settings.mode == "full" else f"-{settings.mode}"
    path = out_dir / f"{name}{suffix}.json"
    document = {
        "benchmark": name,
        "mode": settings.mode,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **data,
    }
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    return path


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A plain fixed-width text table."""
    cells = [[str(c) for c in header], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def verdict(holds: bool) -> str:
    """``holds`` / ``MISSED`` for the tables."""
    return "holds" if holds else "MISSED"
