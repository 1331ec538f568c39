"""AuditService: the transparency log for regulators (reads only; writes come from the
sequencer)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from attestgate.audit.cosignatures import PublishedCheckpoints
from attestgate.audit.store import StoredCheckpoint
from attestgate.audit.tree import AuditLog
from attestgate.gateway.common.signals import ChangeSignal
from attestgate.gateway.persistence.storage import Storage
from attestgate.gateway.transport.services import wire
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason, invalid_argument
from attestgate.v1 import audit_pb2, audit_pb2_grpc

_WATCH_POLL_SECONDS = 1.0


def checkpoint_message(origin: str, stored: StoredCheckpoint) -> audit_pb2.Checkpoint:
    """A signed checkpoint on the wire."""
    return audit_pb2.Checkpoint(
        origin=origin, size=stored.size, root_hash=stored.root, note=stored.note
    )


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    """Checkpoints, entries and proofs (RFC 9162 / C2SP)."""

    def __init__(
        self,
        *,
        storage: Storage,
        log: AuditLog,
        commits: ChangeSignal,
        published: PublishedCheckpoints | None = None,
    ) -> None:
        self._storage = storage
        self._log = log
        self._commits = commits  # what WatchCheckpoints waits on
        self._published = published or PublishedCheckpoints()  # with its cosignatures

    def _latest(self) -> StoredCheckpoint:
        stored = self._published.latest(self._storage.read())
        if stored is None:
            raise DomainError(Reason.CHECKPOINT_NOT_FOUND, "the log has no checkpoint yet")
        return stored

    @property
    def _origin(self) -> str:
        return self._log.origin or ""

    def GetCheckpoint(
        self, request: audit_pb2.GetCheckpointRequest, context: grpc.ServicerContext
    ) -> audit_pb2.Checkpoint:
        return checkpoint_message(self._origin, self._latest())

    def ListEntries(
        self, request: audit_pb2.ListEntriesRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ListEntriesResponse:
        if request.start < 0 or request.end < 0:
            raise invalid_argument(FieldViolation("start", "start and end must not be negative"))
        if request.end and request.start > request.end:
            raise invalid_argument(
                FieldViolation(
                    "end", f"must not be below start {request.start} (got {request.end})"
                )
            )
        position = wire.decode_page_position(request.page_token)
        start = request.start if position is None else position
        end = request.end or self._latest().size
        size = wire.page_size(request.page_size)
        stop = min(end, start + size)
        entries = self._log.entries(self._storage.read(), start, stop)
        return audit_pb2.ListEntriesResponse(
            entries=[audit_pb2.LogEntry(index=i, data=d) for i, d in entries],
            next_page_token=wire.encode_page_token(str(stop) if stop < end else None),
        )

    def GetInclusionProof(
        self, request: audit_pb2.GetInclusionProofRequest, context: grpc.ServicerContext
    ) -> audit_pb2.InclusionProof:
        hashes = self._log.inclusion_proof(
            self._storage.read(), request.leaf_index, request.tree_size
        )
        return audit_pb2.InclusionProof(
            leaf_index=request.leaf_index, tree_size=request.tree_size, hashes=hashes
        )

    def GetConsistencyProof(
        self, request: audit_pb2.GetConsistencyProofRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ConsistencyProof:
        hashes = self._log.consistency_proof(
            self._storage.read(), request.old_size, request.new_size
        )
        return audit_pb2.ConsistencyProof(
            old_size=request.old_size, new_size=request.new_size, hashes=hashes
        )

    def WatchCheckpoints(
        self, request: audit_pb2.WatchCheckpointsRequest, context: grpc.ServicerContext
    ) -> Iterator[audit_pb2.Checkpoint]:
        last, note = -1, ""
        while context.is_active():
            stored = self._published.latest(self._storage.read())
            # sent again when cosignatures were added to the same checkpoint
            fresh = stored is not None and stored.size >= last and stored.note != note
            if stored is not None and fresh:
                last, note = stored.size, stored.note
                yield checkpoint_message(self._origin, stored)
            else:
                self._commits.wait(_WATCH_POLL_SECONDS)
