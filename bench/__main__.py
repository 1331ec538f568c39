"""``python -m bench [--only SUITES] [--out DIR]``: run the benchmarks (default: crypto, audit,
rpc, sweep and status_list; ``audit_pg`` on request), write ``<out>/<name>.json`` (default
``bench/results``), draw ``latency.png``, print tables and targets.

``BENCH_QUICK=1`` runs a reduced version (about a minute) and writes ``<name>-quick.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from attestgate.gateway.ops.logs import configure_logging
from bench.audit_append import append_rows, run_audit_append
from bench.audit_pg import append_pg_rows, run_audit_append_pg
from bench.audit_proofs import proof_rows, run_audit_proofs
from bench.common import RESULTS_DIR, Settings, progress, table, verdict, write_result
from bench.crypto import crypto_rows, run_crypto
from bench.fixture import start_bench_gateway
from bench.plot import draw_latency
from bench.rpc import RpcRunner, run_latency, run_throughput, throughput_rows
from bench.rpc_sweep import run_concurrency_sweep, sweep_rows
from bench.rpc_variants import run_server_variants, variant_rows
from bench.status_list import run_status_list, status_rows
from bench.tiles import run_tiles, tile_rows
from bench.witnessing import run_witnessing, witnessing_rows

SUITES = ("crypto", "audit", "rpc", "sweep", "status_list", "tiles", "witnessing")
"""What ``make bench`` runs."""
OPTIONAL_SUITES = ("audit_pg",)
"""Run only when asked for (``--only audit_pg``): they need a PostgreSQL server."""


@contextlib.contextmanager
def access_log(path: Path) -> Iterator[None]:
    """Log like ``attestgate serve`` (text, INFO: one access line per call), into a file."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    with path.open("w") as stream:
        configure_logging("text", "INFO", stream=stream)
        try:
            yield
        finally:
            for handler in list(root.handlers):
                if handler not in before:
                    root.removeHandler(handler)
            root.setLevel(level)


def run_rpc_suite(settings: Settings, work_dir: Path) -> dict[str, dict[str, Any]]:
    """Benchmarks 1 (with the sync vs grpc.aio comparison), 4 and 5 against one seeded gateway
    and its no-op twin."""
    progress("rpc: starting the gateway (TLS, dev issuer, SQLite) and its no-op twin")
    bench = start_bench_gateway(work_dir / "data")
    try:
        runner = RpcRunner(bench, settings)
        throughput = run_throughput(runner)
        throughput["server_variants"] = run_server_variants(runner)
        max_rps = {name: throughput["results"][name]["rps"] for name in ("noop", "issue")}
        latency = run_latency(runner, max_rps)
    finally:
        bench.close()
    return {"rpc": throughput, "latency": latency}


def run_sweep_suite(settings: Settings, work_dir: Path) -> dict[str, Any]:
    """Benchmark 1c on a gateway of its own (fresh storage, like benchmark 1's)."""
    progress("sweep: starting the gateway and its no-op twin")
    bench = start_bench_gateway(work_dir / "sweep-data")
    try:
        return run_concurrency_sweep(bench, settings)
    finally:
        bench.close()


def run_suites(settings: Settings, only: Sequence[str], work_dir: Path) -> dict[str, Any]:
    """Run the chosen suites; returns ``{result name: data}``."""
    results: dict[str, Any] = {}
    if "crypto" in only:
        results["crypto"] = run_crypto(settings)
    if "audit" in only:
        results["audit_append"] = run_audit_append(settings, work_dir)
        results["audit_proofs"] = run_audit_proofs(settings, work_dir)
    if "rpc" in only:
        with access_log(work_dir / "gateway.log"):
            results.update(run_rpc_suite(settings, work_dir))
    if "audit_pg" in only:
        results["audit_append_pg"] = run_audit_append_pg(settings)
    if "sweep" in only:
        with access_log(work_dir / "gateway-sweep.log"):
            results["rpc_concurrency"] = run_sweep_suite(settings, work_dir)
    if "status_list" in only:
        results["status_list"] = run_status_list(settings)
    if "tiles" in only:
        results["tiles"] = run_tiles(settings)
    if "witnessing" in only:
        results["witnessing"] = run_witnessing(settings, work_dir)
    return results


