"""Benchmark 8: witnessing (issue 18 item 4), against real ``attestgate witness serve`` processes
on loopback (plain HTTP, SQLite state with ``synchronous=FULL``).

8a. **Cosigning latency added to a checkpoint with 3 local witnesses** (target p99 < 50 ms): the
gateway's own parts (``build_parts``, the audit sequencer on SQLite, the real
``CosignatureCollector``) with 3 witnesses configured. One event is appended at a time; the
latency of a checkpoint is from its batch's COMMIT (``on_batch``) until the cosignatures of all
3 witnesses are durably stored (their own batch committed): what a client waits, beyond the
checkpoint itself, to see it cosigned. The next event is appended once that is done.

8b. **One witness, 100 logs, one checkpoint per second each** (target: it does not fall behind):
an open-loop load generator gives each log a schedule (log ``i`` submits at ``i / 100 + k``
seconds), each checkpoint one entry larger than the last with its consistency proof; latency
counts from the *scheduled* time (no coordinated omission). It holds when every request is
cosigned (200) and the p99 stays below the 1 s between two checkpoints of a log.
"""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from attestgate.audit.hashing import consistency_ranges
from attestgate.audit.sequencer import Tx
from attestgate.gateway.app import build_parts, start_writes
from attestgate.gateway.common.clock import SystemClock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.ops.config import WitnessEndpoint
from attestgate.gateway.testing import local_config
from attestgate.gateway.witness.collector import CosignatureCollector
from attestgate.gateway.witness.core import write_config
from attestgate.protocol.cosignature import AddCheckpointRequest, WitnessKey
from attestgate.protocol.merkle import leaf_hash
from attestgate.protocol.note import NoteSigner, format_checkpoint
from attestgate.protocol.tlog_tiles import subtree_hash
from bench.audit_append import sample_event
from bench.common import Settings, latency_summary_ms, progress, verdict

COSIGN_TARGET_MS = 50.0
LOGS = 100
_LISTENING = re.compile(r"witness \S+ on (http://127\.0\.0\.1:\d+)")


@dataclass
class WitnessServer:
    """One ``attestgate witness serve`` process."""

    url: str
    keys: tuple[WitnessKey, ...]
    process: subprocess.Popen[str]


@contextmanager
def witness_servers(work: Path, logs: list[tuple[str, str]], count: int) -> Iterator[list[Any]]:
    """``count`` witness processes, each witnessing ``logs`` (origin, log vkey), started at once."""
    processes: list[subprocess.Popen[str]] = []
    try:
        for n in range(count):
            folder = work / f"witness-{n}"
            folder.mkdir(mode=0o700, parents=True)
            write_config(folder, f"witness-{n}.bench.example/w", logs)
            command = [sys.executable, "-m", "attestgate", "witness", "serve", "--data-dir"]
            command += [str(folder), "--listen", "127.0.0.1:0", "--insecure"]
            processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
        yield [_listening(process) for process in processes]
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
            if process.stdout is not None:
                process.stdout.close()


def _listening(process: subprocess.Popen[str]) -> WitnessServer:
    """Read a starting witness's address and keys from its output."""
    assert process.stdout is not None
    url, keys = "", list[WitnessKey]()
    while len(keys) < 2:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"a witness exited at start: {process.wait()}")
        if found := _LISTENING.search(line):
            url = found[1]
        elif line.startswith("vkey "):
            keys.append(WitnessKey.from_vkey(line.split()[1]))
    return WitnessServer(url, tuple(keys), process)


# --- 8a: cosigning latency with 3 witnesses ------------------------------------------------------


@dataclass
class _Recorder:
    """The collector's observer: cosigned outcomes and their seconds."""

    seconds: list[float] = field(default_factory=list)
    other: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)

    def witness_outcome(self, witness: str, outcome: str, seconds: float | None) -> None:
        with self.changed:
            if outcome == "cosigned" and seconds is not None:
                self.seconds.append(seconds)
            else:
                self.other += 1
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.seconds) >= count, timeout)


def run_cosign_latency(settings: Settings, work: Path) -> dict[str, Any]:
    """8a; ``settings.mode`` picks how many checkpoints."""
    checkpoints = {"full": 300, "quick": 60}.get(settings.mode, 5)
    data_dir = work / "gateway"
    config = local_config(data_dir, checkpoint_interval=timedelta(milliseconds=1))
    clock = SystemClock()
    keyring = KeyRing.open_or_create(data_dir, clock=clock, gateway_id=config.gateway_id)
    log_vkey = NoteSigner(config.log_origin, keyring.note_signer_key).vkey()
    with witness_servers(work, [(config.log_origin, log_vkey)], 3) as servers:
        endpoints = tuple(WitnessEndpoint(f"w{n}", s.url, s.keys) for n, s in enumerate(servers))
        parts = build_parts(config, clock=clock, keyring=keyring)
        recorder = _Recorder()
        collector = CosignatureCollector(
            storage=parts.storage, log=parts.log, clock=clock, witnesses=endpoints,
            timeout=5.0, retry_max=1.0, observer=recorder,
        )  # fmt: skip
        try:
            start_writes(parts, on_batch=collector.batch_committed)
            collector.start()
            latencies = _append_one_at_a_time(parts.storage, recorder, checkpoints)
        finally:
            collector.stop()
            parts.storage.close()
    summary = latency_summary_ms(latencies)
    holds = summary["p99_ms"] < COSIGN_TARGET_MS
    return {
        "settings": {"witnesses": 3, "checkpoints": len(latencies), "witness_k": 3},
        "latency": summary,
        "failed_submissions": recorder.other,
        "targets": {
            "cosign_p99_ms": {
                "value": summary["p99_ms"], "target": f"< {COSIGN_TARGET_MS}", "holds": holds,
            }
        },
    }  # fmt: skip


