"""Issue 5 SDK tests against the real gateway: verified checkpoints, inclusion of a redemption
event, consistency, split-view detection by ``LogMonitor``, pinned vkeys and tlog-proof receipts."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from attestgate.gateway.common.clock import FixedClock
from attestgate.protocol.note import NoteSigner, format_checkpoint
from attestgate.protocol.reasons import Reason
from attestgate.sdk import (
    BankClient,
    Checkpoint,
    LogMonitor,
    LogVerificationError,
    RegulatorClient,
    SplitViewError,
    errors,
    export_receipt,
    verify_receipt,
)
from attestgate.sdk._internal.base import PAGE_SIZE
from attestgate.sdk.types import Redemption
from attestgate.v1 import audit_pb2, audit_pb2_grpc
from tests.integration import live
from tests.integration.live import LiveGateway


@pytest.fixture
def gw(tmp_path: Path, clock: FixedClock) -> Iterator[LiveGateway]:
    yield from live.live_gateway(tmp_path, clock)


def registry_redemption(gw: LiveGateway, bank: BankClient, tx: str) -> Redemption:
    """Upload, consent, issue and redeem one attestation; returns the redemption."""
    gw.provider("samr").put_record(
        domain="business_registration",
        subject="example-co",
        record_id="91440300MA5XXXXXX1",
        fields=live.BUSINESS_FIELDS,
    )
    request = bank.request_consent(
        owner="example-co",
        domain="business_registration",
        purpose="counterparty_check",
        claims=["registration_status", "in_good_standing"],
    )
    consent = gw.owner("example-co").approve(request.id)
    return bank.redeem(bank.issue(consent.id), transaction_ref=tx)


def forged(gw: LiveGateway, size: int) -> str:
    """A checkpoint signed with the log's real key for a tree that does not exist."""
    root = hashlib.sha256(b"another tree").digest()
    return gw.note_signer.sign(format_checkpoint(gw.config.log_origin, size, root))


class ShownCheckpoint(RegulatorClient):
    """A regulator that is shown ``shown`` (a split view) instead of the log's checkpoint."""

    shown: str = ""

    def checkpoint(self) -> Checkpoint:
        return self.open_checkpoint(self.shown)


def test_checkpoint_is_verified(gw: LiveGateway) -> None:
    regulator = gw.regulator()
    checkpoint = regulator.checkpoint()
    assert checkpoint.origin == gw.config.log_origin == regulator.origin
    assert checkpoint.text.startswith(f"{checkpoint.origin}\n{checkpoint.size}\n")
    assert checkpoint.root_hash_b64 in checkpoint.text
    assert len(checkpoint.root_hash) == 32


def test_inclusion_of_a_redemption_event(gw: LiveGateway) -> None:
    regulator = gw.regulator()
    redemption = registry_redemption(gw, gw.bank("bank-a"), "check-42")
    checkpoint = live.wait_for_checkpoint(regulator, redemption.log_index + 1)
    (entry,) = regulator.entries(redemption.log_index, redemption.log_index + 1)
    assert entry.event["type"] == "attestation.redeemed"
    assert entry.event["objects"]["attestation_jti"] == redemption.jti
    proof = regulator.verify_inclusion(entry, entry.index, checkpoint)
    assert proof.tree_size == checkpoint.size
    regulator.verify_inclusion(entry.data, entry.index, checkpoint)

    tampered = entry.data.replace(b"allow", b"deny!")
    with pytest.raises(LogVerificationError):
        regulator.verify_inclusion(tampered, entry.index, checkpoint)
    with pytest.raises(LogVerificationError):
        regulator.verify_inclusion(entry, entry.index - 1, checkpoint)


def test_entries_follow_pages_and_parse_events(gw: LiveGateway) -> None:
    regulator = gw.regulator()
    registry_redemption(gw, gw.bank("bank-a"), "check-1")
    checkpoint = live.wait_for_checkpoint(regulator, 6)
    entries = regulator.entries(0, checkpoint.size)
    assert [e.index for e in entries] == list(range(checkpoint.size))
    assert entries[0].event["type"] == "record.put"
    assert all("example-co" not in e.data.decode() for e in entries)  # pseudonyms only
    assert regulator.entries(3, 3) == []


def upload_one(gw: LiveGateway) -> Checkpoint:
    """Append one record event; the first checkpoint that covers it."""
    regulator = gw.regulator()
    size = regulator.checkpoint().size
    gw.provider("ip-office").put_record(
        domain="patent", subject="acme-ip", record_id="p-1", fields=live.patent_fields("acme-ip")
    )
    return live.wait_for_checkpoint(regulator, size + 1)


