"""Issue 20 item 4: portal sessions live in the database, so two gateway replicas on one
PostgreSQL serve one signed-in browser alternately (sign in on one, approve on the other, sign out
on the first ends it on both), with the CSRF token of the stored session."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from attestgate.gateway.ops.cli import main
from attestgate.gateway.persistence.schemas import fresh_schema
from attestgate.gateway.testing import LocalGateway, start_local_gateway
from tests.browser.conftest import Deployment, _upload_records, screenshot
from tests.browser.test_portal import click, text_of
from tests.conformance.conftest import pg_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(120)]
__all__ = ["pg_server"]


@pytest.fixture(scope="module")
def replicas(
    pg_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Deployment, Deployment, str]]:
    """Two gateways, each with its portal, over one PostgreSQL schema and one data dir."""
    with fresh_schema(pg_server) as url:
        data_dir = tmp_path_factory.mktemp("portal-replicas") / "data"
        assert main(["db", "migrate", "--db", url, "--data-dir", str(data_dir)]) == 0
        started: list[LocalGateway[Any]] = []
        deployments: list[Deployment] = []
        try:
            for _ in range(2):
                local = start_local_gateway(
                    data_dir,
                    db=url,
                    portal="127.0.0.1:0",
                    checkpoint_interval=timedelta(milliseconds=100),
                    max_workers=8,
                )
                started.append(local)
                deployments.append(Deployment(local, local.channel()))
            _upload_records(deployments[0].channel, deployments[0])
            yield deployments[0], deployments[1], url
        finally:
            for deployment in deployments:
                deployment.channel.close()
            for local in started:
                local.close()


def _session_cookie(driver: Any) -> str:
    return next(str(c["value"]) for c in driver.get_cookies() if c["name"].endswith("ag_session"))


def test_two_replicas_serve_one_signed_in_session_alternately(
    replicas: tuple[Deployment, Deployment, str], browser: Any
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    a, b, url = replicas
    assert a.portal_url != b.portal_url
    request_id = a.request_consent("alice", ["tax_year", "covers_amount"])
    # Sign in on replica A (the dev mode's token paste).
    browser.get(a.portal_url + "/login")
    visitor = _session_cookie(browser)
    browser.find_element(By.ID, "token").send_keys(a.token("owner", "alice"))
    click(browser, "login-submit")
    assert browser.current_url == a.portal_url + "/owner/requests"
    signed_in = _session_cookie(browser)
    assert signed_in != visitor  # rotated at sign-in
    # The database holds the session under the cookie's hash, never the cookie itself.
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id_hash, subject, role FROM portal_sessions").fetchall()
    hashed = hashlib.sha256(signed_in.encode()).hexdigest()
    assert (hashed, "alice", "owner") in rows
    assert all(signed_in not in row for row in rows)
    # Replica B serves the same session (cookies are per host, not per port) and its CSRF
    # token: the approval posts on B.
    browser.get(b.portal_url + "/owner/requests")
    assert browser.current_url == b.portal_url + "/owner/requests"
    text_of(browser, f"request-{request_id}")
    screenshot(browser, "40-replica-b-requests")
    click(browser, f"approve-{request_id}")
    assert browser.current_url.startswith(b.portal_url + "/owner/consents")
    # Back on A: the consent approved through B is there, in the same session.
    browser.get(a.portal_url + "/owner/consents")
    assert browser.current_url == a.portal_url + "/owner/consents"
    screenshot(browser, "41-replica-a-consents")
    assert [c for c in a.consents_of_bank() if c.owner == "alice"]
    # Sign out on A: B no longer knows the session either.
    click(browser, "logout")
    browser.get(b.portal_url + "/owner/requests")
    assert browser.current_url == b.portal_url + "/login"
    with psycopg.connect(url) as conn:
        left = conn.execute(
            "SELECT 1 FROM portal_sessions WHERE id_hash = %s", (hashed,)
        ).fetchall()
    assert left == []
