"""Benchmark 1 (issue / redeem vs no-op) of one checkout, for comparing commits in one session.

Run by path with the *other* checkout's interpreter and on its import path, so the benchmark
code and the gateway are that checkout's own (the modules used here exist since the first
benchmarks)::

    git worktree add --detach ../ag-before <commit>
    (cd ../ag-before && make .venv/.installed-bench)
    for label in before head head before; do
      dir=$([ $label = before ] && echo ../ag-before || echo .)
      (cd $dir && PYTHONPATH=. .venv/bin/python "$OLDPWD/bench/ab.py" $label 2) >> ab.jsonl
    done

Each run prints one JSON line: the label, the time, the load average, the issue and redeem
ratios to the no-op (median of the rounds, and each round's) and every round's req/s. Alternate
the checkouts (ABBA) so drift of the machine falls on both; bench/README.md "Comparing commits".
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Settings


def measure(label: str, settings: Settings) -> dict[str, Any]:
    """One throughput run of this checkout (benchmark 1's rounds) as the line ``main`` prints."""
    from bench.fixture import start_bench_gateway  # noqa: PLC0415 - the checkout's own
    from bench.rpc import RpcRunner, run_throughput  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="attestgate-ab-") as tmp:
        bench = start_bench_gateway(Path(tmp) / "data")
        try:
            out = run_throughput(RpcRunner(bench, settings))
        finally:
            bench.close()
    return line(label, out)


def line(label: str, out: dict[str, Any]) -> dict[str, Any]:
    """``run_throughput``'s result as the comparison's line."""
    targets = out["targets"]
    return {
        "label": label,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load": round(os.getloadavg()[0], 2),
        "issue_vs_noop": targets["issue_vs_noop"]["ratio"],
        "issue_per_round": targets["issue_vs_noop"]["per_round"],
        "redeem_vs_noop": targets["redeem_vs_noop"]["ratio"],
        "rounds": out["rounds"],
    }


def main(argv: list[str]) -> int:
    """``ab.py LABEL [ROUNDS]``: one throughput run of this checkout, one JSON line out."""
    if not argv or len(argv) > 2 or (len(argv) == 2 and not argv[1].isdigit()):
        print("usage: ab.py LABEL [ROUNDS]", file=sys.stderr)
        return 2
    rounds = int(argv[1]) if len(argv) == 2 else 2
    settings = dataclasses.replace(Settings.full(), throughput_rounds=rounds)
    print(json.dumps(measure(argv[0], settings)), flush=True)
    return 0


if __name__ == "__main__":  # the load generator spawns processes: they must not run this
    raise SystemExit(main(sys.argv[1:]))
