"""``attestgate audit resolve``: a regulator's lawful request, answered by the operator next to a
running gateway (SQLite WAL and PostgreSQL). The subject, record and transaction ref behind the
pseudonyms of a redemption's leaf are found; each resolution is itself a leaf carrying the
pseudonym and the reason, never the id; usage errors write nothing; the gateway keeps writing
the same log afterwards, and the whole log verifies."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.ops.cli import main
from tests.conformance.conftest import pg_server, pg_url
from tests.integration import live
from tests.security.world import World, build

__all__ = ["pg_server", "pg_url"]  # fixtures: skip (or fail in CI) without a server
REASON = "request CSRC-2026-0042"


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[World]:
    pg = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    gw = live.start_on(request.param, pg, tmp_path / "gw", clock)
    try:
        yield build(gw)
    finally:
        gw.close()


def resolve(world: World, pseudonym: str, reason: str = REASON) -> tuple[int, str, str]:
    config = world.gw.config
    return cli(
        "audit", "resolve", "--data-dir", str(config.data_dir), "--db", config.db,
        pseudonym, "--reason", reason,
    )  # fmt: skip


def test_the_ids_behind_a_redemption_s_pseudonyms_are_resolved_and_audited(world: World) -> None:
    attestation = world.issue()
    world.bank.redeem(attestation, transaction_ref="fx-9")
    (redeemed,) = [e for e in world.events_since(0) if e["type"] == "attestation.redeemed"]
    objects = redeemed["objects"]
    assert "inc-2025" not in repr(redeemed)
    assert "fx-9" not in repr(redeemed)
    asked = {
        redeemed["subject"]: "subject\talice\n",
        objects["record_pseudonym"]: "record\tincome/inc-2025\n",
        objects["transaction_pseudonym"]: "transaction_ref\tfx-9\n",
    }
    size = world.log_size()
    for pseudonym, expected in asked.items():
        code, out, err = resolve(world, pseudonym)
        assert (code, out) == (0, expected), err
        assert "audited as log entry" in err
    events = world.events_since(size)
    assert [e["objects"]["pseudonym"] for e in events] == list(asked)
    for event in events:
        assert (event["type"], event["actor_role"], event["decision"]) == (
            "pseudonym.resolved",
            "operator",
            "allow",
        )
        assert event["reason"] == REASON
        assert event["objects"]["found"] == "true"
        assert event["subject"] is None
        for value in ("alice", "inc-2025", "fx-9"):
            assert value not in repr(event)
    # The running gateway appends after the CLI's leaves, to one log that verifies.
    world.issue()
    assert world.log_size() > size + len(asked)
    config = world.gw.config
    code, out, err = cli("audit", "verify", "--data-dir", str(config.data_dir), "--db", config.db)
    assert code == 0, err


def test_an_unknown_pseudonym_exits_1_and_is_audited(world: World) -> None:
    size = world.log_size()
    code, out, err = resolve(world, "ps_" + "A" * 22)
    assert (code, out) == (1, "")
    assert "no stored subject has this pseudonym" in err
    (event,) = world.events_since(size)
    assert event["objects"] == {"found": "false", "pseudonym": "ps_" + "A" * 22}


@pytest.mark.parametrize(
    ("pseudonym", "reason", "message"),
    [
        ("alice", REASON, "is not a pseudonym"),
        ("ps_short", REASON, "is not a pseudonym"),
        ("px_" + "A" * 22, REASON, "is not a pseudonym"),
        ("ps_" + "A" * 22, " ", "--reason must be"),
        ("ps_" + "A" * 22, "x" * 201, "--reason must be"),
        ("ps_" + "A" * 22, "line\nbreak", "--reason must be"),
    ],
)
def test_usage_errors_exit_2_and_write_nothing(
    world: World, pseudonym: str, reason: str, message: str
) -> None:
    size = world.log_size()
    code, out, err = resolve(world, pseudonym, reason)
    assert (code, out) == (2, "")
    assert message in err
    assert world.log_size() == size
