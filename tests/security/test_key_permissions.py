"""Keys and secrets at rest: ``attestgate serve`` refuses to start when a key file or the keys
folder is readable or writable by group or others, names the file and the fix, and opens no port.
Running as root does not help: the check is on the mode bits, not on an access attempt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.clock import FixedClock
from gateway.keys import KeyRing

REPO = Path(__file__).resolve().parents[2]


def _serve(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--data-dir", str(data_dir),
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
        [sys.executable, "-m", "gateway.cli", "serve", "--data-dir", str(data_dir),
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