def test_entries_span_several_pages(gw: LiveGateway) -> None:
    provider = gw.provider("tax-bureau")
    count = PAGE_SIZE + 10

    def put(i: int) -> int:
        return provider.put_fx_rates(table_id=f"t-{i}", rates={"USD": "7.1"}).log_index

    with ThreadPoolExecutor(max_workers=8) as pool:
        indices = sorted(pool.map(put, range(count)))
    regulator = gw.regulator()
    checkpoint = live.wait_for_checkpoint(regulator, count)
    entries = regulator.entries(0, checkpoint.size)
    assert [e.index for e in entries] == indices == list(range(count))
    assert {e.event["objects"]["fx_table"] for e in entries} == {f"t-{i}" for i in range(count)}


def test_consistency_between_two_checkpoints(gw: LiveGateway) -> None:
    regulator = gw.regulator()
    old = upload_one(gw)  # not the empty tree: from size 0 every tree is consistent
    assert old.size > 0
    registry_redemption(gw, gw.bank("bank-a"), "check-1")
    new = live.wait_for_checkpoint(regulator, old.size + 5)
    assert new.size > old.size
    proof = regulator.verify_consistency(old, new)
    assert (proof.old_size, proof.new_size) == (old.size, new.size)
    with pytest.raises(SplitViewError):
        regulator.verify_consistency(new, old)
    fake = regulator.open_checkpoint(forged(gw, new.size))
    with pytest.raises(SplitViewError):
        regulator.verify_consistency(old, fake)


@pytest.mark.parametrize(
    ("call", "fields"),
    [
        (lambda r, size: r.inclusion_proof(-1, size), ["leaf_index"]),
        (lambda r, size: r.inclusion_proof(size, size), ["leaf_index"]),
        (lambda r, size: r.inclusion_proof(0, 0), ["tree_size"]),
        (lambda r, size: r.consistency_proof(size, size - 1), ["old_size"]),
        (lambda r, size: r.consistency_proof(0, size), ["old_size"]),
    ],
    ids=["negative-index", "index-at-size", "empty-tree", "old-above-new", "from-size-0"],
)
def test_proof_requests_that_can_never_succeed_are_invalid_arguments(
    gw: LiveGateway, call: Callable[[RegulatorClient, int], object], fields: list[str]
) -> None:
    """AIP-193: INVALID_ARGUMENT with BadRequest field violations, not OUT_OF_RANGE (which is
    for a tree size the log may still reach); RFC 9162 consistency proofs start at size 1."""
    regulator = gw.regulator()
    size = upload_one(gw).size
    with pytest.raises(errors.InvalidArgument) as caught:
        call(regulator, size)
    assert caught.value.reason == Reason.INVALID_ARGUMENT
    assert [v.field for v in caught.value.violations] == fields
    assert all(v.description for v in caught.value.violations)


def test_list_entries_ending_before_its_start_is_an_invalid_argument(gw: LiveGateway) -> None:
    """Over the wire (the SDK's ``entries`` refuses it before calling)."""
    size = upload_one(gw).size
    request = audit_pb2.ListEntriesRequest(start=size + 1, end=size)  # end 0 would mean "all"
    with gw.channel() as channel, pytest.raises(grpc.RpcError) as caught:
        audit_pb2_grpc.AuditServiceStub(channel).ListEntries(
            request, metadata=gw.metadata("regulator", "csrc"), timeout=5
        )
    error = errors.from_rpc_error(caught.value)
    assert isinstance(error, errors.InvalidArgument)
    assert [v.field for v in error.violations] == ["end"]


def test_a_tree_size_the_log_may_still_reach_is_out_of_range(gw: LiveGateway) -> None:
    regulator = gw.regulator()
    size = upload_one(gw).size
    for call in (
        lambda: regulator.inclusion_proof(0, size + 1000),
        lambda: regulator.consistency_proof(1, size + 1000),
    ):
        with pytest.raises(errors.OutOfRange) as caught:
            call()
        assert caught.value.reason == Reason.TREE_SIZE_OUT_OF_RANGE


def test_verify_consistency_from_the_empty_tree_needs_no_proof(gw: LiveGateway) -> None:
    """The gateway refuses old_size 0; the SDK checks the trivial case itself."""
    regulator = gw.regulator()
    new = upload_one(gw)
    empty = hashlib.sha256(b"").digest()  # MTH({}) (RFC 9162 §2.1.1)
    note = gw.note_signer.sign(format_checkpoint(gw.config.log_origin, 0, empty))
    proof = regulator.verify_consistency(regulator.open_checkpoint(note), new)
    assert (proof.old_size, proof.new_size, proof.hashes) == (0, new.size, ())
    wrong = gw.note_signer.sign(format_checkpoint(gw.config.log_origin, 0, b"\x01" * 32))
    with pytest.raises(SplitViewError):
        regulator.verify_consistency(regulator.open_checkpoint(wrong), new)


