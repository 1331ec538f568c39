"""The gateway's side of witnessing: submit each new checkpoint to every configured witness
(c2sp.org/tlog-witness ``add-checkpoint``) and store the cosignatures they return.

One thread per witness, so witnesses are asked concurrently and a slow or dead one delays only
itself; nothing here runs on the audit writer's thread or holds a lock an append needs (the
writer only records the checkpoint size it signed and wakes the threads). A request has a
timeout (``witness_timeout``); a failed one is retried after 0.5 s, 1 s, 2 s ... up to
``witness_retry_max``, always with the newest checkpoint, so a witness that comes back is caught
up in one request (a consistency proof from the size it last cosigned). A 409 answer names the
witness's size: the request is sent again from that size at once.

Across replicas (several gateways on one PostgreSQL) a replica submits only the checkpoints its
own writer signed, and gives a checkpoint up as soon as a newer one is stored (the replica that
signed it submits that one); the old size comes from the cosignatures already stored, so another
replica's progress is reused. Every replica serves the stored cosignatures
(``audit.cosignatures``). Only lines that verify against the witness's configured keys are
stored.
"""

from __future__ import annotations

import http.client
import logging
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from attestgate.audit.cosignatures import insert_cosignatures, witness_sizes
from attestgate.audit.sequencer import BatchReport, Tx
from attestgate.audit.store import StoredCheckpoint, latest_checkpoint
from attestgate.audit.tree import AuditLog
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.ops.config import WitnessEndpoint
from attestgate.gateway.persistence.backend import Storage
from attestgate.protocol.cosignature import (
    AddCheckpointRequest,
    CosignatureError,
    parse_tlog_size,
)
from attestgate.protocol.note import NoteError, format_signature_line, split_note

log = logging.getLogger(__name__)

FIRST_RETRY = 0.5
MAX_CONFLICTS = 3  # 409s answered in a row before waiting (another submitter races this one)
_MAX_ANSWER = 1 << 16


class WitnessObserver(Protocol):
    """Hears each submission's outcome (the gateway's metrics)."""

    def witness_outcome(self, witness: str, outcome: str, seconds: float | None) -> None:
        """``outcome``: cosigned, conflict, refused or unreachable; ``seconds``: from the
        checkpoint's signing to its cosignatures stored (cosigned only)."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer from a witness."""

    status: int
    body: bytes


