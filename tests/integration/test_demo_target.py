"""``attestgate demo --target``: the demo against a gateway it did not start (twice, without
collisions), usage errors, and failures reported with exit code 1."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from attestgate.gateway.common.clock import Clock
from attestgate.gateway.demo.report import Report
from attestgate.gateway.ops.cli import main
from attestgate.gateway.testing import LocalGateway, start_local_gateway
from attestgate.protocol.reasons import Reason
from attestgate.sdk import errors
from tests.integration.conftest import TEST_CONFIG


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["demo", *argv])
    return code, out.getvalue(), err.getvalue()


def start(data_dir: Path, **changes: Any) -> LocalGateway[Clock]:
    # The demo mints tokens with the real clock, so this gateway runs on it too.
    changes = TEST_CONFIG | {"checkpoint_interval": timedelta(milliseconds=50)} | changes
    return start_local_gateway(data_dir, **changes)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with start(tmp_path / "gw") as gateway:
        yield gateway.target, tmp_path / "gw"


def test_demo_against_a_running_gateway_twice(running: tuple[str, Path]) -> None:
    target, data_dir = running
    first = run("--target", target, "--data-dir", str(data_dir))
    assert first[0] == 0, first[1] + first[2]
    assert f"the gateway at {target}" in first[1]
    # Names carry a per-run suffix: the second run pledges its own receipt and patent.
    second = run("--target", target, "--data-dir", str(data_dir))
    assert second[0] == 0, second[1]
    assert "[FAIL]" not in first[1] + second[1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data-dir", "x"], "--data-dir and --ca go with --target"),
        (["--target", "127.0.0.1:1"], "--target needs --data-dir"),
        (["--target", "127.0.0.1:1", "--data-dir", "/nonexistent"], "not an attestgate data dir"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], message: str) -> None:
    code, _, err = run(*argv)
    assert code == 2
    assert message in err


def test_a_failure_stops_the_demo_with_exit_1(tmp_path: Path) -> None:
    # The gateway signs its log under another origin than its data dir says: the regulator's
    # first checkpoint does not verify, and the demo says so instead of carrying on.
    with start(tmp_path / "gw", log_origin="elsewhere.example/log") as gateway:
        code, out, _ = run("--target", gateway.target, "--data-dir", str(tmp_path / "gw"))
    assert code == 1
    assert "[FAIL] the demo stopped: LogVerificationError" in out
    assert "FAILED" in out


def test_report_counts_failed_expectations() -> None:
    out = io.StringIO()
    report = Report(out, steps=1)
    report.step("checks")
    assert report.expect(True, "holds")
    assert not report.expect(False, "does not hold", detail="why")

    def refuse() -> None:
        raise errors.AlreadyRedeemed("again", reason=Reason.ATTESTATION_ALREADY_REDEEMED)

    assert report.refused(refuse, Reason.ATTESTATION_ALREADY_REDEEMED, "refused") is not None
    assert report.refused(refuse, Reason.CAPACITY_EXHAUSTED, "wrong reason") is None
    assert report.refused(lambda: "fine", Reason.CAPACITY_EXHAUSTED, "not refused") is None
    assert report.check(refuse, "a verification") is None
    assert report.summary() == 1
    text = out.getvalue()
    assert "[ok] holds" in text
    assert "[FAIL] does not hold: why" in text
    assert "[FAIL] wrong reason: FAILED_PRECONDITION ATTESTATION_ALREADY_REDEEMED" in text
    assert "[FAIL] not refused: expected CAPACITY_EXHAUSTED, but it succeeded" in text
    assert "4 of 6 expectations FAILED" in text
    clean = Report(io.StringIO(), steps=1)
    clean.expect(True, "fine")
    assert clean.summary() == 0
