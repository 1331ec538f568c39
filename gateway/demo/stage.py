"""Where the demo plays: a gateway of its own on a temporary data dir, or one given by ``--target``.

Either way the demo needs the same things from the stage: the address and the CA to trust, bearer
tokens for each party (from the data dir's dev issuer, as ``attestgate token`` mints them), a way
to register provider keys (``ProviderRegistry``, effective without a restart) and the log's
verifier key (as ``attestgate audit vkey`` prints it). With ``--target`` every name the demo
creates carries a random suffix, so runs never collide with earlier ones on the same gateway.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.app import build_gateway
from attestgate.gateway.auth import issue_dev_token
from attestgate.gateway.cli_audit import log_signer
from attestgate.gateway.clock import SystemClock
from attestgate.gateway.config import CONFIG_FILE_NAME, GatewayConfig, load_config
from attestgate.gateway.keys import KeyRing, dev_issuer
from attestgate.gateway.providers import ProviderRegistry
from attestgate.gateway.tls import TlsFiles
from attestgate.sdk.tls import TlsConfig

TOKEN_TTL = timedelta(hours=1)
CHECKPOINT_EVERY = timedelta(milliseconds=100)
"""How often the demo's own gateway signs a checkpoint (the default is 1 s)."""


class StageError(Exception):
    """The stage cannot be set up (bad ``--data-dir``, missing CA)."""


@dataclass
class Stage:
    """A running gateway and the means to act as any party on it."""

    target: str
    config: GatewayConfig
    tls: TlsConfig
    keyring: KeyRing
    where: str
    suffix: str = ""
    _cleanup: list[Callable[[], None]] = field(default_factory=list)

    def name(self, base: str) -> str:
        """``base`` plus this run's suffix (empty on the demo's own gateway)."""
        return base + self.suffix

    def token(self, role: str, sub: str) -> str:
        """A dev bearer token for ``role``/``sub``, valid for an hour."""
        return issue_dev_token(
            self.keyring,
            role=role,
            sub=sub,
            ttl=TOKEN_TTL,
            now=SystemClock().now(),
            audience=self.config.gateway_id,
        )

    def register_provider(
        self, provider_id: str, roles: Sequence[str]
    ) -> ec.EllipticCurvePrivateKey:
        """Generate a P-256 key for ``provider_id`` and register its public half with ``roles``
        (as ``attestgate providers add ... --role ROLE`` does)."""
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        ProviderRegistry(self.config.data_dir).add(provider_id, pem, roles=roles, replace=True)
        return key

    def vkey(self) -> str:
        """The log's verifier key (C2SP signed-note vkey)."""
        return log_signer(self.config, self.keyring).vkey()

    def close(self) -> None:
        """Stop what the stage started (the gateway, the temporary data dir)."""
        while self._cleanup:
            self._cleanup.pop()()


def _keyring(config: GatewayConfig) -> KeyRing:
    if not (config.data_dir / "keys").is_dir():
        raise StageError(f"{config.data_dir} is not an attestgate data dir (no keys/ folder)")
    return KeyRing.open_or_create(
        config.data_dir,
        clock=SystemClock(),
        gateway_id=config.gateway_id,
        overlap=config.signing_key_overlap,
    )


def local_stage() -> Stage:
    """Start a gateway on 127.0.0.1 (a free port, TLS with a fresh dev CA) in a temporary dir."""
    work = Path(tempfile.mkdtemp(prefix="attestgate-demo-"))
    data_dir = work / "gateway"
    config = GatewayConfig(
        data_dir=data_dir,
        listen="127.0.0.1:0",
        issuers=(dev_issuer(data_dir),),
        checkpoint_interval=CHECKPOINT_EVERY,
        grace_period=timedelta(seconds=1),
    )
    try:
        gateway = build_gateway(config)
        gateway.start()
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    stage = Stage(
        target=f"127.0.0.1:{gateway.port}",
        config=config,
        tls=TlsConfig(ca_file=TlsFiles.in_dir(config.tls_dir).ca_cert),
        keyring=_keyring(config),
        where=f"a gateway of its own, temporary data dir {data_dir}",
    )
    stage._cleanup.append(lambda: shutil.rmtree(work, ignore_errors=True))
    stage._cleanup.append(lambda: gateway.stop(0))
    return stage


def remote_stage(target: str, data_dir: Path, ca: Path | None) -> Stage:
    """Use a running gateway: tokens and provider keys through its data dir ``data_dir``."""
    config_file = data_dir / CONFIG_FILE_NAME
    config = load_config(config_file if config_file.exists() else None, {"data_dir": str(data_dir)})
    keyring = _keyring(config)
    ca_file = ca or TlsFiles.in_dir(config.tls_dir).ca_cert
    if not ca_file.is_file():
        raise StageError(f"no CA certificate at {ca_file}; pass --ca")
    return Stage(
        target=target,
        config=config,
        tls=TlsConfig(ca_file=ca_file),
        keyring=keyring,
        where=f"the gateway at {target}, data dir {data_dir}",
        suffix="-" + secrets.token_hex(3),
    )
