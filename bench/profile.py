"""Profiling the issue and redeem paths with py-spy (sampling every thread of the server).

Serve a closed-loop load and print this process's pid once the timed part starts, so py-spy
attaches to the server only (the load comes from separate client processes)::

    python -m bench.profile issue 20 &        # prints "PROFILE pid=<pid> ..." on stderr
    py-spy record --pid <pid> --duration 15 --format raw --output issue.txt
    python -m bench.profile summarize issue.txt

``summarize`` folds py-spy's collapsed stacks into the share of samples under each function
(inclusive) and where the GIL-holding time goes, for ``bench/README.md`` "Profile".
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.common import Settings, progress
from bench.fixture import start_bench_gateway
from bench.rpc import RpcRunner

_FRAME = re.compile(r"^(?P<fn>[^ ]+) \((?P<file>[^:]+)(?::(?P<line>\d+))?\)$")
_IDLE = ("wait", "_wait_once", "get", "select", "poll", "_next", "accept", "sleep", "_worker")


def serve(kind: str, seconds: float) -> None:
    """Run one closed-loop load of ``kind`` (issue or redeem) for ``seconds`` after set-up."""
    settings = dataclasses.replace(Settings.full(), rpc_seconds=seconds, rpc_warmup=1.0)
    with tempfile.TemporaryDirectory(prefix="attestgate-profile-") as tmp:
        bench = start_bench_gateway(Path(tmp) / "data")
        try:
            runner = RpcRunner(bench, settings)
            announce = f"PROFILE pid={os.getpid()} {kind} load starts"
            if kind == "issue":
                result = runner.issue(announce=announce)
            else:
                result = runner.redeem(expected_rps=600.0, announce=announce)
            progress(f"{kind}: {result.rps:.0f} req/s")
        finally:
            bench.close()


def _frames(stack: str) -> list[tuple[str, str]]:
    frames = []
    for part in stack.split(";"):
        match = _FRAME.match(part.strip())
        if match:
            frames.append((match["fn"], Path(match["file"]).as_posix()))
    return frames


def summarize(path: Path, top: int = 40) -> str:
    """Inclusive share of the *busy* samples (not idle waits) under each project function."""
    inclusive: Counter[str] = Counter()
    busy = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = _frames(stack)
        if not frames or frames[-1][0] in _IDLE:
            continue
        count = int(count_text)
        busy += count
        seen = set()
        for fn, file in frames:
            short = re.sub(r"^.*?/(site-packages|work/main|snap)/", "", file)
            key = f"{fn} ({short})"
            if key not in seen:
                inclusive[key] += count
                seen.add(key)
    lines = [f"busy samples: {busy}"]
    for key, count in inclusive.most_common(top):
        lines.append(f"{100 * count / busy:5.1f}%  {key}")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1] == "summarize":
        print(summarize(Path(sys.argv[2])))
    else:
        serve(sys.argv[1], float(sys.argv[2]))