def _append_one_at_a_time(storage: Any, recorder: _Recorder, count: int) -> list[float]:
    latencies = []
    for i in range(count):
        before = len(recorder.seconds)

        def unit(tx: Tx, i: int = i) -> None:
            tx.emit(sample_event(i))

        storage.write(unit)
        if not recorder.wait_for(before + 3, 10):
            raise TimeoutError(f"checkpoint {i + 1} was not cosigned by 3 witnesses in 10 s")
        latencies.append(max(recorder.seconds[before : before + 3]))
    return latencies


# --- 8b: one witness, 100 logs -------------------------------------------------------------------


class _Log:
    """One log of the load: its key, leaves and the lock that keeps its requests in order."""

    def __init__(self, n: int) -> None:
        self.signer = NoteSigner.generate(f"log-{n}.bench.example")
        self.leaves: list[bytes] = []
        self.cosigned = 0
        self.lock = threading.Lock()

    def next_request(self) -> bytes:
        old = len(self.leaves)
        self.leaves.append(leaf_hash(f"{self.signer.name}-{old}".encode()))
        new = len(self.leaves)
        proof = tuple(subtree_hash(self.leaves[b:e]) for b, e in consistency_ranges(old, new))
        note = self.signer.sign(format_checkpoint(self.signer.name, new, subtree_hash(self.leaves)))
        return AddCheckpointRequest(self.cosigned, proof, note).encode()


def run_many_logs(settings: Settings, work: Path) -> dict[str, Any]:
    """8b; ``settings.mode`` picks the duration."""
    seconds = {"full": 30, "quick": 6}.get(settings.mode, 1)
    logs = [_Log(n) for n in range(LOGS)]
    config = [(log.signer.name, log.signer.vkey()) for log in logs]
    with witness_servers(work, config, 1) as (server,):
        progress(f"witnessing: {LOGS} logs, one checkpoint per second each, {seconds} s")
        latencies, statuses = _open_loop(server.url, logs, seconds)
    summary = latency_summary_ms(latencies)
    cosigned = statuses.get(200, 0)
    holds = cosigned == len(latencies) and summary["p99_ms"] < 1000
    return {
        "settings": {"logs": LOGS, "seconds": seconds, "rate_per_log": 1},
        "requests": len(latencies),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "latency_from_schedule": summary,
        "targets": {
            "witness_keeps_up": {
                "value": summary["p99_ms"], "target": "all cosigned, p99 < 1000 ms",
                "holds": holds,
            }
        },
    }  # fmt: skip


def _open_loop(url: str, logs: list[_Log], seconds: int) -> tuple[list[float], dict[int, int]]:
    host, port = url.removeprefix("http://").split(":")
    local = threading.local()
    connections: list[http.client.HTTPConnection] = []
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def submit(log: _Log, at: float) -> None:
        time.sleep(max(0.0, at - time.monotonic()))
        with log.lock:
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(host, int(port))
                connections.append(conn)
            conn.request("POST", "/add-checkpoint", body=log.next_request())
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                log.cosigned = len(log.leaves)
        with lock:
            latencies.append(time.monotonic() - at)
            statuses[response.status] = statuses.get(response.status, 0) + 1

    start = time.monotonic() + 0.5
    with ThreadPoolExecutor(max_workers=32) as pool:
        for k in range(seconds):
            for n, log in enumerate(logs):
                at = start + k + n / len(logs)
                time.sleep(max(0.0, at - 0.05 - time.monotonic()))  # submit just in time
                pool.submit(submit, log, at)
    for conn in connections:
        conn.close()
    return latencies, statuses


def run_witnessing(settings: Settings, work: Path) -> dict[str, Any]:
    """Benchmarks 8a and 8b."""
    progress("witnessing: cosigning latency with 3 local witnesses")
    cosign = run_cosign_latency(settings, work / "cosign")
    many = run_many_logs(settings, work / "many")
    return {
        "cosign": cosign,
        "many_logs": many,
        "targets": {**cosign["targets"], **many["targets"]},
    }


def witnessing_rows(data: dict[str, Any]) -> list[list[object]]:
    """The table of ``python -m bench``."""
    cosign, many = data["cosign"]["latency"], data["many_logs"]["latency_from_schedule"]
    return [
        ["8a cosign, 3 witnesses", data["cosign"]["settings"]["checkpoints"], cosign["p50_ms"],
         cosign["p99_ms"], cosign["max_ms"], verdict(data["targets"]["cosign_p99_ms"]["holds"])],
        ["8b 1 witness, 100 logs x 1/s", data["many_logs"]["requests"], many["p50_ms"],
         many["p99_ms"], many["max_ms"], verdict(data["targets"]["witness_keeps_up"]["holds"])],
    ]  # fmt: skip
