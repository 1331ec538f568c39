"""Benchmarks 1, 4 and 5: the transport ceiling against the real gateway, latency under load.

1. Closed loop, same generator and concurrency: the no-op ``IssueAttestation`` twin (same
   ``build_server`` stack: TLS, auth interceptor, thread pool), then ``IssueAttestation`` and
   ``RedeemAttestation`` through the real gateway. Target: each >= 30 % of the no-op's req/s.
4. Open loop at half the measured maximum of ``IssueAttestation``: target p99 < 20 ms.
5. Open-loop sweeps over offered load for the no-op and ``IssueAttestation`` (the plot's data).

Bodies that change state (issue: a use of a consent; redeem: a fresh attestation) are prepared
before the timed window; the budget is sized from the rates measured earlier in the same run.
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from attestgate.v1 import attestation_pb2
from bench.common import Settings, progress, verdict
from bench.fixture import (
    BANK,
    ISSUE_METHOD,
    REDEEM_METHOD,
    USES_PER_CONSENT,
    BenchGateway,
    describe,
)
from bench.loadgen import LoadResult, LoadSpec, run_load

THROUGHPUT_TARGET = 0.30
"""Issue and redeem each reach this fraction of the no-op's throughput."""
P99_TARGET_MS = 20.0
"""p99 of IssueAttestation at half its maximum throughput."""
ISSUE_RATE_CEILING = 800.0
"""Closed loop: bodies are prepared for this many issues per second; should the gateway be
faster, the window ends when they run out (flagged as ``exhausted_requests``)."""
REDEEM_HEADROOM = 1.6
"""Attestations prepared for redemption, per issue/s measured, per second of window."""


@dataclass
class RpcRunner:
    """Runs loads against one ``BenchGateway`` with the run's settings."""

    bench: BenchGateway
    settings: Settings
    token: str = ""
    _tags: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.token = self.bench.token("bank", BANK)

    def _spec(self, target: str, method: str, bodies: list[bytes], **changes: Any) -> LoadSpec:
        return LoadSpec(
            target=target,
            method=method,
            token=self.token,
            requests=tuple(bodies),
            cycle=changes.pop("cycle", False),
            concurrency=self.settings.concurrency,
            ca_pem=self.bench.ca_pem,
            **changes,
        )

    def _load(
        self, target: str, method: str, bodies: list[bytes], *, cycle: bool, rate: float | None
    ) -> LoadResult:
        spec = self._spec(target, method, bodies, cycle=cycle, rate=rate)
        seconds = self.settings.rpc_seconds if rate is None else self.settings.sweep_seconds
        return run_load(
            spec,
            processes=self.settings.processes,
            warmup=self.settings.rpc_warmup,
            seconds=seconds,
        )

    def _issue_bodies(self, calls: float) -> list[bytes]:
        # Request ids are idempotency keys: every batch of bodies gets its own prefix.
        consents = self.bench.make_consents(math.ceil(calls / USES_PER_CONSENT) + 1)
        return self.bench.issue_bodies(consents, f"bench{next(self._tags)}")

    def _window(self, seconds: float) -> float:
        return self.settings.rpc_warmup + seconds + 1.0

    def noop(self, rate: float | None = None, target: str = "") -> LoadResult:
        """The no-op twin (or the no-op at ``target``): same method, same request and response
        bytes, no use case."""
        bodies = self._issue_bodies(USES_PER_CONSENT)  # any valid request will do
        target = target or self.bench.noop_target
        return self._load(target, ISSUE_METHOD, bodies, cycle=True, rate=rate)

    def issue(self, rate: float | None = None, announce: str = "", target: str = "") -> LoadResult:
        """IssueAttestation through the real gateway (or the server at ``target`` over the same
        storage), one use of a consent per call (``announce``: a progress line once the bodies
        are ready, for a profiler to attach)."""
        seconds = self.settings.rpc_seconds if rate is None else self.settings.sweep_seconds
        calls = (rate or ISSUE_RATE_CEILING) * self._window(seconds)
        bodies = self._issue_bodies(calls)
        if announce:
            progress(announce)
        target = target or self.bench.target
        return self._load(target, ISSUE_METHOD, bodies, cycle=False, rate=rate)

    def redeem(self, expected_rps: float, announce: str = "") -> LoadResult:
        """RedeemAttestation, each call a fresh attestation issued before the window
        (``announce``: a progress line once they are ready, for a profiler to attach)."""
        calls = int(expected_rps * self._window(self.settings.rpc_seconds))
        progress(f"  pre-issuing {calls} attestations to redeem (same load generator)")
        spec = self._spec(
            self.bench.target, ISSUE_METHOD, self._issue_bodies(calls)[:calls], keep_responses=True
        )
        issued = run_load(spec, processes=self.settings.processes, warmup=0.0, seconds=3600.0)
        attestations = [attestation_pb2.Attestation.FromString(r) for r in issued.responses]
        bodies = self.bench.redeem_bodies(attestations)
        if announce:
            progress(announce)
        return self._load(self.bench.target, REDEEM_METHOD, bodies, cycle=False, rate=None)


