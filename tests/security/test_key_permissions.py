"""Keys and secrets at rest: ``attestgate serve`` refuses to start when a key file or the keys
folder is readable or writable by group or others, or when the trust configuration (config.toml,
the JWKS files it names, the data dir) is writable by them; it names the file and the fix, and
opens no port. Running as root does not help: the check is on the mode bits, not on an access
attempt."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.common.keyfiles import write_atomic
from attestgate.gateway.common.keys import DEV_ISSUER_JWKS_FILE, KeyRing, dev_issuer_name
from attestgate.gateway.ops.config import (
    CONFIG_FILE_NAME,
    ConfigError,
    default_config_toml,
    load_config,
)

REPO = Path(__file__).resolve().parents[2]


def _serve(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "attestgate.gateway.ops.cli", "serve", "--data-dir", str(data_dir),
         "--insecure", "--listen", "127.0.0.1:0"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("target", "mode"),
    [
        ("keys/note.pem", 0o644),  # the checkpoint signing key, readable by all
        ("keys/pseudonym.key", 0o640),  # the audit pseudonym key, readable by the group
        ("keys/dev-issuer.pem", 0o606),  # writable by others: a planted key
        ("keys", 0o755),  # the folder itself
    ],
)
def test_serve_refuses_keys_that_others_can_reach(
    tmp_path: Path, clock: FixedClock, target: str, mode: int
) -> None:
    data_dir = tmp_path / "data"
    KeyRing.open_or_create(data_dir, clock=clock, gateway_id="attestgate")
    (data_dir / target).chmod(mode)
    done = _serve(data_dir)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "accessible by group/others" in done.stderr
    assert str(data_dir / target) in done.stderr  # names the file
    assert "chmod" in done.stderr  # and the fix
    assert "listening on" not in done.stdout


def test_serve_starts_once_the_modes_are_fixed(tmp_path: Path, clock: FixedClock) -> None:
    """The control: the same data dir with private modes gets past the key checks."""
    data_dir = tmp_path / "data"
    KeyRing.open_or_create(data_dir, clock=clock, gateway_id="attestgate")
    (data_dir / "keys" / "note.pem").chmod(0o644)
    assert _serve(data_dir).returncode == 2
    (data_dir / "keys" / "note.pem").chmod(0o600)
    process = subprocess.Popen(
        [sys.executable, "-m", "attestgate.gateway.ops.cli", "serve", "--data-dir", str(data_dir),
         "--insecure", "--listen", "127.0.0.1:0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("listening on"):
                break
        else:
            raise AssertionError("serve exited without listening")
    finally:
        process.terminate()
        process.communicate(timeout=15)  # drains and closes the pipe


# --- the trust configuration (issue 14, section 4, "config.toml permissions not checked") -------
# config.toml lists the token issuers; another local user who can write it (or the JWKS file it
# names, or the folder holding them) adds an issuer and mints themselves a regulator token.


def _data_dir_with_config(tmp_path: Path, clock: FixedClock) -> Path:
    data_dir = tmp_path / "data"
    KeyRing.open_or_create(data_dir, clock=clock, gateway_id="attestgate")
    text = default_config_toml(
        gateway_id="attestgate",
        dev_issuer=dev_issuer_name("attestgate"),
        jwks_file_name=DEV_ISSUER_JWKS_FILE,
    )
    write_atomic(data_dir / CONFIG_FILE_NAME, text.encode(), mode=0o600)
    return data_dir


@pytest.mark.parametrize(
    ("target", "mode"),
    [
        ("config.toml", 0o666),  # world-writable: anyone may add an issuer
        ("config.toml", 0o620),  # group-writable
        (DEV_ISSUER_JWKS_FILE, 0o646),  # the issuer's keys, writable by others: a planted key
        (".", 0o777),  # the data dir: others may replace config.toml
        (".", 0o770),
    ],
)
def test_serve_refuses_a_trust_config_that_others_can_write(
    tmp_path: Path, clock: FixedClock, target: str, mode: int
) -> None:
    data_dir = _data_dir_with_config(tmp_path, clock)
    path = (data_dir / target).resolve()
    path.chmod(mode)
    done = _serve(data_dir)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "writable by group/others" in done.stderr
    assert f"{path} is writable" in done.stderr  # names the file
    assert f"run: chmod go-w {path}" in done.stderr  # and the fix
    assert "listening on" not in done.stdout
    path.chmod(mode & ~0o022)
    assert "writable by group/others" not in _serve_briefly(data_dir)


def test_a_config_elsewhere_is_checked_with_its_folder(tmp_path: Path, clock: FixedClock) -> None:
    data_dir = _data_dir_with_config(tmp_path, clock)
    shared = tmp_path / "etc"
    shared.mkdir(mode=0o755)
    config = shared / "attestgate.toml"
    config.write_bytes((data_dir / CONFIG_FILE_NAME).read_bytes())
    config.chmod(0o644)
    shared.chmod(0o775)  # others may replace the file
    with pytest.raises(ConfigError, match=rf"the folder of config file {shared} is writable"):
        load_config(config)
    shared.chmod(0o755)
    assert load_config(config).gateway_id == "attestgate"


def test_first_start_creates_private_modes(tmp_path: Path) -> None:
    """``attestgate serve`` (``make run``) on a fresh data dir: nothing others can write."""
    data_dir = tmp_path / "fresh"
    assert "listening on" in _serve_briefly(data_dir)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / CONFIG_FILE_NAME).stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / DEV_ISSUER_JWKS_FILE).stat().st_mode) == 0o644
    assert "listening on" in _serve_briefly(data_dir)  # and the second start passes the checks


def _serve_briefly(data_dir: Path) -> str:
    """Start ``serve``; stop it once it listens (or let it fail); its output."""
    process = subprocess.Popen(
        [sys.executable, "-m", "attestgate.gateway.ops.cli", "serve", "--data-dir", str(data_dir),
         "--insecure", "--listen", "127.0.0.1:0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("listening on"):
                break
    finally:
        process.terminate()
        rest, _ = process.communicate(timeout=15)
    return "".join(lines) + rest
