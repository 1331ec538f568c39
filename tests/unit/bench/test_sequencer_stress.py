"""The writer-stall hunter (``python -m bench.sequencer_stress``) runs, so it does not rot."""

from __future__ import annotations

import pytest

from bench.sequencer_stress import main, probe


def test_the_probe_times_out_its_gets() -> None:
    assert probe(timeout=0.001, tries=50) in range(51)


def test_the_probe_runs_under_load(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--probe", "--tries", "20", "--load", "1"]) == 0
    assert "of 20 stuck" in capsys.readouterr().out


def test_no_minutes_no_iterations(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--minutes", "0", "--load", "0"]) == 0
    assert "0 iterations, no stall" in capsys.readouterr().out
