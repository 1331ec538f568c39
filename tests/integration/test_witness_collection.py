"""Issue 18 item 4: the gateway collects witness cosignatures and serves the cosigned checkpoint.

Real gateways (gRPC over TLS, the public HTTPS face, SQLite) and real witness processes
(``attestgate witness serve``). The witnesses are started once for the module and witness one log
origin per test, all signed with one log key (copied into each test's data dir), so that every
test has a fresh log.
"""

from __future__ import annotations

import asyncio
import base64
import re
import shutil
import socket
import ssl
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.ops.config import WitnessEndpoint
from attestgate.gateway.testing import local_config
from attestgate.gateway.transport.server import prepare_data_dir
from attestgate.protocol.cosignature import Cosigner, WitnessKey, WitnessPolicy
from attestgate.protocol.note import NoteSigner
from attestgate.sdk import (
    AsyncRegulatorClient,
    LogMonitor,
    WitnessPolicyError,
    export_receipt,
    verify_receipt,
)
from attestgate.sdk.tiles import TiledLogClient
from tests.conformance.conftest import pg_server, pg_url
from tests.conftest import T0
from tests.integration import live
from tests.integration.conftest import TEST_CONFIG
from tests.integration.live import LiveGateway
from tests.integration.witnesses import WitnessProcess, free_port, init_witness

ORIGINS = [f"attestgate.test/log-{n}" for n in range(8)]
__all__ = ["pg_server", "pg_url"]


@dataclass
class Witnesses:
    keys_dir: Path
    processes: dict[str, WitnessProcess]
    vkeys: dict[str, list[WitnessKey]]

    def endpoints(self) -> tuple[WitnessEndpoint, ...]:
        return tuple(
            WitnessEndpoint(name, p.url, tuple(self.vkeys[name]))
            for name, p in self.processes.items()
        )

    def policy(self, k: int) -> WitnessPolicy:
        """One key (ML-DSA-44) per witness, k of them."""
        return WitnessPolicy([keys[0] for keys in self.vkeys.values()], k)


@pytest.fixture(scope="module")
def witnesses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Witnesses]:
    root = tmp_path_factory.mktemp("witnessing")
    config = local_config(root / "keys-source", **TEST_CONFIG)
    keyring = prepare_data_dir(config, clock=FixedClock(T0))
    logs = [f"{o}={NoteSigner(o, keyring.note_signer_key).vkey()}" for o in ORIGINS]
    processes, vkeys = {}, {}
    for name in ("bank", "regulator"):
        data_dir = root / name
        vkeys[name] = init_witness(data_dir, f"witness.{name}.example/w1", logs)
        processes[name] = WitnessProcess(data_dir, free_port(), f"witness.{name}.example/w1")
        processes[name].start()
    yield Witnesses(config.keys_dir, processes, vkeys)
    for process in processes.values():
        process.stop()


def start(
    tmp: Path, pool: Witnesses, origin: str, clock: FixedClock, **changes: Any
) -> LiveGateway:
    data_dir = tmp / origin.rsplit("/", 1)[-1]
    data_dir.mkdir(mode=0o700, parents=True)
    shutil.copytree(pool.keys_dir, data_dir / "keys")
    changes = {
        "log_origin": origin,
        "witnesses": pool.endpoints(),
        "witness_k": 2,
        "witness_retry_max": timedelta(milliseconds=200),
        "witness_timeout": timedelta(seconds=2),
        **changes,
    }
    return live.start_live(data_dir, clock, **changes)


def append(gw: LiveGateway, n: int, owner: str = "owner") -> None:
    bank = gw.bank("bank-a")
    for i in range(n):
        bank.request_consent(
            owner=f"{owner}-{i}",
            domain="business_registration",
            purpose="counterparty_check",
            claims=["registration_status"],
        )


def public_checkpoint(gw: LiveGateway) -> str:
    context = ssl.create_default_context(cafile=str(gw.ca_file))
    with urllib.request.urlopen(gw.public_url + "/log/checkpoint", context=context) as response:
        return str(response.read().decode())


def cosigned(witnesses: Witnesses, note: str, size: int) -> bool:
    """The note is a checkpoint of at least ``size`` entries cosigned by both witnesses."""
    return int(note.split("\n")[1]) >= size and witnesses.policy(2).verify(note).satisfied


