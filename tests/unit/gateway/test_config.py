"""Configuration: defaults < TOML < flags, path resolution, clear errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from attestgate.gateway.common.addresses import is_loopback, parse_listen
from attestgate.gateway.ops.config import (
    ConfigError,
    GatewayConfig,
    load_config,
    parse_duration,
    with_overrides,
)
from attestgate.gateway.transport.server import check_listen_security


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults() -> None:
    config = load_config(None, {"data_dir": "/srv/ag"})
    assert config.listen == "127.0.0.1:50051"
    assert config.db == "/srv/ag/attestgate.db"
    assert config.gateway_id == "attestgate"
    assert config.token_leeway == timedelta(seconds=30)
    assert config.insecure is False
    assert config.issuers == ()


def test_flags_win_over_toml_which_wins_over_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path / "etc" / "gw.toml",
        'listen = "127.0.0.1:7000"\ngateway_id = "gw-a"\ntoken_leeway = "5s"\n',
    )
    config = load_config(path, {"listen": "127.0.0.1:8000", "insecure": None})
    assert config.listen == "127.0.0.1:8000"  # flag
    assert config.gateway_id == "gw-a"  # file
    assert config.token_leeway == timedelta(seconds=5)  # file
    assert config.max_message_bytes == 1024 * 1024  # default


def test_relative_paths_resolve_against_the_toml_folder(tmp_path: Path) -> None:
    path = write(
        tmp_path / "etc" / "gw.toml",
        'data_dir = "../state"\ndb = "db/main.sqlite"\n'
        '[[issuers]]\nissuer = "https://idp.example"\njwks_file = "idp.jwks.json"\n',
    )
    config = load_config(path, {})
    assert config.data_dir == (tmp_path / "state").resolve()
    assert config.db == str((tmp_path / "etc" / "db" / "main.sqlite").resolve())
    assert config.issuers[0].jwks_file == (tmp_path / "etc" / "idp.jwks.json").resolve()


def test_database_url_is_kept_verbatim(tmp_path: Path) -> None:
    config = load_config(None, {"db": "postgresql://u@h/attestgate", "data_dir": str(tmp_path)})
    assert config.db == "postgresql://u@h/attestgate"


def test_inline_jwks_issuer(tmp_path: Path) -> None:
    path = write(
        tmp_path / "gw.toml",
        '[[issuers]]\nissuer = "i"\naudience = "aud-x"\n'
        'jwks = { keys = [ { kty = "OKP", crv = "Ed25519", x = "AA", kid = "k" } ] }\n',
    )
    (issuer,) = load_config(path, {}).issuers
    assert issuer.audience == "aud-x"
    assert issuer.jwks is not None
    assert issuer.jwks["keys"][0]["kid"] == "k"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("listen_port = 1\n", "unknown key 'listen_port'"),
        ('token_leeway = "soon"\n', "bad value for 'token_leeway'"),
        ("insecure = 1\n", "bad value for 'insecure'"),
        ("max_workers = 0\n", "bad value for 'max_workers'"),
        ('log_format = "xml"\n', "bad value for 'log_format'"),
        ('[[issuers]]\nissuer = "i"\n', "exactly one of 'jwks' or 'jwks_file'"),
        ('[[issuers]]\nissuer = "i"\njwks_file = "a"\nextra = 1\n', "unknown key(s) 'extra'"),
        ("listen = \n", "not valid TOML"),
    ],
)
def test_bad_config_names_key_and_file(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert needle in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", {})


def test_unknown_override_is_refused() -> None:
    with pytest.raises(ConfigError, match="command line: unknown key 'color'"):
        load_config(None, {"color": "blue"})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("30s", 30), ("10m", 600), ("1h", 3600), ("2d", 172800), (15, 15)],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1 week", "-5s", "h", True])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_changing_data_dir_moves_the_default_db(tmp_path: Path) -> None:
    config = GatewayConfig(data_dir=tmp_path / "a")
    moved = with_overrides(config, data_dir=tmp_path / "b")
    assert moved.db == str(tmp_path / "b" / "attestgate.db")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost", "LOCALHOST"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.1", "example.com", "localhost.evil"])
def test_non_loopback_hosts(host: str) -> None:
    assert not is_loopback(host)


def test_insecure_refused_off_loopback() -> None:
    with pytest.raises(ConfigError, match=r"refusing --insecure on 0\.0\.0\.0:0"):
        check_listen_security(GatewayConfig(listen="0.0.0.0:0", insecure=True))
    assert check_listen_security(GatewayConfig(listen="[::1]:0", insecure=True)) == ("::1", 0)
    assert check_listen_security(GatewayConfig(listen="0.0.0.0:0")) == ("0.0.0.0", 0)


@pytest.mark.parametrize("listen", ["50051", "host:", ":50051", "::1:50051", "h:99999"])
def test_bad_listen_addresses(listen: str) -> None:
    with pytest.raises(ConfigError):
        parse_listen(listen)