class WitnessConnection:
    """One kept-alive HTTP(S) connection to a witness (reopened after any failure)."""

    def __init__(self, endpoint: WitnessEndpoint, timeout: float) -> None:
        parts = urllib.parse.urlsplit(endpoint.url)
        self._https = parts.scheme == "https"
        self._netloc, self._path = parts.netloc, parts.path.rstrip("/") + "/add-checkpoint"
        self._timeout = timeout
        self._context = None
        if self._https:
            ca = str(endpoint.ca_file) if endpoint.ca_file else None
            self._context = ssl.create_default_context(cafile=ca)
        self._conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes) -> Answer:
        """``POST <url>/add-checkpoint``; a network failure raises ``OSError``."""
        try:
            conn = self._conn or self._open()
            conn.request("POST", self._path, body=body)
            response = conn.getresponse()
            answer = Answer(response.status, response.read(_MAX_ANSWER))
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise OSError(str(exc) or type(exc).__name__) from None
        if response.will_close:
            self.close()
        return answer

    def _open(self) -> http.client.HTTPConnection:
        if self._https:
            self._conn = http.client.HTTPSConnection(
                self._netloc, timeout=self._timeout, context=self._context
            )
        else:
            self._conn = http.client.HTTPConnection(self._netloc, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def verified_rows(
    endpoint: WitnessEndpoint, checkpoint: StoredCheckpoint, body: bytes
) -> list[tuple[str, str, str]]:
    """The ``(witness, key id, line)`` rows of the answer's lines that verify against the
    witness's keys; other lines are dropped."""
    text, _ = split_note(checkpoint.note)
    lines = body.decode("utf-8", "replace")
    _, signatures = split_note("x\n\n" + "".join(f"{ln}\n" for ln in lines.splitlines() if ln))
    rows = []
    for signature in signatures:
        for key in endpoint.keys:
            if key.matches(signature):
                try:
                    key.verify(text, signature)
                except CosignatureError as exc:
                    log.warning("witness %s: cosignature does not verify: %s", endpoint.name, exc)
                    continue
                line = format_signature_line(signature.name, signature.key_id, signature.signature)
                rows.append((endpoint.name, key.key_id.hex(), line))
    return rows


class _Submitter:
    """Submits to one witness from its own thread (see the module's doc)."""

    def __init__(self, collector: CosignatureCollector, endpoint: WitnessEndpoint) -> None:
        self.endpoint = endpoint
        self.cosigned = 0  # the largest size this witness is known to have cosigned
        self._collector = collector
        self._http = WitnessConnection(endpoint, collector.timeout)
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"witness-{endpoint.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def join(self, timeout: float) -> None:
        self._wake.set()
        self._thread.join(timeout)
        self._http.close()

    def _run(self) -> None:
        delay = 0.0
        stopping = self._collector.stopping
        while not stopping.is_set():
            if delay:
                stopping.wait(delay)  # a failing witness is not asked again before its time
            else:
                self._wake.wait()
            self._wake.clear()
            if stopping.is_set():
                return
            try:
                done = self._submit()
            except Exception:  # never let one bad answer end the thread
                log.exception("witness %s: submission failed", self.endpoint.name)
                done = False
            retry_max = self._collector.retry_max
            delay = 0.0 if done else min(retry_max, max(FIRST_RETRY, delay * 2))

    def _submit(self) -> bool:
        """Submit the newest checkpoint this replica signed; True when nothing is left to do."""
        target = self._collector.target
        conn = self._collector.storage.read()
        newest = latest_checkpoint(conn)
        if target == 0 or newest is None or newest.size > target:
            return True  # nothing signed here yet, or a newer one (its signer submits it)
        self.cosigned = max(self.cosigned, witness_sizes(conn).get(self.endpoint.name, 0))
        for _ in range(MAX_CONFLICTS):
            if self.cosigned >= newest.size:
                return True
            outcome = self._send(newest, self.cosigned)
            if outcome != "conflict":
                return outcome == "cosigned"
        return False

    def _send(self, checkpoint: StoredCheckpoint, old: int) -> str:
        name, collector = self.endpoint.name, self._collector
        proof: list[bytes] = []
        if 0 < old < checkpoint.size:
            proof = collector.log.consistency_proof(collector.storage.read(), old, checkpoint.size)
        body = AddCheckpointRequest(old, tuple(proof), checkpoint.note).encode()
        try:
            answer = self._http.post(body)
        except OSError as exc:
            return self._behind(checkpoint, "unreachable", f"unreachable ({exc})")
        if answer.status == 409:
            try:
                self.cosigned = parse_tlog_size(answer.body)
            except CosignatureError:
                return self._behind(checkpoint, "refused", "409 without a tlog size")
            collector.outcome(name, "conflict", None)
            return "conflict"
        if answer.status != 200:
            text = answer.body[:200].decode("utf-8", "replace").strip()
            return self._behind(checkpoint, "refused", f"refused with {answer.status}: {text}")
        try:
            rows = verified_rows(self.endpoint, checkpoint, answer.body)
        except NoteError as exc:
            return self._behind(checkpoint, "refused", f"malformed cosignatures ({exc})")
        if not rows:
            return self._behind(checkpoint, "refused", "no cosignature of its configured keys")
        collector.store(checkpoint.size, rows)
        self.cosigned = checkpoint.size
        collector.outcome(name, "cosigned", collector.since_signed(checkpoint.size))
        return "cosigned"

    def _behind(self, checkpoint: StoredCheckpoint, outcome: str, why: str) -> str:
        log.warning(
            "witness %s is behind: it cosigned size %d, the log is at %d; %s",
            self.endpoint.name,
            self.cosigned,
            checkpoint.size,
            why,
        )
        self._collector.outcome(self.endpoint.name, outcome, None)
        return outcome


class CosignatureCollector:
    """Submits the checkpoints this replica signs to every witness; ``batch_committed`` is the
    audit sequencer's ``on_batch`` hook."""

    def __init__(
        self,
        *,
        storage: Storage,
        log: AuditLog,
        clock: Clock,
        witnesses: tuple[WitnessEndpoint, ...],
        timeout: float,
        retry_max: float,
        observer: WitnessObserver | None = None,
    ) -> None:
        self.storage = storage
        self.log = log
        self.timeout = timeout
        self.retry_max = retry_max
        self.stopping = threading.Event()
        self.target = 0  # the newest checkpoint size this replica signed
        self._clock = clock
        self._observer = observer
        self._signed_at: dict[int, float] = {}
        self._lock = threading.Lock()
        self.submitters = [_Submitter(self, endpoint) for endpoint in witnesses]

    def start(self) -> None:
        """Start the submitters; the newest stored checkpoint is submitted at once (it may have
        been signed before a restart and never cosigned)."""
        newest = latest_checkpoint(self.storage.read())
        self.target = 0 if newest is None else newest.size
        for submitter in self.submitters:
            submitter.start()
            submitter.wake()

    def stop(self) -> None:
        self.stopping.set()
        for submitter in self.submitters:
            submitter.join(self.timeout + 1)

    def batch_committed(self, report: BatchReport) -> None:
        """The writer committed a batch: when it signed a checkpoint, submit it."""
        if report.checkpoint is None:
            return
        with self._lock:
            self.target = max(self.target, report.checkpoint)
            self._signed_at = {report.checkpoint: time.monotonic()}
        for submitter in self.submitters:
            submitter.wake()

    def since_signed(self, size: int) -> float | None:
        with self._lock:
            started = self._signed_at.get(size)
        return None if started is None else time.monotonic() - started

    def store(self, size: int, rows: list[tuple[str, str, str]]) -> None:
        """Store verified cosignature rows (a unit of work without audit events)."""

        def unit(tx: Tx) -> None:
            insert_cosignatures(tx.conn, size, rows, self._clock.now())

        self.storage.write(unit)

    def outcome(self, witness: str, outcome: str, seconds: float | None) -> None:
        if self._observer is not None:
            self._observer.witness_outcome(witness, outcome, seconds)

    def behind(self) -> dict[str, int]:
        """Entries each witness is behind the newest checkpoint this replica signed."""
        return {s.endpoint.name: max(0, self.target - s.cosigned) for s in self.submitters}


def chain(*hooks: Callable[[BatchReport], None] | None) -> Callable[[BatchReport], None] | None:
    """One ``on_batch`` hook calling each given one in turn (None when none is given)."""
    present = [hook for hook in hooks if hook is not None]
    if not present:
        return None

    def hook(report: BatchReport) -> None:
        for each in present:
            each(report)

    return hook
