"""Regulators read the audit log and verify it without trusting the gateway operator.

``RegulatorClient`` pins the log's verifier key (C2SP vkey, https://c2sp.org/signed-note) and
checks every checkpoint's signature (https://c2sp.org/tlog-checkpoint) before returning it;
``verify_inclusion`` and ``verify_consistency`` fetch RFC 9162 §2.1.3 / §2.1.4 proofs and check
them locally. ``LogMonitor`` remembers the last verified checkpoint in a file and refuses any new
one that does not extend it (split-view detection, DESIGN.md "Audit log").
``export_receipt`` / ``verify_receipt`` write and check one event as a C2SP tlog-proof.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any, Protocol

import grpc

from attestgate.protocol.cosignature import WitnessPolicy
from attestgate.protocol.merkle import ProofError, leaf_hash
from attestgate.protocol.merkle import verify_consistency as _check_consistency
from attestgate.protocol.merkle import verify_inclusion as _check_inclusion
from attestgate.sdk._internal import convert, history, opening, receipt
from attestgate.sdk._internal.base import DEFAULT_TIMEOUT, PAGE_SIZE, ClientBase, follow_pages
from attestgate.sdk._internal.channel import TokenSource
from attestgate.sdk.log_errors import LogVerificationError, SplitViewError
from attestgate.sdk.retry import RetryPolicy
from attestgate.sdk.tls import TlsConfig
from attestgate.sdk.types import (
    AssetEvent,
    Checkpoint,
    ConsistencyProof,
    InclusionProof,
    LogEntry,
    Release,
)
from attestgate.v1 import attestation_pb2_grpc, audit_pb2, audit_pb2_grpc, record_pb2_grpc

__all__ = [
    "LogMonitor",
    "RegulatorClient",
    "VerifiedLog",
    "export_receipt",
    "verify_receipt",
]


class RegulatorClient(ClientBase):
    """Checkpoints, entries and proofs of the audit log, verified against a pinned key.

    ``token`` is a bearer token with role ``regulator``; ``vkey`` the log's verifier key as
    ``attestgate audit vkey`` prints it (obtained out of band, never from the gateway);
    ``origin`` the log's name, by default the vkey's key name (the spec's recommendation);
    ``witnesses`` a witness policy (``WitnessPolicy(vkeys, k)``): every checkpoint must then
    carry k valid witness cosignatures, or ``WitnessPolicyError`` names the missing and bad ones.
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        token: TokenSource,
        vkey: str,
        tls: TlsConfig | None = None,
        insecure: bool = False,
        origin: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        options: Sequence[tuple[str, Any]] = (),
        retry: RetryPolicy | None = None,
        channel: grpc.Channel | None = None,
        witnesses: WitnessPolicy | None = None,
    ) -> None:
        self._verifier = opening.verifier(vkey)  # refuse a bad key before opening a channel
        self._origin = origin or self._verifier.name
        self.witnesses = witnesses
        super().__init__(
            target,
            token=token,
            tls=tls,
            insecure=insecure,
            timeout=timeout,
            options=options,
            retry=retry,
            channel=channel,
        )
        self._stub = audit_pb2_grpc.AuditServiceStub(self._channel)
        self._attestations = attestation_pb2_grpc.AttestationServiceStub(self._channel)
        self._records = record_pb2_grpc.RecordServiceStub(self._channel)
        self._opener = history.wire_checkpoint_opener(self._verifier, self._origin, witnesses)

    def force_release(
        self, attestation: Any, *, reason: str, request_id: str | None = None
    ) -> Release:
        """Force the release of what a bank's redemption consumed (a pledge, or income), for
        ``reason`` ``COURT_ORDER``, ``SUPERVISORY_ORDER`` or ``CORRECTION``; the audit event
        names this regulator, the reason and the pledgee. ``attestation``: its jti (or an object
        with ``.jti``). Releasing again answers the first release."""
        request = convert.release_request(attestation, reason=reason, request_id=request_id)
        return convert.release(self._unary(self._attestations.ReleaseRedemption, request))

    def asset_history(self, domain: str, asset_id: str, *, verify: bool = True) -> list[AssetEvent]:
        """Every event of an asset (a receipt or patent number of ``domain``) in log order:
        registered, versions, transfers, pledges, releases, erasure; each leaf as the log holds
        it. With ``verify`` (the default) every page's checkpoint is checked against the pinned
        key and every event's inclusion proof against it (``LogVerificationError``)."""
        return history.asset_history(
            lambda request: self._unary(self._records.GetAssetHistory, request),
            history.history_request(domain, asset_id),
            self._opener if verify else None,
        )

    @property
    def origin(self) -> str:
        """The log origin every checkpoint must carry."""
        return self._origin

    def open_checkpoint(self, text: str) -> Checkpoint:
        """Verify a signed checkpoint note (from a file, a receipt, another party), and the
        witness policy when the client has one."""
        return opening.open_checkpoint(text, self._verifier, self._origin, self.witnesses)

    def checkpoint(self) -> Checkpoint:
        """The latest checkpoint, its signature verified against the pinned key."""
        message = self._unary(self._stub.GetCheckpoint, audit_pb2.GetCheckpointRequest())
        return self._checked(message)

    def watch_checkpoints(
        self, *, timeout: float | None = None
    ) -> Generator[Checkpoint, None, None]:
        """Each new checkpoint as the log signs it (the latest first), each verified. Closing
        the iterator cancels the stream; a bad checkpoint raises ``LogVerificationError``. When
        the gateway ends the stream (its stream lifetime), it is reopened; the latest checkpoint
        it then sends first is skipped if it is the one yielded last."""
        last: Checkpoint | None = None
        request = audit_pb2.WatchCheckpointsRequest
        for message in self._watch(self._stub.WatchCheckpoints, request, timeout):
            checkpoint = self._checked(message)
            if checkpoint != last:
                last = checkpoint
                yield checkpoint

    def entries(self, start: int, end: int) -> list[LogEntry]:
        """Leaves ``start <= index < end`` (all pages). Unverified: check them with
        ``verify_inclusion`` against a checkpoint."""
        if not 0 <= start <= end:
            raise ValueError("need 0 <= start <= end")
        if start == end:
            return []

        def fetch(token: str) -> tuple[list[LogEntry], str]:
            request = audit_pb2.ListEntriesRequest(
                start=start, end=end, page_size=PAGE_SIZE, page_token=token
            )
            response = self._unary(self._stub.ListEntries, request)
            return [convert.log_entry(e) for e in response.entries], response.next_page_token

        found = follow_pages(fetch)
        if [e.index for e in found] != list(range(start, end)):
            raise LogVerificationError(f"the log did not return exactly entries [{start}, {end})")
        return found

    def inclusion_proof(self, index: int, tree_size: int) -> InclusionProof:
        """The RFC 9162 §2.1.3 proof of leaf ``index`` in the tree of ``tree_size`` (unchecked)."""
        request = audit_pb2.GetInclusionProofRequest(leaf_index=index, tree_size=tree_size)
        return convert.inclusion_proof(self._unary(self._stub.GetInclusionProof, request))

    def consistency_proof(self, old_size: int, new_size: int) -> ConsistencyProof:
        """The RFC 9162 §2.1.4 proof between two tree sizes, ``1 <= old_size <= new_size``
        (unchecked); other sizes raise ``InvalidArgument``, a ``new_size`` beyond the log
        ``OutOfRange``."""
        request = audit_pb2.GetConsistencyProofRequest(old_size=old_size, new_size=new_size)
        return convert.consistency_proof(self._unary(self._stub.GetConsistencyProof, request))

    def verify_inclusion(
        self, entry: LogEntry | bytes, index: int, checkpoint: Checkpoint
    ) -> InclusionProof:
        """Check that ``entry`` (a ``LogEntry`` or the leaf bytes) is leaf ``index`` of the tree
        ``checkpoint`` commits to; raises ``LogVerificationError``. Returns the checked proof."""
        data = entry.data if isinstance(entry, LogEntry) else bytes(entry)
        if not 0 <= index < checkpoint.size:
            raise LogVerificationError(f"index {index} is outside tree size {checkpoint.size}")
        proof = self.inclusion_proof(index, checkpoint.size)
        history.check_inclusion(data, proof, checkpoint)
        return proof

    def verify_consistency(self, old: Checkpoint, new: Checkpoint) -> ConsistencyProof:
        """Check that ``new`` extends ``old`` (append-only); raises ``SplitViewError`` if not."""
        if old.size > new.size:
            raise SplitViewError(f"tree size went back from {old.size} to {new.size}")
        if old.size == 0:  # every tree extends the empty one; the gateway refuses old_size 0
            proof = ConsistencyProof(old_size=0, new_size=new.size, hashes=())
        else:
            proof = self.consistency_proof(old.size, new.size)
        try:
            _check_consistency(
                old_size=old.size,
                new_size=new.size,
                old_root=old.root_hash,
                new_root=new.root_hash,
                proof=proof.hashes,
            )
        except ProofError as exc:
            raise SplitViewError(f"checkpoints are not consistent: {exc}") from None
        return proof

    def _checked(self, message: audit_pb2.Checkpoint) -> Checkpoint:
        return self._opener(message)


