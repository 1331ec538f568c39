"""bench.witnessing at a tiny size: 3 real witnesses cosign every checkpoint the collector
submits, and one witness cosigns every scheduled checkpoint of the 100 logs (no timing asserted)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bench.common import Settings
from bench.witnessing import LOGS, run_witnessing, witnessing_rows


@pytest.mark.slow
def test_the_witnessing_benchmark_runs(tmp_path: Path) -> None:
    data = run_witnessing(dataclasses.replace(Settings.quick(), mode="tiny"), tmp_path)
    assert data["cosign"]["settings"]["checkpoints"] == 5
    assert data["cosign"]["failed_submissions"] == 0
    assert data["many_logs"]["requests"] == LOGS
    assert data["many_logs"]["statuses"] == {"200": LOGS}
    assert len(witnessing_rows(data)) == 2
