"""The load generator: client *processes* (spawned, one gRPC channel each) driving one unary method.

Every benchmarked RPC goes through the same generator with the same settings, so the ratios
compare servers, not clients. Requests are pre-serialized bytes (no client-side protobuf work)
and responses stay bytes, which keeps the client's CPU per call small on a machine whose cores
the server also needs.

* closed loop (``rate=None``): ``concurrency`` calls in flight, each starting when one ends;
  measures the maximum throughput;
* open loop (``rate`` req/s): calls start on a fixed schedule whatever the server does, and a
  call's latency is counted from its *scheduled* start, so queueing shows (no coordinated
  omission).

Only calls that complete inside the measurement window (after the warm-up) count.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import grpc

from bench.common import latency_summary_ms

MAX_OUTSTANDING = 4000
"""Open loop: calls beyond this many in flight per process are dropped (and counted)."""


@dataclass(frozen=True)
class LoadSpec:
    """One load: where, which method, with which token, which request bodies, how hard."""

    target: str
    method: str
    token: str
    requests: tuple[bytes, ...]
    cycle: bool  # True: reuse the bodies (idempotent no-op); False: each body is sent once
    concurrency: int = 32
    rate: float | None = None  # open loop, total req/s over all processes; None: closed loop
    ca_pem: bytes | None = None  # None: plaintext (loopback only)
    timeout: float = 30.0
    keep_responses: bool = False  # return the response bytes (to set up a later load)


@dataclass(frozen=True)
class _Window:
    start: float  # time.monotonic(); the clock is system-wide on Linux, so shared by processes
    measure_from: float
    measure_to: float


@dataclass
class _WorkerResult:
    samples: list[tuple[float, float]] = field(default_factory=list)  # (start, done) of OK calls
    errors: Counter[str] = field(default_factory=Counter)
    exhausted: bool = False
    ended_at: float = 0.0  # when this worker stopped sending (bodies exhausted or window over)
    dropped: int = 0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    responses: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class LoadResult:
    """Merged outcome of one load over the measurement window."""

    completed: int
    seconds: float
    latencies: tuple[float, ...]
    errors: dict[str, int]
    exhausted: bool
    dropped: int
    offered_rps: float | None
    server_cpu_seconds: float
    server_cpu_calls: int
    client_cpu_util: float
    responses: tuple[bytes, ...] = ()

    @property
    def rps(self) -> float:
        """Completed calls per second."""
        return self.completed / self.seconds

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: req/s, latency percentiles (ms), errors, CPU per call."""
        return {
            "offered_rps": None if self.offered_rps is None else round(self.offered_rps, 1),
            "rps": round(self.rps, 1),
            **latency_summary_ms(self.latencies),
            "completed": self.completed,
            "errors": self.errors,
            "dropped": self.dropped,
            "exhausted_requests": self.exhausted,
            "seconds": round(self.seconds, 2),
            "server_cpu_us_per_call": round(
                1e6 * self.server_cpu_seconds / max(self.server_cpu_calls, 1)
            ),
            "client_cpu_util": round(self.client_cpu_util, 2),
        }


