"""Benchmark 1c (for information, no target): the no-op and IssueAttestation, closed loop, at
several numbers of calls in flight, to show whether the ratio of benchmark 1 depends on the 32
in flight it is measured at.

Same gateway, no-op twin, load generator and request bytes as benchmark 1 (``bench.rpc``); each
level runs the no-op, then issue, with shorter windows.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bench.common import Settings, progress
from bench.fixture import BenchGateway
from bench.rpc import RpcRunner


def run_concurrency_sweep(bench: BenchGateway, settings: Settings) -> dict[str, Any]:
    """req/s, p50, p99 of the no-op and of issue at each of ``settings.concurrency_levels``."""
    levels = []
    runner = RpcRunner(bench, settings)  # one runner: its request ids stay unique across levels
    for concurrency in settings.concurrency_levels:
        runner.settings = dataclasses.replace(
            settings, concurrency=concurrency, rpc_seconds=settings.concurrency_seconds
        )
        progress(f"concurrency sweep: {concurrency} in flight, no-op then issue")
        noop, issue = runner.noop(), runner.issue()
        progress(f"  no-op {noop.rps:.0f}, issue {issue.rps:.0f} req/s")
        levels.append(
            {
                "concurrency": concurrency,
                "noop": noop.to_dict(),
                "issue": issue.to_dict(),
                "issue_vs_noop": round(issue.rps / noop.rps, 3),
            }
        )
    return {
        "settings": {
            "client_processes": settings.processes,
            "seconds": settings.concurrency_seconds,
            "warmup_seconds": settings.rpc_warmup,
            "levels": list(settings.concurrency_levels),
        },
        "levels": levels,
    }


def sweep_rows(data: dict[str, Any]) -> list[list[object]]:
    """Table rows: in flight, no-op req/s p50 p99, issue req/s p50 p99, ratio."""
    return [
        [
            level["concurrency"],
            level["noop"]["rps"],
            level["noop"]["p50_ms"],
            level["noop"]["p99_ms"],
            level["issue"]["rps"],
            level["issue"]["p50_ms"],
            level["issue"]["p99_ms"],
            level["issue_vs_noop"],
        ]
        for level in data["levels"]
    ]