_TABLES: dict[str, tuple[str, list[str], Callable[[dict[str, Any]], list[list[object]]]]] = {
    "rpc": (
        "1. transport ceiling vs gateway (closed loop)",
        ["call", "req/s", "p50 ms", "p99 ms", "server CPU us/call", "vs no-op"],
        throughput_rows,
    ),
    "rpc_concurrency": (
        "1c. no-op and issue by calls in flight (closed loop; information)",
        ["in flight", "no-op req/s", "p50", "p99", "issue req/s", "p50", "p99", "issue/no-op"],
        sweep_rows,
    ),
    "audit_append": (
        "2a. durable appends: sequencer vs the same rows vs bare rows (events/s)",
        ["submitters", "mean batch", "sequencer", "same rows", "bare", "seq/same", "max_wait=5ms"],
        append_rows,
    ),
    "audit_append_pg": (
        "2c. durable appends on PostgreSQL: sequencer vs the same rows (events/s; information)",
        ["submitters", "mean batch", "sequencer", "same rows", "seq/same"],
        append_pg_rows,
    ),
    "audit_proofs": (
        "2b. proofs (ms) and peak RSS",
        ["entries", "incl p50", "incl p99", "cons p50", "cons p99", "RSS MB", "build/s"],
        proof_rows,
    ),
    "crypto": (
        "3. SD-JWT vs the IETF reference (us per operation)",
        ["operation", "ours", "reference", "speedup"],
        crypto_rows,
    ),
    "status_list": (
        "6. Token Status List: one list of 2^20 entries holding 10^6 attestations",
        ["mix", "publish ms", "token B", "lst B", "information B", "lst/info", "8x2^17 ms"],
        status_rows,
    ),
    "tiles": (
        "7. tlog-tiles: hash tiles per second, public face vs a static file server",
        ["round", "gateway tiles/s", "nginx tiles/s", "starlette static tiles/s", "gw/baseline"],
        tile_rows,
    ),
    "witnessing": (
        "8. witnessing: cosigning latency (3 witnesses) and one witness for 100 logs (ms)",
        ["case", "samples", "p50", "p99", "max", ""],
        witnessing_rows,
    ),
}


def summary_rows(results: dict[str, Any]) -> list[list[object]]:
    """Every target of every result: name, value, target, verdict."""
    rows: list[list[object]] = []
    for name, data in results.items():
        for target_name, target in data.get("targets", {}).items():
            value = target.get("value", target.get("ratio", target.get("min_ratio")))
            rows.append([f"{name}.{target_name}", value, target.get("target", ""), target["holds"]])
    return [[n, v, t, verdict(bool(h))] for n, v, t, h in rows]


def report(results: dict[str, Any]) -> str:
    """The stdout report: one table per benchmark, then the targets."""
    parts = []
    for name, (title, header, rows) in _TABLES.items():
        if name in results:
            parts.append(f"{title}\n{table(rows(results[name]), header)}")
    variants = results.get("rpc", {}).get("server_variants")
    if variants is not None:
        header = ["variant", "req/s", "p50 ms", "p99 ms", "server CPU us/call", "aio/sync req/s"]
        header.append("aio/sync CPU/call")
        title = "1b. sync grpc.server vs grpc.aio (closed loop, median of rounds)"
        parts.append(f"{title}\n{table(variant_rows(variants), header)}")
    if "latency" in results:
        half = results["latency"]["issue_at_half_max"]
        parts.append(
            "4. IssueAttestation at half its max "
            f"({half['offered_rps']} req/s offered): p50 {half['p50_ms']} ms, "
            f"p99 {half['p99_ms']} ms"
        )
    targets = summary_rows(results)
    if targets:
        parts.append("targets\n" + table(targets, ["target", "value", "want", ""]))
    return "\n\n".join(parts)


def main(argv: Sequence[str] | None = None, *, settings: Settings | None = None) -> int:
    """Entry point of ``python -m bench`` (``settings``: default from ``BENCH_QUICK``)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        default=",".join(SUITES),
        help="comma-separated: " + ",".join(SUITES + OPTIONAL_SUITES),
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the JSON goes")
    args = parser.parse_args(argv)
    settings = settings or Settings.from_env()
    only = [s for s in args.only.split(",") if s]
    unknown = set(only) - set(SUITES) - set(OPTIONAL_SUITES)
    if unknown:
        parser.error(f"unknown suites: {sorted(unknown)}")
    progress(f"{settings.mode} run: {', '.join(only)}")
    with tempfile.TemporaryDirectory(prefix="attestgate-bench-") as tmp:
        results = run_suites(settings, only, Path(tmp))
    for name, data in results.items():
        progress(f"wrote {write_result(name, settings, data, args.out)}")
    if "latency" in results:
        suffix = "" if settings.mode == "full" else f"-{settings.mode}"
        plot = draw_latency(results["latency"], args.out / f"latency{suffix}.png")
        if plot is not None:
            progress(f"wrote {plot}")
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
