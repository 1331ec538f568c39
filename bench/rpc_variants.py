"""Benchmark 1, side by side: the synchronous ``grpc.server`` against ``grpc.aio`` (issue 8).

Same run, same load generator, same concurrency, same request bytes, same TLS, same interceptor
(``bench/aio_server.py``). Four servers:

- sync no-op: the no-op twin (``build_server``, 32-thread pool);
- aio no-op: the same canned ``IssueAttestation`` from an ``async def`` handler on the loop;
- sync issue: the real gateway;
- aio issue: the real servicers (plain functions) on ``grpc.aio.server(migration_thread_pool=)``
  with the same worker count, over the same use cases (storage, audit sequencer), another port.

Each round measures the no-op pair, then the issue pair; the order within a pair alternates
between rounds (sync first, then aio first, ...) so a drift in the machine's load does not
favour one flavour. Figures are the median over rounds; every round is kept in the JSON.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from bench.common import progress
from bench.loadgen import LoadResult
from bench.rpc import RpcRunner

FLAVOURS = ("sync", "aio")
CALLS = ("noop", "issue")
MEDIAN_FIELDS = ("rps", "p50_ms", "p90_ms", "p99_ms", "server_cpu_us_per_call", "client_cpu_util")


def _order(round_index: int) -> tuple[str, ...]:
    return FLAVOURS if round_index % 2 == 0 else FLAVOURS[::-1]


def _measure(runner: RpcRunner, call: str, target: str) -> LoadResult:
    return runner.noop(target=target) if call == "noop" else runner.issue(target=target)


def _median(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        name: round(statistics.median(r[name] for r in rounds), 3)
        for name in MEDIAN_FIELDS
        if all(name in r for r in rounds)
    }
    errors: Counter[str] = Counter()
    for r in rounds:
        errors.update(r["errors"])
    summary["errors"] = dict(errors)
    summary["completed"] = sum(r["completed"] for r in rounds)
    summary["exhausted_requests"] = any(r["exhausted_requests"] for r in rounds)
    return summary


def run_server_variants(runner: RpcRunner) -> dict[str, Any]:
    """Closed loop, sync vs aio, for the no-op and for ``IssueAttestation``."""
    bench = runner.bench
    progress("rpc variants: starting the grpc.aio no-op and the grpc.aio gateway")
    aio_noop, aio_gateway = bench.aio_noop(), bench.aio_gateway()
    targets = {
        ("sync", "noop"): bench.noop_target,
        ("aio", "noop"): aio_noop.target,
        ("sync", "issue"): bench.target,
        ("aio", "issue"): aio_gateway.target,
    }
    rounds: list[dict[str, dict[str, Any]]] = []
    try:
        for index in range(runner.settings.variant_rounds):
            measured: dict[str, dict[str, Any]] = {}
            for call in CALLS:
                for flavour in _order(index):
                    name = f"{flavour}_{call}"
                    progress(f"rpc variants: round {index + 1}, {name}, closed loop")
                    result = _measure(runner, call, targets[(flavour, call)])
                    progress(f"  {name} {result.rps:.0f} req/s")
                    measured[name] = result.to_dict()
            rounds.append(measured)
    finally:
        aio_noop.stop(1)
        aio_gateway.stop(5)
    return _report(runner, rounds)


def _report(runner: RpcRunner, rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    names = [f"{flavour}_{call}" for call in CALLS for flavour in FLAVOURS]
    results = {name: _median([r[name] for r in rounds]) for name in names}
    return {
        "settings": {
            "rounds": len(rounds),
            "order_per_round": [list(_order(i)) for i in range(len(rounds))],
            "aggregate": "median over rounds (errors and completed: summed)",
            "worker_threads": runner.bench.gateway.config.max_workers,
            "sync": "grpc.server(AdmissionExecutor), GatewayInterceptor",
            "aio_noop": "grpc.aio.server, async def IssueAttestation on the event loop",
            "aio_issue": "grpc.aio.server(migration_thread_pool=AdmissionExecutor), real "
            "servicers (plain functions) on the pool, same use cases",
        },
        "results": results,
        "aio_vs_sync": {call: _ratios(results, call) for call in CALLS},
        "rounds": rounds,
    }


def _ratios(results: dict[str, dict[str, Any]], call: str) -> dict[str, float]:
    aio, sync = results[f"aio_{call}"], results[f"sync_{call}"]
    return {
        "rps_ratio": round(aio["rps"] / sync["rps"], 3),
        "server_cpu_per_call_ratio": round(
            aio["server_cpu_us_per_call"] / sync["server_cpu_us_per_call"], 3
        ),
    }


def variant_rows(data: dict[str, Any]) -> list[list[object]]:
    """Table rows: variant, req/s, p50, p99, server CPU per call, aio/sync ratios."""
    rows: list[list[object]] = []
    for name, result in data["results"].items():
        flavour, call = name.split("_", 1)
        ratios = data["aio_vs_sync"][call] if flavour == "aio" else {}
        rows.append(
            [
                f"{flavour} {call}",
                result["rps"],
                result["p50_ms"],
                result["p99_ms"],
                result["server_cpu_us_per_call"],
                ratios.get("rps_ratio", ""),
                ratios.get("server_cpu_per_call_ratio", ""),
            ]
        )
    return rows
