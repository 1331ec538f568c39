"""Benchmark 2c runs on a real PostgreSQL server (skipped, saying why, when none answers)."""

from __future__ import annotations

import dataclasses

import pytest

from bench import audit_pg
from bench.common import Settings
from tests.conformance.conftest import pg_server

__all__ = ["pg_server"]  # the fixture, imported for this module's tests


@pytest.mark.postgres
def test_audit_append_on_postgres_measures_each_level(
    pg_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(audit_pg.DSN_ENV, pg_server)
    monkeypatch.setattr(audit_pg, "PG_LEVELS", (1, 3))
    data = audit_pg.run_audit_append_pg(dataclasses.replace(Settings.quick(), audit_units=12))
    assert [level["submitters"] for level in data["levels"]] == [1, 3]
    assert [level["events"] for level in data["levels"]] == [12, 12]
    for level in data["levels"]:
        assert level["sequencer_events_per_s"] > 0
        assert level["same_rows_events_per_s"] > 0
    assert data["settings"]["synchronous_commit"]  # recorded with the figures
    assert audit_pg.append_pg_rows(data)[0][0] == 1