def test_watch_checkpoints_yields_growing_verified_checkpoints(gw: LiveGateway) -> None:
    regulator = gw.regulator()
    stream = regulator.watch_checkpoints(timeout=10)
    try:
        first = next(stream)
        gw.provider("samr").put_record(
            domain="business_registration",
            subject="example-co",
            record_id="r-1",
            fields=live.BUSINESS_FIELDS,
        )
        second = next(stream)
    finally:
        stream.close()
    assert second.size > first.size
    regulator.verify_consistency(first, second)


def test_log_monitor_trusts_first_then_follows(gw: LiveGateway, tmp_path: Path) -> None:
    state = tmp_path / "monitor" / "checkpoint"
    monitor = LogMonitor(gw.regulator(), state)
    assert monitor.last_verified() is None
    first = monitor.update()
    assert state.read_text(encoding="utf-8") == first.text
    registry_redemption(gw, gw.bank("bank-a"), "check-1")
    live.wait_for_checkpoint(gw.regulator(), first.size + 5)
    second = monitor.update()
    assert second.size > first.size
    assert monitor.last_verified() == second
    assert LogMonitor(gw.regulator(), state).update().size >= second.size


def test_log_monitor_detects_a_split_view(gw: LiveGateway, tmp_path: Path) -> None:
    state = tmp_path / "checkpoint"
    honest = LogMonitor(gw.regulator(), state)
    upload_one(gw)
    seen = honest.update()
    assert seen.size > 0
    registry_redemption(gw, gw.bank("bank-a"), "check-1")
    real = live.wait_for_checkpoint(gw.regulator(), seen.size + 5)
    before = state.read_bytes()

    # The log shows this monitor a different tree, signed with its real key.
    split = ShownCheckpoint(gw.target, token=gw.token("regulator", "r"), vkey=gw.vkey, tls=gw.tls)
    gw.clients.append(split)
    split.shown = forged(gw, real.size)
    with pytest.raises(SplitViewError):
        LogMonitor(split, state).update()
    assert state.read_bytes() == before

    # Same size as the stored checkpoint but another root: also a split view.
    split.shown = forged(gw, seen.size)
    with pytest.raises(SplitViewError):
        LogMonitor(split, state).update()
    assert state.read_bytes() == before

    # A monitor that was fed the forged tree earlier notices once it sees the real log.
    other = tmp_path / "other"
    other.write_text(forged(gw, seen.size), encoding="utf-8")
    with pytest.raises(SplitViewError):
        LogMonitor(gw.regulator(), other).update()
    latest = honest.update()
    assert latest.size >= real.size > seen.size

    # An older but consistent checkpoint (a lagging replica) is no split view; the state stays.
    stored = state.read_bytes()
    split.shown = seen.text
    assert LogMonitor(split, state).update() == latest
    assert state.read_bytes() == stored


def test_tampered_vkey_is_refused(gw: LiveGateway) -> None:
    name, key_id, encoded = gw.vkey.split("+", 2)
    raw = bytearray(base64.b64decode(encoded))
    raw[5] ^= 1
    with pytest.raises(LogVerificationError):
        gw.regulator(f"{name}+{key_id}+{base64.b64encode(bytes(raw)).decode()}")
    with pytest.raises(LogVerificationError):
        gw.regulator("not a vkey")
    # A well-formed key of the same name that is not the log's: the checkpoint does not verify.
    impostor = NoteSigner.generate(gw.config.log_origin).vkey()
    with pytest.raises(LogVerificationError):
        gw.regulator(impostor).checkpoint()
    with pytest.raises(LogVerificationError):
        LogMonitor(gw.regulator(impostor), gw.config.data_dir / "mon").update()


def test_export_receipt_round_trip(gw: LiveGateway) -> None:
    regulator = gw.regulator()
    redemption = registry_redemption(gw, gw.bank("bank-a"), "check-7")
    checkpoint = live.wait_for_checkpoint(regulator, redemption.log_index + 1)
    text = export_receipt(regulator, redemption.log_index, checkpoint=checkpoint)
    lines = text.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    assert lines[1].startswith("extra ")
    assert lines[2] == f"index {redemption.log_index}"
    assert text.endswith(checkpoint.text)
    entry, proven = verify_receipt(text, vkey=gw.vkey)
    assert (entry.index, proven) == (redemption.log_index, checkpoint)
    assert entry.event["type"] == "attestation.redeemed"

    event = base64.b64decode(lines[1].removeprefix("extra "))
    other = base64.b64encode(event.replace(b"allow", b"deny!")).decode()
    for bad in (
        text.replace(lines[1], "extra " + other),
        text.replace(lines[2], f"index {redemption.log_index - 1}"),
        text.replace(checkpoint.text, forged(gw, checkpoint.size)),
        "c2sp.org/tlog-proof@v2" + text.removeprefix(lines[0]),
    ):
        with pytest.raises(LogVerificationError):
            verify_receipt(bad, vkey=gw.vkey)
    with pytest.raises(LogVerificationError):
        verify_receipt(text, vkey=NoteSigner.generate(gw.config.log_origin).vkey())
