"""``AsyncRegulatorClient``: ``sdk.RegulatorClient`` for ``asyncio`` (same methods, awaited).

The verifier key is pinned the same way and every checkpoint, inclusion and consistency proof is
checked with the same code (``protocol.merkle``, ``protocol.note``): RFC 9162 §2.1.3
and §2.1.4, C2SP tlog-checkpoint and signed-note. ``open_checkpoint`` does no I/O and stays a
plain method.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any

import grpc.aio

from attestgate.protocol.cosignature import WitnessPolicy
from attestgate.protocol.merkle import ProofError, leaf_hash
from attestgate.protocol.merkle import verify_consistency as _check_consistency
from attestgate.protocol.merkle import verify_inclusion as _check_inclusion
from attestgate.sdk._internal import convert, history, opening
from attestgate.sdk._internal.base import PAGE_SIZE
from attestgate.sdk.aio._base import (
    DEFAULT_TIMEOUT,
    AsyncClientBase,
    TokenSource,
    asset_history_async,
    follow_pages_async,
)
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

__all__ = ["AsyncRegulatorClient"]


class AsyncRegulatorClient(AsyncClientBase):
    """Checkpoints, entries and proofs of the audit log, verified against a pinned key.

    The parameters are ``sdk.RegulatorClient``'s; ``retry`` replaces the default retry policy.
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
        channel: grpc.aio.Channel | None = None,
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

    async def force_release(
        self, attestation: Any, *, reason: str, request_id: str | None = None
    ) -> Release:
        """``RegulatorClient.force_release``: force the release of a redemption's consumption."""
        request = convert.release_request(attestation, reason=reason, request_id=request_id)
        return convert.release(await self._unary(self._attestations.ReleaseRedemption, request))

    async def asset_history(
        self, domain: str, asset_id: str, *, verify: bool = True
    ) -> list[AssetEvent]:
        """``RegulatorClient.asset_history``: an asset's events in log order, verified."""
        opener = self._opener if verify else None
        return await asset_history_async(
            lambda request: self._unary(self._records.GetAssetHistory, request),
            history.history_request(domain, asset_id),
            opener,
        )

    @property
    def origin(self) -> str:
        """The log origin every checkpoint must carry."""
        return self._origin

    def open_checkpoint(self, text: str) -> Checkpoint:
        """Verify a signed checkpoint note (from a file, a receipt, another party)."""
        return opening.open_checkpoint(text, self._verifier, self._origin, self.witnesses)

    async def checkpoint(self) -> Checkpoint:
        """The latest checkpoint, its signature verified against the pinned key."""
        message = await self._unary(self._stub.GetCheckpoint, audit_pb2.GetCheckpointRequest())
        return self._checked(message)

    async def watch_checkpoints(
        self, *, timeout: float | None = None
    ) -> AsyncGenerator[Checkpoint, None]:
        """Each new checkpoint as the log signs it (the latest first), each verified; reopened
        when the gateway ends the stream, skipping a repeat of the checkpoint yielded last."""
        last: Checkpoint | None = None
        request = audit_pb2.WatchCheckpointsRequest
        async for message in self._watch(self._stub.WatchCheckpoints, request, timeout):
            checkpoint = self._checked(message)
            if checkpoint != last:
                last = checkpoint
                yield checkpoint

    async def entries(self, start: int, end: int) -> list[LogEntry]:
        """Leaves ``start <= index < end`` (all pages), unverified."""
        if not 0 <= start <= end:
            raise ValueError("need 0 <= start <= end")
        if start == end:
            return []

        async def fetch(token: str) -> tuple[list[LogEntry], str]:
            request = audit_pb2.ListEntriesRequest(
                start=start, end=end, page_size=PAGE_SIZE, page_token=token
            )
            response = await self._unary(self._stub.ListEntries, request)
            return [convert.log_entry(e) for e in response.entries], response.next_page_token

        found = await follow_pages_async(fetch)
        if [e.index for e in found] != list(range(start, end)):
            raise LogVerificationError(f"the log did not return exactly entries [{start}, {end})")
        return found

    async def inclusion_proof(self, index: int, tree_size: int) -> InclusionProof:
        """The RFC 9162 §2.1.3 proof of leaf ``index`` in the tree of ``tree_size`` (unchecked)."""
        request = audit_pb2.GetInclusionProofRequest(leaf_index=index, tree_size=tree_size)
        return convert.inclusion_proof(await self._unary(self._stub.GetInclusionProof, request))

    async def consistency_proof(self, old_size: int, new_size: int) -> ConsistencyProof:
        """The RFC 9162 §2.1.4 proof between two tree sizes, ``1 <= old_size <= new_size``
        (unchecked); other sizes raise ``InvalidArgument``, a ``new_size`` beyond the log
        ``OutOfRange``."""
        request = audit_pb2.GetConsistencyProofRequest(old_size=old_size, new_size=new_size)
        response = await self._unary(self._stub.GetConsistencyProof, request)
        return convert.consistency_proof(response)

    async def verify_inclusion(
        self, entry: LogEntry | bytes, index: int, checkpoint: Checkpoint
    ) -> InclusionProof:
        """Check that ``entry`` is leaf ``index`` of ``checkpoint``'s tree; the checked proof."""
        data = entry.data if isinstance(entry, LogEntry) else bytes(entry)
        if not 0 <= index < checkpoint.size:
            raise LogVerificationError(f"index {index} is outside tree size {checkpoint.size}")
        proof = await self.inclusion_proof(index, checkpoint.size)
        try:
            _check_inclusion(
                index=index,
                size=checkpoint.size,
                leaf_hash=leaf_hash(data),
                proof=proof.hashes,
                root=checkpoint.root_hash,
            )
        except ProofError as exc:
            raise LogVerificationError(f"inclusion proof failed: {exc}") from None
        return proof

    async def verify_consistency(self, old: Checkpoint, new: Checkpoint) -> ConsistencyProof:
        """Check that ``new`` extends ``old`` (append-only); raises ``SplitViewError`` if not."""
        if old.size > new.size:
            raise SplitViewError(f"tree size went back from {old.size} to {new.size}")
        if old.size == 0:  # every tree extends the empty one; the gateway refuses old_size 0
            proof = ConsistencyProof(old_size=0, new_size=new.size, hashes=())
        else:
            proof = await self.consistency_proof(old.size, new.size)
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
