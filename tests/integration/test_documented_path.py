"""The documented path, exactly as written (issue 16 item 1): one ``attestgate serve`` on a
non-default port (what ``make run LISTEN=127.0.0.1:PORT`` starts), then README.md's tour and
docs/quickstart.md's set-up and programs, each taken from the page's code blocks and run in a
shell or as a program of its own the way the page says, in that order and twice. Every run must
succeed: the set-up is idempotent, every run uses ids of its own, and the programs read the
target from ``ATTESTGATE_TARGET``."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.DOTALL | re.MULTILINE)
ROOT_LINE = re.compile(r"^\d+ [A-Za-z0-9+/]{43}=$", re.MULTILINE)  # size, base64 root
DOC_VARIABLES = ("ATTESTGATE_", "BANK_TOKEN", "OWNER_TOKEN", "PROVIDER_", "REGULATOR_TOKEN")


def blocks(page: Path, language: str) -> list[str]:
    """The code blocks of ``language`` on ``page``, in order."""
    text = page.read_text(encoding="utf-8")
    return [body for lang, body in BLOCK.findall(text) if lang == language]


def tour_blocks() -> tuple[str, str]:
    """README's tour: its shell set-up and its Python session."""
    (shell,) = [b for b in blocks(REPO / "README.md", "sh") if "attestgate token" in b]
    return shell, blocks(REPO / "README.md", "python")[0]


def free_port() -> int:
    """A free port, not the default one, whose successor is free too (the public HTTPS face)."""
    for _ in range(100):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            if port in (50051, 65535):
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise AssertionError("no free pair of ports")


@dataclass
class Home:
    """A folder like a checkout's root: ``.venv`` and the gateway's ``.attestgate`` data dir."""

    path: Path
    target: str

    def shell(self, script: str, name: str) -> str:
        """Run ``script`` in bash (stopping at the first failing command) in this folder, with
        ``ATTESTGATE_TARGET`` exported as the docs say for another port; its output."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(DOC_VARIABLES)}
        env.pop("VIRTUAL_ENV", None)
        env["ATTESTGATE_TARGET"] = self.target
        result = subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=self.path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    (tmp_path / ".venv").symlink_to(VENV)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:  # what `make run LISTEN=127.0.0.1:PORT` runs
        server = subprocess.Popen(
            [str(VENV / "bin" / "attestgate"), "serve", "--listen", f"127.0.0.1:{port}"],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while f"listening on 127.0.0.1:{port}" not in log.read_text(errors="replace"):
            assert server.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.05)
        yield Home(tmp_path, f"127.0.0.1:{port}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)


def run_tour(home: Home) -> str:
    shell, session = tour_blocks()
    (home.path / "tour.py").write_text(session, encoding="utf-8")
    out = home.shell(f"{shell}\npython tour.py\n", "README tour")
    assert "'covers_amount': True" in out
    assert ROOT_LINE.search(out), out  # the checkpoint's size and base64 root
    return out


def run_quickstart(home: Home) -> list[str]:
    """The set-up, then each program as a process of its own; their outputs."""
    page = REPO / "docs" / "quickstart.md"
    (setup,) = blocks(page, "sh")
    programs = blocks(page, "python")
    assert len(programs) == 7  # provider, bank 1, owner, bank 2, async bank, regulator, assets
    lines = [". .venv/bin/activate", setup]  # "attestgate on the PATH"
    for number, program in enumerate(programs, 1):
        (home.path / f"quickstart_{number}.py").write_text(program, encoding="utf-8")
        lines.append(f"echo '=== program {number}'\npython quickstart_{number}.py")
    out = home.shell("\n".join(lines), "docs/quickstart.md")
    return re.split(r"^=== program \d\n", out, flags=re.MULTILINE)[1:]


def test_tour_and_quickstart_twice_on_one_gateway(home: Home) -> None:
    key_file = home.path / ".attestgate" / "tax.key"
    for round_ in (1, 2):
        run_tour(home)
        if round_ == 1:
            key = key_file.read_bytes()
        provider, bank1, owner, bank2, async_bank, regulator, assets = run_quickstart(home)
        assert re.search(r"stored inc-2025-[0-9a-f]{8} version 1", provider), provider
        assert "PENDING" in bank1
        assert "approved: cs_" in owner
        assert "'covers_amount': True" in bank2, bank2  # a record of its own: capacity left
        assert "consumed 35617000 CNY" in bank2
        assert "single use: ATTESTATION_ALREADY_REDEEMED" in bank2
        assert "1/1 uses" in async_bank
        assert "receipt for" in regulator
        assert re.search(r"size \d+ root [A-Za-z0-9+/]{43}=", regulator), regulator
        assert "loan-2 unencumbered: False" in assets, assets
        assert "second pledge refused: CAPACITY_EXHAUSTED" in assets
        assert "loan-3 unencumbered: True" in assets
        history = [line.split()[1] for line in assets.splitlines() if line[:1].isdigit()]
        assert history == [
            "record.put", "attestation.redeemed", "pledge.released", "attestation.redeemed",
            "pledge.released", "record.transferred",
        ]  # fmt: skip
    assert key_file.read_bytes() == key  # made once, never overwritten
    assert key_file.stat().st_mode & 0o077 == 0
    assert sorted(p.name for p in home.path.glob("tax.*")) == []  # nothing in the folder's root
    listed = home.shell(
        ". .venv/bin/activate\nattestgate providers list --data-dir .attestgate", ""
    )
    assert len(re.findall(r"^tax-bureau ", listed, re.MULTILINE)) == 1
    verified = home.shell(
        ". .venv/bin/activate\nattestgate audit verify --data-dir .attestgate", "audit verify"
    )
    assert re.search(r"audit log intact: size \d+, root [A-Za-z0-9+/]{43}=", verified)


def test_make_run_passes_listen_as_documented() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "LISTEN ?= 127.0.0.1:50051" in makefile
    assert re.search(r"^\t\$\(BIN\)/attestgate serve --listen \$\(LISTEN\)", makefile, re.MULTILINE)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    setup = readme[readme.index("## Set-up") : readme.index("## A five-minute tour")]
    assert "make run LISTEN=127.0.0.1:" in setup
    assert "ATTESTGATE_TARGET" in setup
