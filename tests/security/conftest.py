"""Fixtures of the attack tests: a live gateway with the ``world.World`` objects in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from attestgate.gateway.common.clock import FixedClock
from tests.integration import live
from tests.security.world import World, build


@pytest.fixture
def world(tmp_path: Path, clock: FixedClock) -> Iterator[World]:
    """A fresh gateway (TLS, real services, SQLite) with alice's income and one consent."""
    gw = live.start_live(tmp_path / "gw", clock)
    try:
        yield build(gw)
    finally:
        gw.close()
