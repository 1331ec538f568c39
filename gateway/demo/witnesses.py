"""The demo's witnessing scene (docs/witnessing.md): two witnesses cosign a log's checkpoints and
a client that requires both refuses a checkpoint without their cosignatures.

The scene runs a witnessed log of its own beside the stage's gateway: two C2SP tlog-witnesses
(a bank's and a regulator's, ``attestgate witness`` in this process, on loopback) and a gateway
configured with both and ``witness_k = 2``, all in a temporary folder removed afterwards. A
regulator pins the log's key and both witnesses' ML-DSA-44 keys (``WitnessPolicy``, k = 2).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

from attestgate.gateway.common.clock import SystemClock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.demo.cast import Cast
from attestgate.gateway.demo.report import Report
from attestgate.gateway.ops.config import WitnessEndpoint
from attestgate.gateway.testing import LocalGateway, local_config, start_local_gateway
from attestgate.gateway.witness.core import Witness, write_config
from attestgate.gateway.witness.server import build_server
from attestgate.protocol.cosignature import SUBTREE_V1, WitnessPolicy
from attestgate.protocol.note import NoteSigner
from attestgate.sdk import Checkpoint, RegulatorClient, WitnessPolicyError
from attestgate.sdk.log_errors import LOG_WITNESS_POLICY

WITNESSES = ("witness.bank.example/w1", "witness.regulator.example/w1")
ORIGIN = "demo.attestgate.example/witnessed-log"
COSIGN_WAIT = 15.0


def scene(report: Report, cast: Cast) -> None:
    """Two witnesses cosign; a policy client accepts that and refuses uncosigned checkpoints."""
    report.step("Two witnesses cosign the log; a client refuses an uncosigned checkpoint")
    with witnessed_log() as (gateway, policy):
        report.say(f"a bank and a regulator run witnesses {' and '.join(WITNESSES)}")
        gateway.bank("bank-a").request_consent(
            owner=cast.owner_id("company"),
            domain="business_registration",
            purpose="counterparty_check",
            claims=["registration_status"],
        )
        regulator = gateway.regulator(witnesses=policy)
        checkpoint = _cosigned(regulator)
        names = sorted(c.witness.name for c in policy.verify(checkpoint.text).valid)
        report.expect(
            names == sorted(WITNESSES),
            f"checkpoint of {checkpoint.size} entries cosigned by both witnesses "
            "(ML-DSA-44 subtree/v1), accepted by the regulator requiring 2 of 2",
        )
        text, signatures = checkpoint.text.split("\n\n", 1)
        bare = f"{text}\n\n{signatures.splitlines()[0]}\n"  # the log's signature alone
        error = report.refused(
            lambda: regulator.open_checkpoint(bare),
            LOG_WITNESS_POLICY,
            "the same checkpoint without the witnesses' cosignatures is refused",
        )
        if error is not None:
            report.say(str(error))
        main_log = _main_log(cast, policy)
        report.refused(
            main_log.checkpoint,
            LOG_WITNESS_POLICY,
            "the main log (no witnesses) is refused by a client with that policy",
        )
        main_log.close()


def _main_log(cast: Cast, policy: WitnessPolicy) -> RegulatorClient:
    stage = cast.stage
    return RegulatorClient(
        stage.target,
        token=stage.token("regulator", "csrc-witnessing"),
        vkey=stage.vkey(),
        tls=stage.tls,
        witnesses=policy,
    )


def _cosigned(regulator: RegulatorClient) -> Checkpoint:
    """The first checkpoint with entries that meets the regulator's witness policy."""
    deadline = time.monotonic() + COSIGN_WAIT
    while True:
        try:
            checkpoint = regulator.checkpoint()
            if checkpoint.size > 0:
                return checkpoint
        except WitnessPolicyError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"no cosigned checkpoint after {COSIGN_WAIT} s")
        time.sleep(0.05)


@contextmanager
def witnessed_log() -> Iterator[tuple[LocalGateway[SystemClock], WitnessPolicy]]:
    """A gateway whose checkpoints two in-process witnesses cosign, and the policy of both."""
    work = Path(tempfile.mkdtemp(prefix="attestgate-witnesses-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, True)
        data_dir = work / "gateway"
        data_dir.mkdir(mode=0o700)
        config = local_config(data_dir)
        keyring = KeyRing.open_or_create(
            data_dir, clock=SystemClock(), gateway_id=config.gateway_id
        )
        log_vkey = NoteSigner(ORIGIN, keyring.note_signer_key).vkey()
        endpoints, keys = [], []
        for name in WITNESSES:
            folder = work / name.split(".")[1]
            folder.mkdir(mode=0o700)
            write_config(folder, name, [(ORIGIN, log_vkey)])
            witness = Witness.open(folder)
            server = build_server(witness, host="127.0.0.1", port=0)
            server.start()
            stack.callback(witness.state.close)
            stack.callback(server.stop)
            cosigners = {c.key.kind: c.key for c in witness.cosigners}
            keys.append(cosigners[SUBTREE_V1])
            url = f"http://127.0.0.1:{server.port}"
            endpoints.append(WitnessEndpoint(name.split(".")[1], url, tuple(cosigners.values())))
        gateway = start_local_gateway(
            data_dir,
            clock=SystemClock(),
            log_origin=ORIGIN,
            checkpoint_interval=timedelta(milliseconds=100),
            grace_period=timedelta(seconds=1),
            witnesses=tuple(endpoints),
            witness_k=2,
            witness_retry_max=timedelta(seconds=1),
        )
        stack.callback(gateway.close)
        yield gateway, WitnessPolicy(keys, 2)
