"""A real gateway on 127.0.0.1:0 with TLS from its dev CA, plus token and channel helpers.

``start_gateway(servicers=..., **config_changes)`` builds and starts one (stopped at teardown);
``gateway`` is the default one with every servicer UNIMPLEMENTED.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from attestgate.gateway.common.auth import issue_dev_token
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.common.roles import Role
from attestgate.gateway.common.tls import TlsFiles
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.gateway.testing import local_config
from attestgate.gateway.transport.server import (
    Gateway,
    GatewayServicers,
    build_server,
    prepare_data_dir,
)
from attestgate.sdk._internal.channel import open_channel
from attestgate.sdk.tls import TlsConfig


@dataclass
class RunningGateway:
    """A started gateway and what a test needs to talk to it."""

    gateway: Gateway
    config: GatewayConfig
    keyring: KeyRing
    clock: FixedClock

    @property
    def target(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.gateway.port}"

    @property
    def ca_file(self) -> Path:
        """The dev CA clients trust."""
        return TlsFiles.in_dir(self.config.tls_dir).ca_cert

    def token(self, role: Role | str, sub: str = "subject-1", **claims: Any) -> str:
        """A valid dev token for ``role`` (extra claims override the defaults)."""
        return issue_dev_token(
            self.keyring,
            role=role,
            sub=sub,
            ttl=timedelta(hours=1),
            now=self.clock.now(),
            audience=self.config.gateway_id,
            extra_claims=claims,
        )

    def raw_channel(self) -> grpc.Channel:
        """A plain TLS channel (no token, no error mapping) trusting the dev CA."""
        if self.config.insecure:
            return grpc.insecure_channel(self.target)
        credentials = grpc.ssl_channel_credentials(self.ca_file.read_bytes())
        return grpc.secure_channel(self.target, credentials)

    def sdk_channel(self, token: str | None) -> grpc.Channel:
        """An SDK channel: bearer ``token`` on every call, errors as ``sdk.errors``."""
        if self.config.insecure:
            return open_channel(self.target, insecure=True, token=token)
        return open_channel(self.target, tls=TlsConfig(ca_file=self.ca_file), token=token)


TEST_CONFIG: dict[str, Any] = {"grace_period": timedelta(seconds=5), "max_workers": 8}
"""What tests change in ``attestgate.gateway.testing.local_config``: a small grace and pool."""


def gateway_config(data_dir: Path, **changes: Any) -> GatewayConfig:
    """A test config: loopback port 0, dev issuer trusted, small grace period."""
    return local_config(data_dir, **(TEST_CONFIG | changes))


@pytest.fixture
def start_gateway(tmp_path: Path, clock: FixedClock) -> Iterator[Callable[..., RunningGateway]]:
    """Factory: ``start_gateway(servicers=None, **config_changes) -> RunningGateway``."""
    started: list[Gateway] = []

    def start(servicers: GatewayServicers | None = None, **changes: Any) -> RunningGateway:
        config = gateway_config(tmp_path / f"gw{len(started)}", **changes)
        keyring = prepare_data_dir(config, clock=clock)
        gateway = build_server(config, keyring=keyring, clock=clock, servicers=servicers)
        gateway.start()
        started.append(gateway)
        return RunningGateway(gateway, config, keyring, clock)

    yield start
    for gateway in started:
        gateway.stop(0)


@pytest.fixture
def gateway(start_gateway: Callable[..., RunningGateway]) -> RunningGateway:
    """A running gateway with every servicer UNIMPLEMENTED."""
    return start_gateway()
