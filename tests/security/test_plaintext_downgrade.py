"""Downgrade to plaintext. TLS is the default; plaintext exists only for loopback development.
Every way to ask for plaintext on a reachable address is refused before a port opens: the
``--insecure`` flag (``tests/integration/test_foundation.py``), ``insecure = true`` in a config
file, the embedding API (``build_server``), and plaintext combined with client certificates.
A plaintext client reaching the real gateway gets no answer at all, so a bearer token it sends is
never read; the same call over TLS works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.ops.config import ConfigError, load_config
from attestgate.gateway.transport.server import build_server, prepare_data_dir
from attestgate.v1 import consent_pb2, consent_pb2_grpc
from tests.integration.conftest import gateway_config
from tests.security.world import World

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "[::]"])
def test_a_config_file_cannot_turn_plaintext_on_for_a_public_address(
    tmp_path: Path, host: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'insecure = true\nlisten = "{host}:0"\n')
    done = subprocess.run(
        [sys.executable, "-m", "attestgate.gateway.ops.cli", "serve", "--config", str(config),
         "--data-dir", str(tmp_path / "d")],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "refusing --insecure" in done.stderr
    assert "listening on" not in done.stdout
    assert not (tmp_path / "d" / "keys").exists()  # refused before anything was created


def test_the_embedding_api_refuses_it_too(tmp_path: Path, clock: FixedClock) -> None:
    config = gateway_config(tmp_path / "d", insecure=True, listen="0.0.0.0:0")
    with pytest.raises(ConfigError, match="refusing --insecure"):
        prepare_data_dir(config, clock=clock)
    safe = gateway_config(tmp_path / "d", insecure=True)  # loopback: allowed, for development
    keyring = prepare_data_dir(safe, clock=clock)
    with pytest.raises(ConfigError, match="refusing --insecure"):
        build_server(config, keyring=keyring, clock=clock)


def test_client_certificates_cannot_be_combined_with_plaintext(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tls_client_auth needs TLS"):
        load_config(None, {"data_dir": str(tmp_path), "insecure": True, "tls_client_auth": True})


def test_a_plaintext_client_gets_nothing_from_the_tls_gateway(world: World) -> None:
    request = consent_pb2.GetConsentRequest(name=f"consents/{world.consent.id}")
    metadata = world.metadata("bank", "bank-a")
    with (
        grpc.insecure_channel(world.gw.target) as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        consent_pb2_grpc.ConsentServiceStub(channel).GetConsent(
            request, metadata=metadata, timeout=3
        )
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    with world.channel() as channel:  # the control: the same call over TLS
        consent = consent_pb2_grpc.ConsentServiceStub(channel).GetConsent(
            request, metadata=metadata, timeout=5
        )
    assert consent.name == request.name
