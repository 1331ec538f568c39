"""A real gateway on this machine for tests, benchmarks and the demo: ``start_local_gateway``.

What ``attestgate serve`` runs (``gateway.app.build_gateway``: the real services, SQLite with
group commit, TLS from a fresh dev CA, bearer tokens from the data dir's dev issuer), listening
on ``127.0.0.1`` on a free port, with a temporary data dir unless given one. ``LocalGateway``
mints tokens for any role, registers provider keys with roles (effective without a restart) and
makes SDK clients bound to it, which it closes with itself. A bank can test its integration the
same way::

    from attestgate.gateway.testing import start_local_gateway

    with start_local_gateway() as gw:
        bank = gw.bank("bank-a")
        ...

``local_core`` builds the same collaborators (``GatewayParts``) without a server (no gRPC, no
TLS), with the audit writer running, on a SQLite file: the unit tests of the use cases
(``ConsentManager``, ``AttestationManager``, ``RecordManager``) construct them from its parts.

Not for production: every token it mints is signed by the dev issuer, and the gateway trusts it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, overload

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from attestgate.gateway.app import (
    BuiltGateway,
    GatewayParts,
    build_gateway,
    build_parts,
    start_writes,
)
from attestgate.gateway.common.auth import issue_dev_token
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.keys import KeyRing, dev_issuer
from attestgate.gateway.common.tls import TlsFiles
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.gateway.usecases.providers import ProviderRegistry, role_owners
from attestgate.protocol.cosignature import WitnessPolicy
from attestgate.protocol.note import NoteSigner
from attestgate.sdk import BankClient, OwnerClient, ProviderClient, RegulatorClient, TlsConfig
from attestgate.sdk.provider import SigningKey

__all__ = [
    "TOKEN_TTL",
    "LocalGateway",
    "local_config",
    "local_core",
    "register_provider",
    "start_local_gateway",
]

TOKEN_TTL = timedelta(hours=1)
"""How long the tokens ``LocalGateway.token`` mints are valid (by the gateway's clock)."""


def local_config(data_dir: Path, **changes: Any) -> GatewayConfig:
    """The configuration ``start_local_gateway`` starts from: ``127.0.0.1:0`` (a free port),
    the data dir's dev issuer trusted, everything else the defaults; ``changes`` override."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "listen": "127.0.0.1:0",
        "issuers": (dev_issuer(data_dir),),
    }
    values.update(changes)
    return GatewayConfig(**values)


def register_provider(
    data_dir: Path,
    provider_id: str,
    roles: Sequence[str],
    *,
    ed25519_key: bool = False,
) -> SigningKey:
    """Generate a P-256 (or Ed25519) key for ``provider_id`` and register its public half with
    ``roles`` in ``data_dir``, replacing an earlier one (``attestgate providers add ... --role``);
    returns the private key."""
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    key = (
        ed25519.Ed25519PrivateKey.generate()
        if ed25519_key
        else ec.generate_private_key(ec.SECP256R1())
    )
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ProviderRegistry(data_dir).add(provider_id, pem, roles=roles, replace=True)
    return key


C = TypeVar("C", bound=Clock)


@dataclass
class LocalGateway(Generic[C]):
    """A started gateway, tokens for it and SDK clients bound to it; ``close`` stops it all.
    ``LocalGateway[FixedClock]`` when started on a fixed clock (tests move it)."""

    gateway: BuiltGateway
    clock: C
    clients: list[Any] = field(default_factory=list)
    owned_dir: Path | None = None
    """A temporary directory removed by ``close`` (the data dir ``start_local_gateway`` made)."""

    @property
    def config(self) -> GatewayConfig:
        """The configuration the gateway runs with."""
        return self.gateway.config

    @property
    def parts(self) -> GatewayParts:
        """The gateway's collaborators (keys, storage, catalog, log) for white-box checks."""
        return self.gateway.parts

    @property
    def keyring(self) -> KeyRing:
        """The data dir's keys (the dev issuer, the log's signer)."""
        return self.parts.keyring

    @property
    def target(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.gateway.port}"

    @property
    def ca_file(self) -> Path:
        """The dev CA certificate clients trust."""
        return TlsFiles.in_dir(self.config.tls_dir).ca_cert

    @property
    def tls(self) -> TlsConfig:
        """Trust the gateway's dev CA."""
        return TlsConfig(ca_file=self.ca_file)

    @property
    def note_signer(self) -> NoteSigner:
        """The log's checkpoint signer (the key from the data dir)."""
        return NoteSigner(self.config.log_origin, self.keyring.note_signer_key)

    @property
    def vkey(self) -> str:
        """The log's verifier key, as ``attestgate audit vkey`` prints it."""
        return self.note_signer.vkey()

    @property
    def every_role(self) -> tuple[str, ...]:
        """Every provider role: the catalog domains' ``provider_role``s and the FX role."""
        return tuple(role_owners(self.parts.catalog, self.config.fx_rates_role))

    @property
    def metrics_port(self) -> int:
        """The port of the ``/metrics`` endpoint (a gateway started with ``metrics=``)."""
        assert self.gateway.metrics_endpoint is not None, "started without metrics"
        return self.gateway.metrics_endpoint.port

    @property
    def public_url(self) -> str:
        """The public HTTPS face's base URL (on by default: the gateway speaks TLS); issuer
        and type metadata, with the certificate ``ca_file`` verifies."""
        assert self.gateway.public is not None, "started with public='off' or insecure"
        return self.gateway.public.url

    @property
    def issuer(self) -> str:
        """Every new attestation's ``iss``: the public URL (the gateway id when it is off)."""
        return self.gateway.parts.vc_types.issuer

    @property
    def portal_url(self) -> str:
        """The portal's base URL (a gateway started with ``portal=``)."""
        assert self.gateway.portal is not None, "started without a portal"
        return self.gateway.portal.url

    def token(self, role: str, sub: str, **claims: Any) -> str:
        """A dev bearer token for ``role`` / ``sub``, valid for ``TOKEN_TTL`` of the gateway's
        clock; ``claims`` are added to (or override) the standard ones."""
        return issue_dev_token(
            self.keyring,
            role=role,
            sub=sub,
            ttl=TOKEN_TTL,
            now=self.clock.now(),
            audience=self.config.gateway_id,
            extra_claims=claims or None,
        )

    def metadata(self, role: str, sub: str) -> tuple[tuple[str, str], ...]:
        """gRPC call metadata carrying a dev token, for raw stubs."""
        return (("authorization", f"Bearer {self.token(role, sub)}"),)

    def channel(self) -> grpc.Channel:
        """A plain TLS channel trusting the dev CA (no token, no SDK error mapping); the caller
        closes it."""
        credentials = grpc.ssl_channel_credentials(self.ca_file.read_bytes())
        return grpc.secure_channel(self.target, credentials)

    def register_provider(
        self,
        provider_id: str,
        roles: Sequence[str] | None = None,
        *,
        ed25519_key: bool = False,
    ) -> SigningKey:
        """``register_provider`` in this data dir; ``roles`` default to ``every_role``."""
        granted = self.every_role if roles is None else roles
        return register_provider(
            self.config.data_dir, provider_id, granted, ed25519_key=ed25519_key
        )

    def _keep(self, client: Any) -> Any:
        self.clients.append(client)
        return client

    def owner(self, sub: str, **kwargs: Any) -> OwnerClient:
        """An owner client for ``sub``."""
        client = OwnerClient(self.target, token=self.token("owner", sub), tls=self.tls, **kwargs)
        return self._keep(client)  # type: ignore[no-any-return]

    def bank(self, sub: str, **kwargs: Any) -> BankClient:
        """A bank client for ``sub`` on the gateway's clock."""
        kwargs.setdefault("clock", self.clock.now)
        client = BankClient(self.target, token=self.token("bank", sub), tls=self.tls, **kwargs)
        return self._keep(client)  # type: ignore[no-any-return]

    def provider(
        self,
        provider_id: str,
        *,
        roles: Sequence[str] | None = None,
        ed25519_key: bool = False,
        signing_key: SigningKey | None = None,
    ) -> ProviderClient:
        """A provider client for ``provider_id`` signing with a freshly registered key holding
        ``roles`` (default ``every_role``), or with ``signing_key`` registered by the caller."""
        key = signing_key or self.register_provider(provider_id, roles, ed25519_key=ed25519_key)
        client = ProviderClient(
            self.target,
            token=self.token("provider", provider_id),
            signing_key=key,
            tls=self.tls,
            clock=self.clock.now,
        )
        return self._keep(client)  # type: ignore[no-any-return]

    def regulator(
        self, vkey: str | None = None, sub: str = "csrc", witnesses: WitnessPolicy | None = None
    ) -> RegulatorClient:
        """A regulator client pinned to the log's vkey (or ``vkey``), enforcing ``witnesses``."""
        client = RegulatorClient(
            self.target,
            token=self.token("regulator", sub),
            vkey=vkey or self.vkey,
            tls=self.tls,
            witnesses=witnesses,
        )
        return self._keep(client)  # type: ignore[no-any-return]

    def close(self, grace: float = 0) -> None:
        """Close every client, stop the gateway, remove the temporary data dir. Idempotent."""
        while self.clients:
            self.clients.pop().close()
        self.gateway.stop(grace)
        if self.owned_dir is not None:
            shutil.rmtree(self.owned_dir, ignore_errors=True)
            self.owned_dir = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@overload
def start_local_gateway(
    data_dir: Path | None = None, *, clock: C, **changes: Any
) -> LocalGateway[C]: ...


@overload
def start_local_gateway(
    data_dir: Path | None = None, *, clock: None = None, **changes: Any
) -> LocalGateway[Clock]: ...


def start_local_gateway(
    data_dir: Path | None = None, *, clock: Clock | None = None, **changes: Any
) -> LocalGateway[Any]:
    """Build and start the real gateway in ``data_dir`` (created and prepared if new; ``None``:
    a temporary dir that ``close`` removes) with ``local_config(data_dir, **changes)`` and
    ``clock`` (default: the system clock)."""
    owned = None
    if data_dir is None:
        owned = Path(tempfile.mkdtemp(prefix="attestgate-"))
        data_dir = owned / "gateway"
    try:
        gateway = build_gateway(local_config(data_dir, **changes), clock=clock)
        gateway.start()
    except BaseException:
        if owned is not None:
            shutil.rmtree(owned, ignore_errors=True)
        raise
    return LocalGateway(gateway, gateway.parts.clock, owned_dir=owned)


@contextmanager
def local_core(data_dir: Path, *, clock: Clock, **changes: Any) -> Iterator[GatewayParts]:
    """The use cases' collaborators on a SQLite file in ``data_dir`` (created and migrated), with
    keys, the catalog and the audit writer running, and no server; closed (the writer drained)
    when the block ends. ``changes`` as for ``local_config``. Construct a use case from the parts
    it takes (``ConsentManager(storage=parts.storage, clock=parts.clock, ...)``)."""
    config = local_config(data_dir, **changes)
    keyring = KeyRing.open_or_create(
        data_dir, clock=clock, gateway_id=config.gateway_id, overlap=config.signing_key_overlap
    )
    parts = build_parts(config, clock=clock, keyring=keyring)
    try:
        start_writes(parts)
        yield parts
    finally:
        parts.storage.close()
