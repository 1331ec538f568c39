"""Witness processes for tests: ``attestgate witness init`` and ``attestgate witness serve``
(plain HTTP on loopback), started, stopped and killed as real processes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from attestgate.protocol.cosignature import WitnessKey


def init_witness(data_dir: Path, name: str, logs: list[str]) -> list[WitnessKey]:
    """``attestgate witness init`` for ``logs`` (``ORIGIN=VKEY`` or vkeys); its public keys."""
    command = [sys.executable, "-m", "attestgate", "witness", "init", "--data-dir", str(data_dir)]
    command += ["--name", name]
    for entry in logs:
        command += ["--log", entry]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return [WitnessKey.from_vkey(line) for line in out.stdout.split()[2:]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WitnessProcess:
    data_dir: Path
    port: int
    name: str = "witness.bank.example/w1"
    proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.data_dir.parent / f"{self.data_dir.name}.out"
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "attestgate",
                    "witness",
                    "serve",
                    "--data-dir",
                    str(self.data_dir),
                    "--listen",
                    f"127.0.0.1:{self.port}",
                    "--insecure",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        deadline = time.monotonic() + 20
        while "vkey " not in log.read_text() or log.read_text().count("vkey ") < 2:
            assert self.proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.01)
        assert f"witness {self.name} on http://127.0.0.1:{self.port}" in log.read_text()

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
