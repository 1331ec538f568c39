"""A real gateway with its portal over HTTPS, a bank talking raw gRPC, and headless Chromium.

Chromium and chromedriver come from Debian (``apt-get install chromium chromium-driver``, done by
``.ci/run``). Without them these tests skip, saying why, unless ``ATTESTGATE_REQUIRE_COMPONENTS``
is set (CI), where they fail. Screenshots of every page go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.app import GatewayParts
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.portal.auditview import LogView
from attestgate.gateway.testing import LocalGateway, start_local_gateway
from attestgate.protocol.jose import public_jwk
from attestgate.v1 import (
    attestation_pb2,
    attestation_pb2_grpc,
    common_pb2,
    consent_pb2,
    consent_pb2_grpc,
    record_pb2,
    record_pb2_grpc,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


def _require_chromium() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing:
        return
    message = f"headless Chromium is not installed ({', '.join(missing)} missing; "
    message += "apt-get install chromium chromium-driver)"
    if os.environ.get("ATTESTGATE_REQUIRE_COMPONENTS"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Deployment:
    """A started gateway + portal, and the helpers a test needs to act as provider and bank."""

    local: LocalGateway[Clock]
    channel: grpc.Channel

    @property
    def parts(self) -> GatewayParts:
        """The gateway's collaborators."""
        return self.local.parts

    @property
    def log_view(self) -> LogView:
        """The audit log as the portal's regulator pages read it."""
        parts = self.parts
        return LogView(parts.storage, parts.log, parts.keyring, parts.config.log_origin)

    @property
    def portal_url(self) -> str:
        """The portal's base URL."""
        return self.local.portal_url

    @property
    def ca_pem(self) -> bytes:
        """The dev CA the gateway and the portal present."""
        return self.local.ca_file.read_bytes()

    def token(self, role: str, sub: str) -> str:
        """A dev-issuer bearer token."""
        return self.local.token(role, sub)

    def metadata(self, role: str, sub: str) -> tuple[tuple[str, str], ...]:
        """gRPC call metadata with a bearer token."""
        return self.local.metadata(role, sub)

    def wait_for_checkpoint(self) -> None:
        """Block until a signed checkpoint covers every committed log entry."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            conn = self.parts.storage.read()
            latest = self.parts.log.latest_checkpoint(conn)
            if latest is not None and latest.size >= self.parts.log.size(conn):
                return
            time.sleep(0.02)
        raise AssertionError("no checkpoint covered the log within 10 s")

    def request_consent(
        self,
        owner: str,
        claims: list[str],
        bank: str = "bank-a",
        *,
        bounds: dict[str, common_pb2.Value] | None = None,
        record_id: str = "",
    ) -> str:
        """The bank asks ``owner`` for consent (income / fx_purchase, for one record or the
        latest); returns the request id. A request for ``covers_amount`` is bounded (the catalog
        requires it) by ``bounds``, else by at most 50,000.00 USD, the amount ``issue`` tests."""
        if bounds is None and "covers_amount" in claims:
            bounds = {
                "amount": common_pb2.Value(int_value=5_000_000),
                "currency": common_pb2.Value(string_value="USD"),
            }
        stub = consent_pb2_grpc.ConsentServiceStub(self.channel)
        body = consent_pb2.ConsentRequest(
            owner=owner,
            domain="income",
            purpose="fx_purchase",
            claims=claims,
            bounds=bounds or {},
            record_id=record_id,
        )
        created = stub.CreateConsentRequest(
            consent_pb2.CreateConsentRequestRequest(consent_request=body),
            metadata=self.metadata("bank", bank),
        )
        return str(created.name).removeprefix("consentRequests/")

    def consents_of_bank(self, bank: str = "bank-a") -> list[Any]:
        """The consents granted to ``bank``."""
        stub = consent_pb2_grpc.ConsentServiceStub(self.channel)
        listed = stub.ListConsents(
            consent_pb2.ListConsentsRequest(), metadata=self.metadata("bank", bank)
        )
        return list(listed.consents)

    def issue(self, consent_name: str, bank: str = "bank-a") -> Any:
        """The bank asks for an attestation that the income covers 50,000.00 USD."""
        holder = ec.generate_private_key(ec.SECP256R1())
        stub = attestation_pb2_grpc.AttestationServiceStub(self.channel)
        return stub.IssueAttestation(
            attestation_pb2.IssueAttestationRequest(
                consent=consent_name,
                params={
                    "amount": common_pb2.Value(int_value=5_000_000),
                    "currency": common_pb2.Value(string_value="USD"),
                },
                holder_jwk=json.dumps(public_jwk(holder.public_key())),
            ),
            metadata=self.metadata("bank", bank),
        )


def disclosed_names(sd_jwt: str) -> set[str]:
    """The claim names carried by an SD-JWT's disclosures (RFC 9901 §4.2.1)."""
    names = set()
    for part in sd_jwt.split("~")[1:]:
        if part:
            decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            names.add(str(decoded[1]))
    return names