class VerifiedLog(Protocol):
    """What ``LogMonitor`` follows: ``RegulatorClient`` (gRPC, with a token) or
    ``attestgate.sdk.tiles.TiledLogClient`` (C2SP tlog-tiles over HTTPS, no token)."""

    def checkpoint(self) -> Checkpoint:
        """The latest checkpoint, verified."""
        ...

    def open_checkpoint(self, text: str) -> Checkpoint:
        """Verify a signed checkpoint note."""
        ...

    def entries(self, start: int, end: int) -> list[LogEntry]:
        """Leaves ``start <= index < end``."""
        ...

    def verify_inclusion(
        self, entry: LogEntry | bytes, index: int, checkpoint: Checkpoint
    ) -> InclusionProof:
        """Check a leaf against a checkpoint."""
        ...

    def verify_consistency(self, old: Checkpoint, new: Checkpoint) -> ConsistencyProof:
        """Check that ``new`` extends ``old``."""
        ...


class LogMonitor:
    """Follows the log: each new checkpoint must be consistent with the last one verified.

    The last verified checkpoint (its signed note) is kept in ``state_file``; the first
    ``update`` trusts what it sees (trust on first use). Keep the file across runs and share
    it between monitors of the same log. ``client`` is a ``RegulatorClient`` or, to follow the
    log through its tiles without a token, an ``attestgate.sdk.tiles.TiledLogClient``.
    ``witnesses``: a witness policy every new checkpoint must meet (``WitnessPolicyError``, the
    state file unchanged), on top of the client's own.
    """

    def __init__(
        self, client: VerifiedLog, state_file: Path, *, witnesses: WitnessPolicy | None = None
    ) -> None:
        self._client = client
        self._state_file = Path(state_file)
        self.witnesses = witnesses

    @property
    def state_file(self) -> Path:
        """Where the last verified checkpoint is kept."""
        return self._state_file

    def last_verified(self) -> Checkpoint | None:
        """The checkpoint in the state file, verified again (``None`` before the first run)."""
        try:
            text = self._state_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return self._client.open_checkpoint(text)

    def update(self) -> Checkpoint:
        """Fetch and verify the latest checkpoint and prove it extends the stored one, then
        store it. ``SplitViewError`` (state file unchanged) when it does not; an older but
        consistent checkpoint (a lagging replica) leaves the state as it is and returns it."""
        latest = self._client.checkpoint()
        opening.require_witnesses(latest.text, self.witnesses)
        previous = self.last_verified()
        if previous is not None:
            if latest.size < previous.size:
                self._client.verify_consistency(latest, previous)
                if (
                    latest.size == 0
                ):  # no proof from the empty tree: the log must still hold previous
                    (tail,) = self._client.entries(previous.size - 1, previous.size)
                    self._client.verify_inclusion(tail, tail.index, previous)
                return previous
            self._client.verify_consistency(previous, latest)
        if previous is None or latest.text != previous.text:
            self._store(latest)
        return latest

    def _store(self, checkpoint: Checkpoint) -> None:
        # Write a sibling temp file, fsync, then rename: readers see the old or the new state.
        directory = self._state_file.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{self._state_file.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(checkpoint.text)
                handle.flush()
                os.fsync(handle.fileno())
            Path(temp).replace(self._state_file)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def export_receipt(
    client: RegulatorClient, index: int, *, checkpoint: Checkpoint | None = None
) -> str:
    """Event ``index`` as a C2SP tlog-proof (``c2sp.org/tlog-proof@v1``), checked before it is
    returned: the leaf in ``extra``, its inclusion proof, and the signed ``checkpoint``
    (default: the latest)."""
    checkpoint = checkpoint or client.checkpoint()
    (entry,) = client.entries(index, index + 1)
    proof = client.verify_inclusion(entry, index, checkpoint)
    return receipt.format_receipt(
        index=index, proof=proof.hashes, checkpoint_note=checkpoint.text, extra=entry.data
    )


def verify_receipt(
    text: str, *, vkey: str, origin: str | None = None, witnesses: WitnessPolicy | None = None
) -> tuple[LogEntry, Checkpoint]:
    """Check a tlog-proof made by ``export_receipt`` offline: the checkpoint's signature under
    ``vkey``, the witness policy ``witnesses`` (the receipt's checkpoint carries the
    cosignatures it was served with) and the inclusion of the leaf carried in ``extra``.
    Returns the entry and the checkpoint; raises ``LogVerificationError`` (``WitnessPolicyError``
    when the policy is not met)."""
    try:
        parsed = receipt.parse_receipt(text)
    except receipt.ReceiptFormatError as exc:
        raise LogVerificationError(f"malformed receipt: {exc}") from None
    if parsed.extra is None:
        raise LogVerificationError("the receipt carries no leaf data (extra line)")
    verifier = opening.verifier(vkey)
    checkpoint = opening.open_checkpoint(
        parsed.checkpoint_note, verifier, origin or verifier.name, witnesses
    )
    try:
        _check_inclusion(
            index=parsed.index,
            size=checkpoint.size,
            leaf_hash=leaf_hash(parsed.extra),
            proof=parsed.proof,
            root=checkpoint.root_hash,
        )
    except ProofError as exc:
        raise LogVerificationError(f"receipt inclusion proof failed: {exc}") from None
    entry = convert.log_entry(audit_pb2.LogEntry(index=parsed.index, data=parsed.extra))
    return entry, checkpoint