def _cosigned_at(witnesses: Witnesses, gw: LiveGateway, size: int) -> bool:
    return cosigned(witnesses, gw.regulator().checkpoint().text, size)


def stored_size(gw: LiveGateway) -> int:
    found = gw.parts.log.latest_checkpoint(gw.parts.storage.read())
    return 0 if found is None else found.size


def test_checkpoints_are_cosigned_and_served_with_the_cosignatures(
    tmp_path: Path, witnesses: Witnesses, clock: FixedClock
) -> None:
    with start(tmp_path, witnesses, ORIGINS[0], clock) as gw:
        append(gw, 3)
        regulator = gw.regulator()
        assert live.eventually(lambda: cosigned(witnesses, regulator.checkpoint().text, 3))
        checkpoint = regulator.checkpoint()
        result = witnesses.policy(2).require(checkpoint.text)
        assert [c.witness.name for c in result.valid] == [
            "witness.bank.example/w1",
            "witness.regulator.example/w1",
        ]
        # both keys of each witness are on the note, after the log's signature
        lines = checkpoint.text.split("\n\n", 1)[1].splitlines()
        assert lines[0].startswith(f"— {ORIGINS[0]} ")
        assert len(lines) == 5
        # the public face serves the same cosigned note
        assert live.eventually(lambda: public_checkpoint(gw) == regulator.checkpoint().text)
        watched = next(iter(regulator.watch_checkpoints(timeout=5)))
        witnesses.policy(2).require(watched.text)


def test_the_log_keeps_appending_while_a_witness_is_down_and_it_is_caught_up(
    tmp_path: Path, witnesses: Witnesses, clock: FixedClock
) -> None:
    down = witnesses.processes["regulator"]
    with start(tmp_path, witnesses, ORIGINS[1], clock, metrics="127.0.0.1:0") as gw:
        append(gw, 2, "before")
        regulator = gw.regulator()
        assert live.eventually(lambda: cosigned(witnesses, regulator.checkpoint().text, 2))
        before = regulator.checkpoint()
        down.stop()
        try:
            append(gw, 5, "while-down")  # appends are not held up by the dead witness
            assert live.eventually(lambda: stored_size(gw) >= before.size + 5)
            # with k = 2, the log goes on serving the newest checkpoint both witnesses cosigned
            assert regulator.checkpoint().size == before.size
            metrics = _metrics(gw)
            assert 'outcome="unreachable",witness="regulator"' in metrics
            assert 'attestgate_witness_behind_entries{witness="regulator"} 0.0' not in metrics
        finally:
            down.start()
        newest = stored_size(gw)
        assert live.eventually(lambda: regulator.checkpoint().size >= newest, timeout=10)
        witnesses.policy(2).require(regulator.checkpoint().text)
        assert 'attestgate_witness_behind_entries{witness="regulator"} 0.0' in _metrics(gw)


def _metrics(gw: LiveGateway) -> str:
    url = f"http://127.0.0.1:{gw.metrics_port}/metrics"
    with urllib.request.urlopen(url) as response:
        return str(response.read().decode())


