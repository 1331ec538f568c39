"""The portal's HTTP server: Starlette under uvicorn on a background thread of the gateway.

``attach_portal(gateway, config, ...)`` is called by ``gateway.app.build_gateway`` when
``config.portal`` (``attestgate serve --portal HOST:PORT``) is set: it checks the address now, and
adds hooks so the portal starts with the gateway and stops before storage closes. The portal
serves HTTPS with the gateway's certificate; with ``--insecure`` it serves plain HTTP and, like the
gRPC port, only on a loopback address, because the sign-in token would travel in the clear.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from attestgate.consent.catalog import Catalog
from attestgate.gateway.common.addresses import format_host_port, is_loopback, parse_listen
from attestgate.gateway.common.auth import TokenVerifier
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.tls import TlsFiles
from attestgate.gateway.common.webserver import ThreadedUvicorn
from attestgate.gateway.ops.config import ConfigError, GatewayConfig
from attestgate.gateway.portal import owner, owner_assets, receipts, regulator
from attestgate.gateway.portal.auditview import LogView
from attestgate.gateway.portal.oidc import OidcError, OidcSettings, RelyingParty
from attestgate.gateway.portal.security import SecurityHeaders
from attestgate.gateway.portal.sessions import DbSessionStore
from attestgate.gateway.portal.tlspeer import PeerCertProtocol
from attestgate.gateway.portal.web import (
    Portal,
    domain_error,
    home,
    http_error,
    internal_error,
    login,
    login_page,
    logout,
    oidc_callback,
    oidc_start,
    switch_lang,
)
from attestgate.gateway.usecases.activity import OwnerActivity
from attestgate.gateway.usecases.consents import ConsentManager
from attestgate.gateway.usecases.owner_records import OwnerRecords
from attestgate.gateway.usecases.provenance import AssetHistory
from attestgate.protocol.reasons import DomainError

_log = logging.getLogger("attestgate.portal")
STATIC_DIR = Path(__file__).parent / "static"


class Lifecycle(Protocol):
    """What the portal needs of the server it runs beside (``gateway.transport.server.Gateway``):
    hooks."""

    on_start: list[Callable[[], None]]
    on_stop: list[Callable[[], None]]


@dataclass(frozen=True)
class PortalAddress:
    """Where the portal listens and whether it speaks TLS."""

    host: str
    port: int
    https: bool

    @property
    def url(self) -> str:
        """The base URL, e.g. ``https://127.0.0.1:8080``."""
        scheme = "https" if self.https else "http"
        return f"{scheme}://{format_host_port(self.host, self.port)}"


def portal_address(config: GatewayConfig) -> PortalAddress:
    """Parse ``config.portal``; plaintext is refused off loopback (``ConfigError``)."""
    try:
        host, port = parse_listen(config.portal)
    except ConfigError as exc:
        raise ConfigError(f"--portal: {exc}") from None
    if config.insecure and not is_loopback(host):
        raise ConfigError(
            f"refusing --portal {config.portal} with --insecure: the portal would carry sign-in "
            "tokens in the clear; use a loopback address or drop --insecure to serve HTTPS"
        )
    return PortalAddress(host, port, https=not config.insecure)


def asks_for_client_certs(config: GatewayConfig, address: PortalAddress) -> bool:
    """Whether the portal asks browsers for a client certificate: over HTTPS when the gateway
    runs with ``tls_client_auth`` (verified against the same CA as the gRPC port's)."""
    return address.https and config.tls_client_auth