def _upload_records(channel: grpc.Channel, deployment: Deployment) -> None:
    key = deployment.local.register_provider("tax-bureau", ("tax_bureau", "fx_authority"))
    stub = record_pb2_grpc.RecordServiceStub(channel)
    fields = {
        "tax_year": 2025,
        "gross_income": 80_000_000,
        "after_tax_income": 61_234_500,
        "tax_paid": 18_765_500,
        "employer_name": "ACME",
        "taxpayer_id": "X123",
    }
    provider = deployment.metadata("provider", "tax-bureau")
    for owner in ("alice", "bob", "carol"):
        payload = {"domain": "income", "subject": owner, "record_id": f"inc-2025-{owner}"}
        signed = jwt.encode(
            {**payload, "fields": fields}, key, algorithm="ES256", headers={"kid": "tax-bureau"}
        )
        stub.PutRecord(record_pb2.PutRecordRequest(signed_record=signed), metadata=provider)
    rates = {"table_id": "pboc-2025-06-30", "base": "CNY", "rates": {"USD": "7.1234"}}
    signed_rates = jwt.encode(rates, key, algorithm="ES256", headers={"kid": "tax-bureau"})
    stub.PutFxRates(record_pb2.PutFxRatesRequest(signed_rates=signed_rates), metadata=provider)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One gateway (TLS, port 0) with its portal on 127.0.0.1:0 and income records uploaded."""
    local = start_local_gateway(
        tmp_path_factory.mktemp("portal") / "data",
        portal="127.0.0.1:0",
        checkpoint_interval=timedelta(milliseconds=100),
        grace_period=timedelta(seconds=2),
        max_workers=8,
    )
    channel = local.channel()
    found = Deployment(local, channel)
    _upload_records(channel, found)
    yield found
    channel.close()
    local.close()


@pytest.fixture(scope="module")
def browser_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fresh Chromium profile and download folder."""
    root = tmp_path_factory.mktemp("chromium")
    (root / "profile").mkdir()
    (root / "downloads").mkdir()
    return root / "profile", root / "downloads"


@pytest.fixture
def browser(browser_dirs: tuple[Path, Path]) -> Iterator[Any]:
    """Headless Chromium driven by Selenium (each test gets a new browser, no shared cookies)."""
    _require_chromium()
    from selenium import webdriver  # noqa: PLC0415 - only when Chromium is there
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    profile, downloads = browser_dirs
    shutil.rmtree(profile, ignore_errors=True)
    profile.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--lang=en-US",
        # The portal uses the gateway's dev certificate; only tests skip its check.
        "--ignore-certificate-errors",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, name: str) -> Path:
    """Save the current page as ``test-artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # The whole page, not just the viewport (Chrome DevTools Protocol, Page.captureScreenshot).
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 4000)}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": True, "clip": {**clip, "scale": 1}},
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
