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

from attestgate.gateway.common.auth import issue_dev_token
from attestgate.gateway.common.clock import SystemClock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.common.tls import TlsFiles
from attestgate.gateway.ops.cli_audit import log_signer
from attestgate.gateway.ops.config import CONFIG_FILE_NAME, GatewayConfig, load_config
from attestgate.gateway.testing import register_provider, start_local_gateway
from attestgate.sdk.provider import SigningKey
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

    def register_provider(self, provider_id: str, roles: Sequence[str]) -> SigningKey:
        """Generate a P-256 key for ``provider_id`` and register its public half with ``roles``
        (as ``attestgate providers add ... --role ROLE`` does)."""
        return register_provider(self.config.data_dir, provider_id, roles)

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
    try:
        local = start_local_gateway(
            data_dir, checkpoint_interval=CHECKPOINT_EVERY, grace_period=timedelta(seconds=1)
        )
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    stage = Stage(
        target=local.target,
        config=local.config,
        tls=local.tls,
        keyring=local.keyring,
        where=f"a gateway of its own, temporary data dir {data_dir}",
    )
    stage._cleanup.append(lambda: shutil.rmtree(work, ignore_errors=True))
    stage._cleanup.append(local.close)
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
