"""Opening a checkpoint on the client's side: the log's signature under the pinned key, the
origin, and, when the caller gives one, a witness policy (k of n cosignatures, C2SP
tlog-cosignature). One implementation for ``RegulatorClient`` (sync and async),
``TiledLogClient``, ``LogMonitor`` and ``verify_receipt``."""

from __future__ import annotations

from collections.abc import Iterable

from attestgate.protocol import note
from attestgate.protocol.cosignature import CosignatureError, PolicyError, WitnessPolicy
from attestgate.sdk.log_errors import LogVerificationError, WitnessPolicyError
from attestgate.sdk.types import Checkpoint


def verifier(vkey: str) -> note.Verifier:
    """The log's pinned verifier key; ``LogVerificationError`` when it is malformed."""
    try:
        return note.Verifier.from_vkey(vkey)
    except (note.NoteError, ValueError) as exc:
        raise LogVerificationError(f"the verifier key is not a valid C2SP vkey: {exc}") from None


def witness_policy(vkeys: Iterable[str], k: int | None = None) -> WitnessPolicy:
    """A policy of the witnesses' vkeys, ``k`` of them required (default: all);
    ``LogVerificationError`` naming what is wrong."""
    keys = list(vkeys)
    try:
        return WitnessPolicy(keys, len(keys) if k is None else k)
    except (CosignatureError, ValueError) as exc:
        raise LogVerificationError(f"bad witness policy: {exc}") from None


def require_witnesses(text: str, policy: WitnessPolicy | None) -> None:
    """Refuse ``text`` (a signed checkpoint) unless ``policy`` is met; None: no policy."""
    if policy is None:
        return
    try:
        policy.require(text)
    except PolicyError as exc:
        raise WitnessPolicyError(str(exc), exc.result) from None
    except note.NoteError as exc:
        raise LogVerificationError(f"checkpoint does not verify: {exc}") from None


def open_checkpoint(
    text: str, log_key: note.Verifier, origin: str, policy: WitnessPolicy | None = None
) -> Checkpoint:
    """Verify a signed checkpoint note against ``log_key`` and ``origin``, then ``policy``."""
    try:
        opened = note.open_checkpoint(text, [log_key], origin=origin)
    except note.NoteError as exc:
        raise LogVerificationError(f"checkpoint does not verify: {exc}") from None
    require_witnesses(text, policy)
    return Checkpoint(opened.origin, opened.size, opened.root_hash, opened.text)