def test_a_split_view_is_refused_by_the_witnesses_and_a_client_policy(
    tmp_path: Path, witnesses: Witnesses, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Two gateways with the same log key and origin, diverging: the witnesses cosign the one
    they saw first and refuse the other's checkpoints, which a k-of-n client then refuses."""
    with start(tmp_path / "a", witnesses, ORIGINS[2], clock) as honest:
        append(honest, 2, "honest")
        regulator = honest.regulator()
        assert live.eventually(lambda: cosigned(witnesses, regulator.checkpoint().text, 2))
        with start(tmp_path / "b", witnesses, ORIGINS[2], clock, witness_k=0) as fork:
            append(fork, 4, "fork")
            assert live.eventually(lambda: stored_size(fork) >= 4)
            forked = fork.regulator().checkpoint()
            assert forked.size >= 4
            with pytest.raises(WitnessPolicyError, match="0 of the required 2"):
                fork.regulator(witnesses=witnesses.policy(2)).checkpoint()
            # the witnesses refuse the fork's checkpoint: not consistent with what they cosigned
            assert live.eventually(lambda: caplog.text.count("refused with 422") >= 2)
            result = witnesses.policy(2).verify(forked.text)
            assert not result.satisfied
            assert {w.name for w in result.missing} == {
                "witness.bank.example/w1",
                "witness.regulator.example/w1",
            }
        witnesses.policy(2).require(honest.regulator().checkpoint().text)


def _submissions(gw: LiveGateway) -> Counter[tuple[str, str]]:
    """Submissions by (witness, outcome), from the gateway's metrics."""
    found: Counter[tuple[str, str]] = Counter()
    for line in _metrics(gw).splitlines():
        match = re.match(
            r'attestgate_witness_submissions_total\{outcome="(\w+)",witness="(\w+)"\} (\S+)', line
        )
        if match:
            found[match[2], match[1]] += int(float(match[3]))
    return found


@pytest.mark.postgres
def test_replicas_on_one_postgresql_share_the_cosignatures(
    tmp_path: Path, witnesses: Witnesses, clock: FixedClock, pg_url: str
) -> None:
    """Two replicas write one log: each submits only the checkpoints it signed (a witness sees a
    few more requests than checkpoints, not one per replica), and both serve the cosignatures."""
    from attestgate.gateway.ops.cli import main  # noqa: PLC0415 - the operator's step

    origin = ORIGINS[3]
    assert main(["db", "migrate", "--db", pg_url, "--data-dir", str(tmp_path / "m")]) == 0
    options = {"db": pg_url, "metrics": "127.0.0.1:0", "witness_k": 1}
    with (
        start(tmp_path / "r1", witnesses, origin, clock, **options) as one,
        start(tmp_path / "r2", witnesses, origin, clock, **options) as two,
    ):
        for n in range(6):
            append(one if n % 2 else two, 2, f"r{n}")
        assert live.eventually(lambda: stored_size(one) >= 12)
        newest = stored_size(one)
        for replica in (one, two):
            assert live.eventually(partial(_cosigned_at, witnesses, replica, newest), timeout=10)
        assert one.regulator().checkpoint().text == two.regulator().checkpoint().text
        checkpoints = (
            one.parts.storage.read().execute("SELECT COUNT(*) FROM audit_checkpoints").fetchone()[0]
        )
        outcomes = _submissions(one) + _submissions(two)
        # each checkpoint is cosigned by one replica (plus one start-up submission each), and
        # replicas racing cost at most one 409 per checkpoint, per witness
        for witness in ("bank", "regulator"):
            assert outcomes[witness, "cosigned"] <= int(checkpoints) + 2, outcomes
            assert outcomes[witness, "conflict"] <= int(checkpoints), outcomes


def _without_cosignatures(signed: str) -> str:
    text, rest = signed.split("\n\n", 1)
    return f"{text}\n\n{rest.splitlines()[0]}\n"


def test_clients_enforce_a_witness_policy_and_receipts_carry_the_cosignatures(
    tmp_path: Path, witnesses: Witnesses, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    from attestgate.gateway.ops.cli import main  # noqa: PLC0415

    with start(tmp_path, witnesses, ORIGINS[4], clock) as gw:
        append(gw, 3)
        both = witnesses.policy(2)
        assert live.eventually(lambda: cosigned(witnesses, gw.regulator().checkpoint().text, 3))
        regulator = gw.regulator(witnesses=both)
        checkpoint = regulator.checkpoint()
        # a receipt keeps the cosignatures: verifiable offline against the policy
        receipt = export_receipt(regulator, 1, checkpoint=checkpoint)
        entry, _ = verify_receipt(receipt, vkey=gw.vkey, witnesses=both)
        assert entry.index == 1
        head, note = receipt.split("\n\n", 1)
        stripped = f"{head}\n\n{_without_cosignatures(note)}"
        verify_receipt(stripped, vkey=gw.vkey)  # the log's signature alone still verifies
        with pytest.raises(WitnessPolicyError) as refused:
            verify_receipt(stripped, vkey=gw.vkey, witnesses=both)
        assert "missing: witness.bank.example/w1+" in str(refused.value)
        assert len(refused.value.result.missing) == 2
        # a bad cosignature of a policy witness is named as bad
        lines = note.split("\n\n", 1)[1].splitlines()
        for i, line in enumerate(lines):
            if "witness.bank.example" in line:
                prefix, signature = line.rsplit(" ", 1)
                raw = bytearray(base64.b64decode(signature))
                raw[-1] ^= 1
                lines[i] = f"{prefix} {base64.b64encode(bytes(raw)).decode()}"
        tampered = note.split("\n\n", 1)[0] + "\n\n" + "\n".join(lines) + "\n"
        with pytest.raises(WitnessPolicyError, match=r"bad: witness\.bank\.example/w1"):
            regulator.open_checkpoint(tampered)
        # a third witness nobody runs: 2 of 3 is enough, 3 of 3 is refused, the state unchanged
        ghost = Cosigner.generate("witness.ghost.example/w1").key
        keys = [*both.witnesses, ghost]
        log_url = gw.public_url + "/log"
        with TiledLogClient(log_url, vkey=gw.vkey, tls=gw.tls) as tiles:
            state = tmp_path / "monitor.state"
            LogMonitor(tiles, state, witnesses=WitnessPolicy(keys, 2)).update()
            kept = state.read_text()
            with pytest.raises(WitnessPolicyError, match=r"missing: witness\.ghost\.example/w1"):
                LogMonitor(tiles, state, witnesses=WitnessPolicy(keys, 3)).update()
            assert state.read_text() == kept
        # attestgate audit verify --url with --witness and --witness-k
        verify = ["audit", "verify", "--url", log_url, "--vkey", gw.vkey, "--ca", str(gw.ca_file)]
        for key in keys:
            verify += ["--witness", key.vkey]
        assert main([*verify, "--witness-k", "2"]) == 0
        assert "witnesses: 2 of the required 2" in capsys.readouterr().out
        assert main(verify) == 1
        assert "missing: witness.ghost.example/w1" in capsys.readouterr().err
        assert main([*verify, "--witness-k", "4"]) == 2
        assert "--witness-k" in capsys.readouterr().err


def test_a_checkpoint_nobody_cosigned_is_refused(
    tmp_path: Path, witnesses: Witnesses, clock: FixedClock
) -> None:
    with start(tmp_path, witnesses, ORIGINS[5], clock, witnesses=(), witness_k=0) as gw:
        with pytest.raises(WitnessPolicyError, match=r"0 of the required 1 .*missing"):
            gw.regulator(witnesses=witnesses.policy(1)).checkpoint()

        async def asynchronously() -> None:
            regulator = AsyncRegulatorClient(
                gw.target, token=gw.token("regulator", "csrc"), vkey=gw.vkey, tls=gw.tls,
                witnesses=witnesses.policy(1),
            )  # fmt: skip
            async with regulator:
                await regulator.checkpoint()

        with pytest.raises(WitnessPolicyError, match=r"missing: witness\.bank\.example/w1"):
            asyncio.run(asynchronously())


def test_a_witness_that_never_answers_delays_nothing(
    tmp_path: Path, witnesses: Witnesses, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A witness that accepts connections and never answers: appends go on, the other witness
    cosigns (k = 1), and the log names the silent one as behind after each timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        bank = witnesses.endpoints()[0]
        hung = WitnessEndpoint(
            "silent", f"http://127.0.0.1:{silent.getsockname()[1]}", witnesses.endpoints()[1].keys
        )
        with start(
            tmp_path, witnesses, ORIGINS[6], clock, witnesses=(bank, hung), witness_k=1,
            witness_timeout=timedelta(milliseconds=300),
        ) as gw:  # fmt: skip
            append(gw, 4)
            regulator, one = gw.regulator(), witnesses.policy(1)

            def cosigned_by_one() -> bool:
                checkpoint = regulator.checkpoint()
                return checkpoint.size >= 4 and one.verify(checkpoint.text).satisfied

            assert live.eventually(cosigned_by_one)
            assert live.eventually(lambda: "witness silent is behind" in caplog.text)
            assert "unreachable" in caplog.text


def test_watch_checkpoints_sends_a_checkpoint_again_once_it_is_cosigned(
    tmp_path: Path, witnesses: Witnesses, clock: FixedClock
) -> None:
    """With witness_k = 0 the newest checkpoint is served at once, then again with the
    cosignatures the witnesses return."""
    with start(tmp_path, witnesses, ORIGINS[7], clock, witness_k=0) as gw:
        stream = gw.regulator().watch_checkpoints(timeout=10)
        try:
            next(stream)
            append(gw, 1)
            for checkpoint in stream:
                if checkpoint.size >= 1 and witnesses.policy(2).verify(checkpoint.text).satisfied:
                    break
            else:
                raise AssertionError("the stream ended without the cosigned checkpoint")
        finally:
            stream.close()
