"""Fixtures shared by every test package: a fixed clock, a temporary data dir, a key ring."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.common.keys import KeyRing

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
"""The fixed "now" of tests that do not care about the date."""


@pytest.fixture
def clock() -> FixedClock:
    """A settable clock starting at ``T0``."""
    return FixedClock(T0)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A not-yet-created data dir under the test's tmp_path."""
    return tmp_path / "data"


@pytest.fixture
def keyring(data_dir: Path, clock: FixedClock) -> KeyRing:
    """A fresh key ring in ``data_dir`` for gateway id ``attestgate``."""
    return KeyRing.open_or_create(data_dir, clock=clock, gateway_id="attestgate")
