"""A real gateway (``gateway.app.build_gateway``: the real services on SQLite) on 127.0.0.1:0 with
TLS from its dev CA, and SDK clients for it.

Test modules define their own fixture around ``start_live`` (fixtures in a non-root conftest
cannot be shared through ``pytest_plugins``). Checkpoints are signed every 20 ms so that tests
wait briefly for one; the gateway's clock is the test's ``FixedClock``, also given to the clients
that need "now" (key-binding JWTs, offline verification, upload ``iat``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from attestgate.gateway.app import BuiltGateway, build_gateway
from attestgate.gateway.auth import issue_dev_token
from attestgate.gateway.clock import FixedClock
from attestgate.gateway.config import GatewayConfig
from attestgate.gateway.context import Core
from attestgate.gateway.providers import ProviderRegistry, role_owners
from attestgate.gateway.tls import TlsFiles
from attestgate.protocol.note import NoteSigner
from attestgate.sdk import (
    BankClient,
    Checkpoint,
    OwnerClient,
    ProviderClient,
    RegulatorClient,
    TlsConfig,
)
from attestgate.sdk.types import ConsentEvent
from tests.integration.conftest import gateway_config

CHECKPOINT_EVERY = timedelta(milliseconds=20)

USD_RATE = "7.1234"
"""CNY per USD in the FX table every test uploads."""


@dataclass
class LiveGateway:
    """A started gateway with the real services, and factories for SDK clients."""

    gateway: BuiltGateway
    config: GatewayConfig
    clock: FixedClock
    clients: list[Any] = field(default_factory=list)

    @property
    def core(self) -> Core:
        """The gateway's collaborators (keys, storage) for white-box checks."""
        return self.gateway.core

    @property
    def metrics_port(self) -> int:
        """The port of the ``/metrics`` endpoint (a gateway started with ``metrics=``)."""
        assert self.gateway.metrics_endpoint is not None, "started without metrics"
        return self.gateway.metrics_endpoint.port

    @property
    def portal_url(self) -> str:
        """The portal's base URL (a gateway started with ``portal=``)."""
        assert self.gateway.portal is not None, "started without a portal"
        return self.gateway.portal.url

    @property
    def target(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.gateway.port}"

    @property
    def tls(self) -> TlsConfig:
        """Trust the gateway's dev CA."""
        return TlsConfig(ca_file=TlsFiles.in_dir(self.config.tls_dir).ca_cert)

    @property
    def note_signer(self) -> NoteSigner:
        """The log's checkpoint signer (the key from the data dir)."""
        return NoteSigner(self.config.log_origin, self.core.keyring.note_signer_key)

    @property
    def vkey(self) -> str:
        """The log's verifier key, as ``attestgate audit vkey`` prints it."""
        return self.note_signer.vkey()

    def token(self, role: str, sub: str) -> str:
        """A dev bearer token for ``role`` / ``sub`` valid for an hour of the fixed clock."""
        return issue_dev_token(
            self.core.keyring,
            role=role,
            sub=sub,
            ttl=timedelta(hours=1),
            now=self.clock.now(),
            audience=self.config.gateway_id,
        )

    def _keep(self, client: Any) -> Any:
        self.clients.append(client)
        return client

    def owner(self, sub: str) -> OwnerClient:
        """An owner client for ``sub``."""
        return self._keep(OwnerClient(self.target, token=self.token("owner", sub), tls=self.tls))  # type: ignore[no-any-return]

    def bank(self, sub: str, **kwargs: Any) -> BankClient:
        """A bank client for ``sub`` using the gateway's clock."""
        client = BankClient(
            self.target, token=self.token("bank", sub), tls=self.tls, clock=self.clock.now, **kwargs
        )
        return self._keep(client)  # type: ignore[no-any-return]

    @property
    def every_role(self) -> tuple[str, ...]:
        """Every provider role: the catalog domains' ``provider_role``s and the FX role."""
        return tuple(role_owners(self.core.catalog, self.config.fx_rates_role))

    def provider(
        self, provider_id: str, *, roles: Sequence[str] | None = None, ed25519_key: bool = False
    ) -> ProviderClient:
        """Register a fresh P-256 (or Ed25519) key for ``provider_id`` holding ``roles`` (default:
        ``every_role``, for tests that are not about authorization); a client signing with it."""
        key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
        key = (
            ed25519.Ed25519PrivateKey.generate()
            if ed25519_key
            else ec.generate_private_key(ec.SECP256R1())
        )
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        granted = self.every_role if roles is None else roles
        ProviderRegistry(self.config.data_dir).add(provider_id, pem, roles=granted, replace=True)
        client = ProviderClient(
            self.target,
            token=self.token("provider", provider_id),
            signing_key=key,
            tls=self.tls,
            clock=self.clock.now,
        )
        return self._keep(client)  # type: ignore[no-any-return]

    def regulator(self, vkey: str | None = None) -> RegulatorClient:
        """A regulator client pinned to the log's vkey (or ``vkey``)."""
        client = RegulatorClient(
            self.target, token=self.token("regulator", "csrc"), vkey=vkey or self.vkey, tls=self.tls
        )
        return self._keep(client)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close every client, stop the gateway."""
        for client in self.clients:
            client.close()
        self.gateway.stop(0)


def start_live(data_dir: Path, clock: FixedClock, **changes: Any) -> LiveGateway:
    """Build and start the real gateway in ``data_dir``."""
    changes.setdefault("checkpoint_interval", CHECKPOINT_EVERY)
    config = gateway_config(data_dir, **changes)
    gateway = build_gateway(config, clock=clock)
    gateway.start()
    return LiveGateway(gateway, config, clock)


def start_on(backend: str, pg_url: str | None, data_dir: Path, clock: FixedClock) -> LiveGateway:
    """``start_live`` on the data dir's SQLite file (``backend == "sqlite"``), or on ``pg_url``
    (a fresh schema, ``tests.conformance.conftest.pg_url``), migrated first."""
    if backend == "sqlite":
        return start_live(data_dir, clock)
    assert pg_url is not None
    from attestgate.gateway.cli import main  # noqa: PLC0415 - the operator's step, as documented

    assert main(["db", "migrate", "--db", pg_url, "--data-dir", str(data_dir)]) == 0
    return start_live(data_dir, clock, db=pg_url)


def live_gateway(tmp_path: Path, clock: FixedClock, **changes: Any) -> Iterator[LiveGateway]:
    """Body of a module's fixture: start, yield, stop."""
    live = start_live(tmp_path / "gw", clock, **changes)
    try:
        yield live
    finally:
        live.close()


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` every 10 ms until it holds (True) or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def wait_for_checkpoint(regulator: RegulatorClient, size: int, timeout: float = 5.0) -> Checkpoint:
    """Poll until a verified checkpoint covers at least ``size`` leaves."""
    deadline = time.monotonic() + timeout
    while True:
        checkpoint = regulator.checkpoint()
        if checkpoint.size >= size or time.monotonic() > deadline:
            return checkpoint
        time.sleep(0.01)


def read_events(
    bank: BankClient, cursor: str | None, until: Callable[[ConsentEvent], bool]
) -> list[ConsentEvent]:
    """Events from ``cursor`` up to and including the first one matching ``until``."""
    stream = bank.watch_consent_events(cursor, timeout=10)
    seen: list[ConsentEvent] = []
    try:
        for event in stream:
            seen.append(event)
            if until(event):
                return seen
    finally:
        stream.close()
    raise AssertionError("the stream ended before the expected event")


# --- records of the four domains -----------------------------------------------------------------

INCOME_FIELDS: dict[str, Any] = {
    "tax_year": 2025,
    "gross_income": 80_000_000,
    "after_tax_income": 61_234_500,  # CNY 612,345.00 in fen
    "tax_paid": 18_765_500,
    "employer_name": "ACME Shenzhen",
    "taxpayer_id": "91440300TAX0001",
}

WAREHOUSE_FIELDS: dict[str, Any] = {
    "receipt_id": "WR-2026-0001",
    "commodity": "copper cathode",
    "quantity": 250,
    "unit": "t",
    "warehouse": "Qianhai Bonded Warehouse 3",
    "status": "ACTIVE",
    "holder": "acme-trading",
}


def patent_fields(owner: str) -> dict[str, Any]:
    """A valid patent owned by ``owner``."""
    return {
        "patent_no": "ZL202410000001.1",
        "title": "Low-loss optical coupler",
        "status": "VALID",
        "owner": owner,
        "expiry_date": date(2044, 3, 1),
    }


BUSINESS_FIELDS: dict[str, Any] = {
    "uscc": "91440300MA5XXXXXX1",
    "name": "Shenzhen Example Co., Ltd.",
    "status": "CLOSURE",
    "closure_start": date(2025, 6, 1),
    "closure_end": date(2027, 6, 1),
    "legal_rep_id": "440300199001011234",
}