def _shard(spec: LoadSpec, n: int, i: int) -> LoadSpec:
    requests = spec.requests if spec.cycle else spec.requests[i::n]
    return LoadSpec(
        target=spec.target,
        method=spec.method,
        token=spec.token,
        requests=requests,
        cycle=spec.cycle,
        concurrency=max(1, spec.concurrency // n),
        rate=None if spec.rate is None else spec.rate / n,
        ca_pem=spec.ca_pem,
        timeout=spec.timeout,
        keep_responses=spec.keep_responses,
    )


def run_load(spec: LoadSpec, *, processes: int, warmup: float, seconds: float) -> LoadResult:
    """Drive ``spec`` from ``processes`` spawned clients; measure ``seconds`` after ``warmup``."""
    ctx = multiprocessing.get_context("spawn")  # never fork a process that runs gRPC threads
    pipes: list[Connection] = []
    workers = []
    for i in range(processes):
        parent, child = ctx.Pipe()
        worker = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        worker.start()
        parent.send(_shard(spec, processes, i))
        pipes.append(parent)
        workers.append(worker)
    for pipe in pipes:
        if not pipe.poll(120) or pipe.recv() != "ready":
            raise RuntimeError("a load worker did not connect")
    start = time.monotonic() + 0.1
    window = _Window(start, start + warmup, start + warmup + seconds)
    for pipe in pipes:
        pipe.send(window)
    # The server runs in this process: its CPU time from the window's start until every worker
    # is done, over the calls completed meanwhile, is its cost per call.
    time.sleep(max(0.0, window.measure_from - time.monotonic()))
    cpu0 = time.process_time()
    results: list[_WorkerResult] = [pipe.recv() for pipe in pipes]
    cpu = time.process_time() - cpu0
    for worker in workers:
        worker.join(10)
    return _merge(results, window, spec, cpu)


def _merge(results: list[_WorkerResult], window: _Window, spec: LoadSpec, cpu: float) -> LoadResult:
    # A worker that ran out of bodies ends the window early: after that the load is lower.
    end = min([window.measure_to, *(r.ended_at for r in results if r.exhausted)])
    end = max(end, window.measure_from + 1e-3)
    samples = [s for r in results for s in r.samples]
    latencies = [done - began for began, done in samples if window.measure_from <= done <= end]
    errors: Counter[str] = Counter()
    for r in results:
        errors.update(r.errors)
    return LoadResult(
        completed=len(latencies),
        seconds=end - window.measure_from,
        latencies=tuple(latencies),
        errors=dict(errors),
        exhausted=any(r.exhausted for r in results),
        dropped=sum(r.dropped for r in results),
        offered_rps=spec.rate,
        server_cpu_seconds=cpu,
        server_cpu_calls=sum(1 for _, done in samples if done >= window.measure_from),
        client_cpu_util=sum(r.cpu_seconds / max(r.wall_seconds, 1e-9) for r in results),
        responses=tuple(body for r in results for body in r.responses),
    )


# -- worker process ------------------------------------------------------------------------------


def _worker_main(pipe: Connection) -> None:
    spec: LoadSpec = pipe.recv()
    pipe.send(asyncio.run(_run_worker(spec, pipe)))


async def _run_worker(spec: LoadSpec, pipe: Connection) -> _WorkerResult:
    if spec.ca_pem is None:
        channel = grpc.aio.insecure_channel(spec.target)
    else:
        channel = grpc.aio.secure_channel(spec.target, grpc.ssl_channel_credentials(spec.ca_pem))
    async with channel:
        await asyncio.wait_for(channel.channel_ready(), 60)
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(spec.method)
        pipe.send("ready")
        window: _Window = pipe.recv()
        result = _WorkerResult()
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(max(0.0, window.start - time.monotonic()))
        bodies: Iterator[bytes] = (
            itertools.cycle(spec.requests) if spec.cycle else iter(spec.requests)
        )
        metadata = (("authorization", f"Bearer {spec.token}"),)

        async def one(body: bytes, began: float) -> None:
            try:
                response = await call(body, metadata=metadata, timeout=spec.timeout)
            except grpc.aio.AioRpcError as exc:
                result.errors[exc.code().name] += 1
                return
            result.samples.append((began, time.monotonic()))
            if spec.keep_responses:
                result.responses.append(response)

        if spec.rate is None:
            await _closed_loop(spec, window, bodies, one, result)
        else:
            await _open_loop(spec.rate, window, bodies, one, result)
        result.cpu_seconds = time.process_time() - cpu0
        result.wall_seconds = time.monotonic() - wall0
        return result


async def _closed_loop(
    spec: LoadSpec, window: _Window, bodies: Iterator[bytes], one: Any, result: _WorkerResult
) -> None:
    async def user() -> None:
        while (began := time.monotonic()) < window.measure_to:
            body = next(bodies, None)
            if body is None:
                result.exhausted = True
                result.ended_at = min(result.ended_at or began, began)
                return
            await one(body, began)

    await asyncio.gather(*(user() for _ in range(spec.concurrency)))


async def _open_loop(
    rate: float, window: _Window, bodies: Iterator[bytes], one: Any, result: _WorkerResult
) -> None:
    tasks: set[asyncio.Task[None]] = set()
    for i in itertools.count():
        scheduled = window.start + i / rate
        if scheduled >= window.measure_to:
            break
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        body = next(bodies, None)
        if body is None:
            result.exhausted = True
            result.ended_at = time.monotonic()
            break
        if len(tasks) >= MAX_OUTSTANDING:
            result.dropped += 1
            continue
        task = asyncio.create_task(one(body, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