def _round(runner: RpcRunner, index: int) -> dict[str, LoadResult]:
    """One no-op / issue / redeem round; even rounds start with the no-op, odd ones with issue."""
    concurrency = runner.settings.concurrency
    order = ("noop", "issue") if index % 2 == 0 else ("issue", "noop")
    results: dict[str, LoadResult] = {}
    for name in order:
        progress(f"rpc round {index + 1}: {name}, closed loop, {concurrency} in flight")
        results[name] = runner.noop() if name == "noop" else runner.issue()
        progress(f"  {name} {results[name].rps:.0f} req/s")
    progress(f"rpc round {index + 1}: redeem, closed loop")
    expected = max(REDEEM_HEADROOM * results["issue"].rps, 20.0)
    results["redeem"] = runner.redeem(expected_rps=expected)
    progress(f"  redeem {results['redeem'].rps:.0f} req/s")
    return results


def _median_run(runs: list[LoadResult]) -> LoadResult:
    """The run with the median throughput (its latencies are those of one real window)."""
    return sorted(runs, key=lambda run: run.rps)[len(runs) // 2]


def _round_summary(results: dict[str, LoadResult]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, run in results.items():
        summary[name] = {"rps": round(run.rps, 1), "p99_ms": run.to_dict()["p99_ms"]}
    return summary


def run_throughput(runner: RpcRunner) -> dict[str, Any]:
    """Benchmark 1: req/s, p50, p99 of no-op, issue and redeem at the same concurrency, in
    rounds; each round's ratio compares runs a minute apart, the median round's ratio counts."""
    rounds = [_round(runner, k) for k in range(runner.settings.throughput_rounds)]
    results = {name: _median_run([r[name] for r in rounds]) for name in ("noop", "issue", "redeem")}
    ratios = {
        name: statistics.median(r[name].rps / r["noop"].rps for r in rounds)
        for name in ("issue", "redeem")
    }
    return {
        "settings": {
            **describe(runner.bench),
            "client_processes": runner.settings.processes,
            "concurrency": runner.settings.concurrency,
            "seconds": runner.settings.rpc_seconds,
            "warmup_seconds": runner.settings.rpc_warmup,
            "rounds": len(rounds),
            "aggregate": "results: the median run of each call; ratio: median of per-round ratios",
        },
        "results": {name: r.to_dict() for name, r in results.items()},
        "rounds": [_round_summary(r) for r in rounds],
        "targets": {
            f"{name}_vs_noop": {
                "ratio": round(ratio, 3),
                "per_round": [round(r[name].rps / r["noop"].rps, 3) for r in rounds],
                "target": f">= {THROUGHPUT_TARGET}",
                "holds": ratio >= THROUGHPUT_TARGET,
            }
            for name, ratio in ratios.items()
        },
    }


def run_latency(runner: RpcRunner, max_rps: dict[str, float]) -> dict[str, Any]:
    """Benchmarks 4 and 5: p99 at half load, and sweeps of offered load for the plot."""
    half = 0.5 * max_rps["issue"]
    progress(f"latency: IssueAttestation open loop at {half:.0f} req/s (half of max)")
    at_half = runner.issue(rate=half)
    p99 = at_half.to_dict()["p99_ms"]
    sweep: dict[str, list[dict[str, Any]]] = {"noop": [], "issue": []}
    for fraction in runner.settings.sweep_fractions:
        for name, points in sweep.items():
            rate = fraction * max_rps[name]
            progress(f"latency sweep: {name} at {rate:.0f} req/s ({fraction:.0%} of max)")
            result = runner.noop(rate) if name == "noop" else runner.issue(rate)
            points.append({"fraction_of_max": fraction, **result.to_dict()})
    return {
        "max_rps": {name: round(rps, 1) for name, rps in max_rps.items()},
        "issue_at_half_max": at_half.to_dict(),
        "targets": {
            "issue_p99_at_half_max_ms": {
                "value": p99,
                "target": f"< {P99_TARGET_MS}",
                "holds": p99 < P99_TARGET_MS,
            }
        },
        "sweep": sweep,
    }


def throughput_rows(data: dict[str, Any]) -> list[list[object]]:
    """Table rows: call, req/s, p50, p99, server CPU per call, ratio vs no-op."""
    rows: list[list[object]] = []
    for name, result in data["results"].items():
        target = data["targets"].get(f"{name}_vs_noop")
        ratio = "" if target is None else f"{target['ratio']:.2f} ({verdict(target['holds'])})"
        rows.append(
            [
                name,
                result["rps"],
                result["p50_ms"],
                result["p99_ms"],
                result["server_cpu_us_per_call"],
                ratio,
            ]
        )
    return rows
