"""docs/witnessing.md runs as written: its shell blocks (init, vkey, serve over HTTPS; audit
verify with a witness policy), its Python snippets (the kernel's policy; the SDK's clients with a
policy, against a real gateway and real witnesses) and its gateway config, with the doc's paths,
addresses and keys swapped for temporary ones."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.ops.config import load_config
from attestgate.protocol.cosignature import Cosigner, PolicyResult, WitnessPolicy
from attestgate.protocol.merkle import leaf_hash
from attestgate.protocol.note import NoteSigner, format_checkpoint
from attestgate.sdk import Checkpoint, LogEntry
from tests.integration.test_witness_collection import (
    ORIGINS,
    Witnesses,
    append,
    cosigned,
    start,
    witnesses,
)

__all__ = ["witnesses"]

DOC = Path(__file__).parents[2] / "docs" / "witnessing.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.mark.timeout(60)
def _block(language: str, marker: str) -> str:
    (block,) = [b for b in _blocks(language) if marker in b]
    return block


def test_the_shell_block_runs_as_written_over_https(tmp_path: Path) -> None:
    block = _block("sh", "witness init")
    log = NoteSigner.generate("audit.example/log")
    cert, key = _self_signed(tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = (
        block.replace("/var/lib/attestgate-witness", str(tmp_path / "witness"))
        .replace("/etc/attestgate-witness/cert.pem", str(cert))
        .replace("/etc/attestgate-witness/key.pem", str(key))
        .replace("0.0.0.0:8443", f"127.0.0.1:{port}")
    )
    commands = script.replace("\\\n", " ").strip().splitlines()
    serve = [c for c in commands if "witness serve" in c]
    assert len(serve) == 1
    setup = "\n".join(c for c in commands if "witness serve" not in c)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "LOG_VKEY": log.vkey(), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    out = subprocess.run(
        ["bash", "-euc", setup], env=env, capture_output=True, text=True, check=True
    )
    vkeys = [
        line for line in out.stdout.splitlines() if line.startswith("witness.bank.example/w1+")
    ]
    assert len(vkeys) == 4  # init prints both keys, vkey prints them again
    assert vkeys[:2] == vkeys[2:]
    proc = subprocess.Popen(["bash", "-euc", "exec " + serve[0]], env=env, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert b"https://" in proc.stdout.readline()
        context = ssl.create_default_context(cafile=str(cert))
        root = leaf_hash(b"entry")
        note = log.sign(format_checkpoint("audit.example/log", 1, root))
        request = urllib.request.Request(
            f"https://127.0.0.1:{port}/add-checkpoint",
            data=f"old 0\n\n{note}".encode(),
            method="POST",
        )
        deadline = time.monotonic() + 10
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            body = response.read().decode()
        assert time.monotonic() < deadline
        policy = WitnessPolicy(vkeys[:2], 2)
        assert policy.require(note + body).satisfied
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == 0


def test_the_python_snippet_runs_as_written() -> None:
    snippet = _block("python", "add_cosignatures")
    log = NoteSigner.generate("audit.example/log")
    witnesses = [Cosigner.generate(f"w{i}.example") for i in range(3)]
    text = format_checkpoint("audit.example/log", 1, leaf_hash(b"x"))
    namespace: dict[str, object] = {
        "bank_vkey": witnesses[0].vkey,
        "regulator_vkey": witnesses[1].vkey,
        "owners_vkey": witnesses[2].vkey,
        "signed_checkpoint": log.sign(text),
        "witness_response_body": witnesses[0].cosign(text) + witnesses[2].cosign(text),
        "log_verifier": log.verifier(),
    }
    exec(compile(snippet, str(DOC), "exec"), namespace)
    result = namespace["result"]
    assert isinstance(result, PolicyResult)
    assert len(result.valid) == 2
    assert [w.name for w in result.missing] == ["w1.example"]


def test_the_gateway_config_is_accepted_as_written(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(_block("toml", "[[witnesses]]"), encoding="utf-8")
    path.chmod(0o600)
    tmp_path.chmod(0o700)
    config = load_config(path)
    assert [w.name for w in config.witnesses] == ["bank", "regulator"]
    assert config.witness_k == 2
    assert config.witness_timeout.total_seconds() == 5


@pytest.mark.timeout(60)
def test_the_client_snippet_and_audit_verify_run_as_written(
    tmp_path: Path, witnesses: Witnesses, clock: FixedClock
) -> None:
    with start(tmp_path, witnesses, ORIGINS[0], clock) as gw:
        append(gw, 2)
        assert _eventually(lambda: cosigned(witnesses, gw.regulator().checkpoint().text, 2))
        bank_key, regulator_key = (keys[0].vkey for keys in witnesses.vkeys.values())
        namespace: dict[str, object] = {
            "bank_witness_vkey": bank_key,
            "regulator_witness_vkey": regulator_key,
            "target": gw.target,
            "token": gw.token("regulator", "csrc"),
            "log_vkey": gw.vkey,
            "ca_file": gw.ca_file,
            "state_file": tmp_path / "monitor.state",
        }
        snippet = _block("python", "verify_receipt")
        exec(compile(snippet, str(DOC), "exec"), namespace)
        assert isinstance(namespace["checkpoint"], Checkpoint)
        assert isinstance(namespace["entry"], LogEntry)
        assert (tmp_path / "monitor.state").read_text() == namespace["checkpoint"].text
        command = _block("sh", "audit verify").replace("\\\n", " ").strip()
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "LOG_URL": gw.public_url + "/log",
            "LOG_VKEY": gw.vkey,
            "BANK_WITNESS_VKEY": bank_key,
            "REGULATOR_WITNESS_VKEY": regulator_key,
        }
        out = subprocess.run(
            ["bash", "-euc", command.replace("ca.pem", str(gw.ca_file))],
            check=False,
            env=env,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        assert "witnesses: 2 of the required 2 witness cosignatures verified" in out.stdout


def _eventually(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