def _client_key(path: Path) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    """The private_key_jwt key (PEM, EC P-256 or RSA)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"portal_oidc_private_key_file {path}: {exc}") from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
        return key
    raise ConfigError(
        f"portal_oidc_private_key_file {path}: an EC P-256 or RSA (2048 bits or more) key"
    )


def relying_party(config: GatewayConfig, clock: Clock) -> RelyingParty | None:
    """The OpenID Connect relying party of ``portal_oidc_*``, or None for token sign-in (the dev
    mode: ``portal_login = "token"``, or "auto" without a provider)."""
    if config.portal_login == "token" or not config.portal_oidc_issuer:
        return None
    secret = ""
    if config.portal_oidc_client_secret_file is not None:
        try:
            secret = config.portal_oidc_client_secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"portal_oidc_client_secret_file: {exc}") from None
    private_key = None
    if config.portal_oidc_private_key_file is not None:
        private_key = _client_key(config.portal_oidc_private_key_file)
    settings = OidcSettings(
        issuer=config.portal_oidc_issuer,
        client_id=config.portal_oidc_client_id,
        client_secret=secret,
        redirect_url=config.portal_oidc_redirect_url,
        scopes=tuple(config.portal_oidc_scopes.split()) or ("openid",),
        owner_claim=config.portal_oidc_owner_claim,
        role_claim=config.portal_oidc_role_claim,
        regulator_role=config.portal_oidc_regulator_role,
        ca_file=config.portal_oidc_ca_file,
        leeway=config.token_leeway,
        private_key=private_key,
    )
    try:
        return RelyingParty(settings, now=clock.now)
    except OidcError as exc:
        raise ConfigError(str(exc)) from None


def build_app(portal: Portal) -> Starlette:
    """The ASGI application: sign-in, owner and regulator pages, static CSS."""
    oidc: RelyingParty | None = getattr(portal, "oidc", None)
    routes = [
        Route("/", home, methods=["GET"]),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/login/oidc", oidc_start, methods=["POST"]),
        Route("/login/callback", oidc_callback, methods=["GET"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/lang", switch_lang, methods=["POST"]),
        *owner.ROUTES,
        *owner_assets.ROUTES,
        *receipts.ROUTES,
        *regulator.ROUTES,
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                SecurityHeaders,
                https=portal.https,
                form_targets=oidc.origins if oidc is not None else None,
            )
        ],
        exception_handlers={
            HTTPException: http_error,
            DomainError: domain_error,
            Exception: internal_error,
        },
    )
    app.state.portal = portal
    return app


class PortalServer:
    """uvicorn serving the portal from a daemon thread; ``start`` binds, ``stop`` drains."""

    def __init__(self, app: Starlette, address: PortalAddress, config: GatewayConfig) -> None:
        self._address = address
        tls = TlsFiles.in_dir(config.tls_dir)
        asks_for_certs = asks_for_client_certs(config, address)
        self._web = ThreadedUvicorn(
            uvicorn.Config(
                app,
                http=PeerCertProtocol,  # the client certificate, for bound tokens (tlspeer.py)
                lifespan="off",
                log_config=None,
                access_log=False,  # URLs carry consent ids; the audit log is the record
                server_header=False,
                ssl_certfile=str(config.tls_cert or tls.server_cert) if address.https else None,
                ssl_keyfile=str(config.tls_key or tls.server_key) if address.https else None,
                ssl_cert_reqs=ssl.CERT_OPTIONAL if asks_for_certs else ssl.CERT_NONE,
                ssl_ca_certs=str(config.tls_ca or tls.ca_cert) if asks_for_certs else None,
            ),
            host=address.host,
            port=address.port,
            what="--portal",
        )

    @property
    def port(self) -> int:
        """The bound port (after ``start``)."""
        return self._web.port

    @property
    def url(self) -> str:
        """The base URL with the bound port (after ``start``)."""
        return PortalAddress(self._address.host, self.port, self._address.https).url

    def start(self) -> None:
        """Bind now (so a taken port fails the gateway's start), then serve on a thread."""
        self._web.start()
        _log.info("portal on %s", self.url)

    def stop(self) -> None:
        """Ask uvicorn to finish in-flight requests and exit; wait for its thread."""
        self._web.stop()


def attach_portal(
    gateway: Lifecycle,
    config: GatewayConfig,
    *,
    clock: Clock,
    catalog: Catalog,
    consents: ConsentManager,
    activity: OwnerActivity,
    history: AssetHistory,
    records: OwnerRecords,
    audit_log: LogView,
) -> PortalServer:
    """Serve the portal over these use cases alongside ``gateway``: started by its start,
    stopped by its stop."""
    address = portal_address(config)
    verifier = TokenVerifier(
        config.issuers, audience=config.gateway_id, leeway=config.token_leeway, clock=clock
    )
    portal = Portal.build(
        clock=clock,
        catalog=catalog,
        consents=consents,
        activity=activity,
        history=history,
        records=records,
        audit_log=audit_log,
        verifier=verifier,
        https=address.https,
        client_certs=asks_for_client_certs(config, address),
        oidc=relying_party(config, clock),
        redirect_url=config.portal_oidc_redirect_url,
        session_ttl=config.portal_session_ttl,
        sessions=DbSessionStore(audit_log.storage),
        time_zone=ZoneInfo(config.portal_time_zone),
    )
    server = PortalServer(
        build_app(portal),
        address,
        config,
    )
    gateway.on_start.append(server.start)
    gateway.on_stop.append(server.stop)
    return server
