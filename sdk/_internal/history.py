"""Checkpoints and asset histories, verified: shared by ``RegulatorClient`` and ``BankClient``.

A checkpoint is a C2SP signed note checked against the log's pinned verifier key (its vkey,
obtained out of band); an asset's history (``GetAssetHistory``) is a list of leaves, each with
its RFC 9162 inclusion proof in the tree of the page's checkpoint: ``verified_history`` checks
the note, that the page's wire fields agree with it, that every proof leads to its root, and
that indices rise across pages. Nothing the gateway says is taken on trust.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from attestgate.protocol import note
from attestgate.protocol.cosignature import WitnessPolicy
from attestgate.protocol.merkle import ProofError, leaf_hash, verify_inclusion
from attestgate.sdk._internal import convert
from attestgate.sdk._internal.base import PAGE_SIZE, follow_pages
from attestgate.sdk._internal.opening import open_checkpoint, verifier
from attestgate.sdk.log_errors import LogVerificationError
from attestgate.sdk.types import AssetEvent, Checkpoint, InclusionProof
from attestgate.v1 import audit_pb2, record_pb2

CheckpointOpener = Callable[[audit_pb2.Checkpoint], Checkpoint]
"""Verifies a checkpoint on the wire (its signed note), or raises ``LogVerificationError``."""


def wire_checkpoint_opener(
    key: note.Verifier, origin: str, policy: WitnessPolicy | None = None
) -> CheckpointOpener:
    """Opens a wire checkpoint: the signed note (and ``policy``, when given), and its unsigned
    fields must agree with it."""

    def opened(message: audit_pb2.Checkpoint) -> Checkpoint:
        checkpoint = open_checkpoint(message.note, key, origin, policy)
        if (message.size, bytes(message.root_hash)) != (checkpoint.size, checkpoint.root_hash):
            raise LogVerificationError("checkpoint fields disagree with the signed note")
        return checkpoint

    return opened


def bank_opener(vkey: str | None, origin: str | None, verify: bool) -> CheckpointOpener | None:
    """The checkpoint opener of a bank's ``asset_history`` (None: unverified)."""
    if not verify:
        return None
    if vkey is None:
        raise ValueError("pass vkey= (the log's verifier key) or verify=False")
    key = verifier(vkey)
    return wire_checkpoint_opener(key, origin or key.name)


def history_request(
    domain: str, asset_id: str, consent_id: str = ""
) -> Callable[[str], record_pb2.GetAssetHistoryRequest]:
    """``page_token -> GetAssetHistoryRequest`` of every page."""

    def request(token: str) -> record_pb2.GetAssetHistoryRequest:
        return record_pb2.GetAssetHistoryRequest(
            domain=domain,
            asset_id=asset_id,
            consent_id=consent_id,
            page_size=PAGE_SIZE,
            page_token=token,
        )

    return request


def asset_history(
    call: Callable[[record_pb2.GetAssetHistoryRequest], record_pb2.GetAssetHistoryResponse],
    request: Callable[[str], record_pb2.GetAssetHistoryRequest],
    opener: CheckpointOpener | None,
) -> list[AssetEvent]:
    """Every page of an asset's history through ``call`` (``GetAssetHistory``), each page
    checked with ``opener`` (None: unverified), in log order."""

    def fetch(token: str) -> tuple[list[AssetEvent], str]:
        response = call(request(token))
        return history_page(response, opener), response.next_page_token

    return check_order(follow_pages(fetch))


def history_page(
    response: record_pb2.GetAssetHistoryResponse, opener: CheckpointOpener | None
) -> list[AssetEvent]:
    """The events of one page; with ``opener``, each checked against the page's checkpoint."""
    checkpoint = opener(response.checkpoint) if opener is not None else None
    size = response.checkpoint.size
    events = []
    for message in response.events:
        entry = convert.log_entry(message.entry)
        proof = InclusionProof(entry.index, size, tuple(message.inclusion_proof))
        if checkpoint is not None:
            check_inclusion(entry.data, proof, checkpoint)
        events.append(AssetEvent(entry=entry, proof=proof, checkpoint=checkpoint))
    return events


def check_order(events: list[AssetEvent]) -> list[AssetEvent]:
    """The events, if their log indices rise strictly (log order, none twice)."""
    indices = [e.entry.index for e in events]
    if any(b <= a for a, b in itertools.pairwise(indices)):
        raise LogVerificationError("the history is not in log order")
    return events


def check_inclusion(data: bytes, proof: InclusionProof, checkpoint: Checkpoint) -> None:
    """Check that ``proof`` leads from the leaf ``data`` to ``checkpoint``'s root."""
    if not 0 <= proof.leaf_index < checkpoint.size:
        raise LogVerificationError(
            f"index {proof.leaf_index} is outside tree size {checkpoint.size}"
        )
    try:
        verify_inclusion(
            index=proof.leaf_index,
            size=checkpoint.size,
            leaf_hash=leaf_hash(data),
            proof=proof.hashes,
            root=checkpoint.root_hash,
        )
    except ProofError as exc:
        raise LogVerificationError(
            f"inclusion proof of event {proof.leaf_index} failed: {exc}"
        ) from None
