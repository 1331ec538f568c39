"""attestgate witness serve: c2sp.org/tlog-witness add-checkpoint, as a real process over HTTP.

A consistent sequence is cosigned (ML-DSA-44 and Ed25519 cosignatures that the kernel verifies);
forks, bad proofs, wrong keys, replays and unknown logs are refused with the spec's codes; and a
witness SIGKILLed again and again while two forks race never cosigns both.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from attestgate.protocol.cosignature import (
    COSIGNATURE_V1,
    SUBTREE_V1,
    WitnessKey,
    WitnessPolicy,
    add_cosignatures,
)
from attestgate.protocol.merkle import EMPTY_ROOT, leaf_hash, node_hash
from attestgate.protocol.note import NoteSigner, format_checkpoint, verify_note
from tests.integration.witnesses import WitnessProcess, free_port

ORIGIN = "example.com/witnessed-log"
WITNESS = "witness.bank.example/w1"


def _split_point(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 Merkle tree hash of leaf hashes."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split_point(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = _split_point(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def consistency(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.4 consistency proof from size m to len(leaves)."""
    return [] if m in (0, len(leaves)) else _subproof(m, leaves, True)


def tree(tag: str, size: int, prefix: int = 0) -> list[bytes]:
    """Leaf hashes: ``prefix`` shared leaves, then leaves of fork ``tag``."""
    return [
        leaf_hash(f"shared-{i}".encode() if i < prefix else f"{tag}-{i}".encode())
        for i in range(size)
    ]


def post(url: str, body: str, timeout: float = 10) -> tuple[int, str, str]:
    request = urllib.request.Request(f"{url}/add-checkpoint", data=body.encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers["content-type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["content-type"], exc.read().decode()


def request_body(old: int, proof: list[bytes], note: str) -> str:
    lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    return f"old {old}\n{lines}\n{note}"


@pytest.fixture
def log_key() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


@pytest.fixture
def witness(tmp_path: Path, log_key: NoteSigner) -> Iterator[WitnessProcess]:
    data_dir = tmp_path / "witness"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "attestgate",
            "witness",
            "init",
            "--data-dir",
            str(data_dir),
            "--name",
            WITNESS,
            "--log",
            f"{ORIGIN}={log_key.vkey()}",
            "--log",
            f"other.example/log={NoteSigner.generate('other.example/log').vkey()}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "witness.toml" in out.stdout
    process = WitnessProcess(data_dir, free_port())
    process.start()
    yield process
    process.stop()


def _policy(data_dir: Path) -> WitnessPolicy:
    out = subprocess.run(
        [sys.executable, "-m", "attestgate", "witness", "vkey", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    keys = [WitnessKey.from_vkey(line) for line in out.stdout.split()]
    assert sorted(k.kind for k in keys) == sorted([COSIGNATURE_V1, SUBTREE_V1])
    return WitnessPolicy(keys, 2)


def _note(log: NoteSigner, leaves: list[bytes], origin: str = ORIGIN) -> str:
    return log.sign(format_checkpoint(origin, len(leaves), mth(leaves)))


@pytest.mark.timeout(60)
def test_consistent_sequence_is_cosigned_with_both_key_types(
    witness: WitnessProcess, log_key: NoteSigner
) -> None:
    policy = _policy(witness.data_dir)
    leaves = tree("a", 40)
    previous = 0
    for size in (0, 1, 3, 3, 8, 13, 40):
        note = _note(log_key, leaves[:size])
        status, _, body = post(
            witness.url, request_body(previous, consistency(previous, leaves[:size]), note)
        )
        assert (status, body.count("\u2014 ")) == (200, 2), body
        cosigned = add_cosignatures(note, body)
        result = policy.require(cosigned)
        assert sorted(c.witness.kind for c in result.valid) == [COSIGNATURE_V1, SUBTREE_V1]
        verify_note(cosigned, [log_key.verifier()])  # the log's signature still verifies
        previous = size
    # the monitoring read: the latest cosigned checkpoint, with the witness's cosignatures
    origin_hash = hashlib.sha256(ORIGIN.encode()).hexdigest()
    with urllib.request.urlopen(f"{witness.url}/{origin_hash}/checkpoint", timeout=10) as r:
        latest = r.read().decode()
    assert latest.split("\n")[1] == "40"
    assert all(line in latest for line in body.splitlines())  # what add-checkpoint returned
    policy.require(latest)
    verify_note(latest, [log_key.verifier()])
    # key files are private
    for name in ("witness-ed25519.skey", "witness-mldsa44.skey"):
        assert (witness.data_dir / name).stat().st_mode & 0o777 == 0o600


@pytest.mark.timeout(60)
def test_refusals_use_the_spec_status_codes(witness: WitnessProcess, log_key: NoteSigner) -> None:
    leaves = tree("a", 20)
    fork = tree("b", 20, prefix=4)
    ok = post(witness.url, request_body(0, [], _note(log_key, leaves[:10])))
    assert ok[0] == 200
    # unknown log
    stranger = NoteSigner.generate("unknown.example/log")
    assert (
        post(witness.url, request_body(0, [], _note(stranger, leaves[:3], "unknown.example/log")))[
            0
        ]
        == 404
    )
    # wrong log key (same origin, another key), and a tampered signature
    unsigned = format_checkpoint(ORIGIN, 12, mth(leaves[:12]))
    assert post(witness.url, request_body(10, consistency(10, leaves[:12]), unsigned))[0] == 403
    impostor = NoteSigner.generate(ORIGIN)
    assert (
        post(
            witness.url,
            request_body(10, consistency(10, leaves[:12]), _note(impostor, leaves[:12])),
        )[0]
        == 403
    )
    good = _note(log_key, leaves[:12])
    tampered = good.replace(good.split("\n")[1], "13", 1)
    assert post(witness.url, request_body(10, consistency(10, leaves[:12]), tampered))[0] == 403
    # old size does not match the witness's: 409 with the size, content type text/x.tlog.size
    status, ctype, body = post(witness.url, request_body(8, consistency(8, leaves[:12]), good))
    assert (status, ctype, body) == (409, "text/x.tlog.size", "10\n")
    # replay of an older checkpoint: old size above its size (400) or not the witness's (409)
    older = _note(log_key, leaves[:6])
    assert post(witness.url, request_body(10, [], older))[0] == 400
    assert post(witness.url, request_body(6, [], older))[0] == 409
    assert post(witness.url, request_body(0, [], older))[0] == 409
    # fork at the same size: other root
    assert post(witness.url, request_body(10, [], _note(log_key, fork[:10])))[0] == 422
    # fork at a larger size: the proof from 10 does not verify
    assert (
        post(witness.url, request_body(10, consistency(10, fork[:15]), _note(log_key, fork[:15])))[
            0
        ]
        == 422
    )
    # bad proof: a hash flipped; a proof for other sizes; a missing proof
    proof = consistency(10, leaves[:15])
    flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
    assert post(witness.url, request_body(10, flipped, _note(log_key, leaves[:15])))[0] == 422
    assert (
        post(
            witness.url, request_body(10, consistency(9, leaves[:15]), _note(log_key, leaves[:15]))
        )[0]
        == 422
    )
    assert post(witness.url, request_body(10, [], _note(log_key, leaves[:15])))[0] == 422
    # malformed bodies
    for bad in ("", "old 01\n\n" + good, "old 10\nnot-base64\n\n" + good, "old 10\n" + good):
        assert post(witness.url, bad)[0] == 400, bad
    # nothing above moved the state: the consistent extension is still cosigned
    assert (
        post(
            witness.url, request_body(10, consistency(10, leaves[:15]), _note(log_key, leaves[:15]))
        )[0]
        == 200
    )


@pytest.mark.timeout(60)
def test_size_zero_and_proof_from_zero_rules(tmp_path: Path) -> None:
    log = NoteSigner.generate(ORIGIN)
    data_dir = tmp_path / "w"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "attestgate",
            "witness",
            "init",
            "--data-dir",
            str(data_dir),
            "--name",
            WITNESS,
            "--log",
            f"{ORIGIN}={log.vkey()}",
        ],
        capture_output=True,
        check=True,
    )
    process = WitnessProcess(data_dir, free_port())
    process.start()
    try:
        leaves = tree("a", 5)
        bad_empty = log.sign(format_checkpoint(ORIGIN, 0, leaves[0]))
        assert post(process.url, request_body(0, [], bad_empty))[0] == 422
        with_proof = _note(log, leaves)
        assert post(process.url, request_body(0, [leaves[0]], with_proof))[0] == 422
        assert post(process.url, request_body(0, [], with_proof))[0] == 200
    finally:
        process.stop()


@pytest.mark.timeout(150)
def test_sigkill_under_load_never_cosigns_two_forks(tmp_path: Path) -> None:
    """Two forks of one log (same key) race to a witness that is SIGKILLed again and again.

    Every cosignature returned is collected; no two may cosign inconsistent checkpoints, so at most
    one fork gets cosigned past the shared prefix, and everything cosigned verifies.
    """
    log = NoteSigner.generate(ORIGIN)
    data_dir = tmp_path / "w"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "attestgate",
            "witness",
            "init",
            "--data-dir",
            str(data_dir),
            "--name",
            WITNESS,
            "--log",
            f"{ORIGIN}={log.vkey()}",
        ],
        capture_output=True,
        check=True,
    )
    process = WitnessProcess(data_dir, free_port())
    process.start()
    policy = _policy(data_dir)
    prefix, top = 6, 80
    forks = {tag: tree(tag, top, prefix=prefix) for tag in ("a", "b")}
    collected: list[tuple[str, int, str]] = []  # (fork, size, cosigned note)
    lock = threading.Lock()
    stop = threading.Event()
    counts = {"kills": 0, "refused": 0, "errors": 0}

    def submit(tag: str, seed: int) -> None:
        rng = random.Random(seed)
        leaves = forks[tag]
        known = 0
        size = 0
        while not stop.is_set():
            size = min(top, max(size, known) + rng.randint(1, 4))
            if known > size:
                size = known
            note = _note(log, leaves[:size])
            try:
                status, _, body = post(
                    process.url,
                    request_body(known, consistency(known, leaves[:size]), note),
                    timeout=3,
                )
            except (OSError, http.client.HTTPException):
                with lock:
                    counts["errors"] += 1
                time.sleep(0.02)
                continue
            if status == 200:
                with lock:
                    collected.append((tag, size, add_cosignatures(note, body)))
                known = size
                if size >= top:
                    size = prefix  # start again: replays of the same fork
                    known = top
            elif status == 409:
                known = int(body)
            else:
                with lock:
                    counts["refused"] += 1
                known, size = 0, rng.randint(1, prefix)  # learn the size again via 409

    threads = [threading.Thread(target=submit, args=(tag, i)) for i, tag in enumerate("abab")]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 80  # 12 kills; each restart takes a second or two
        while counts["kills"] < 12 and time.monotonic() < deadline:
            time.sleep(random.uniform(0.05, 0.4))
            process.kill()
            counts["kills"] += 1
            process.start()
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
        process.stop()
    print(counts, len(collected))
    assert counts["kills"] >= 10
    assert len(collected) >= 20, (counts, len(collected))
    beyond = {tag for tag, size, _ in collected if size > prefix}
    assert len(beyond) <= 1, f"the witness cosigned both forks past the prefix: {counts}"
    assert beyond, "no fork was ever cosigned past the prefix"
    winner = forks[beyond.pop()]
    for tag, size, note in collected:
        policy.require(note)
        assert (
            note.split("\n")[2]
            == format_checkpoint(ORIGIN, size, mth(winner[:size])).split("\n")[2]
        ), tag


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "attestgate", "witness", *args],
        check=False,
        capture_output=True,
        text=True,
    )


@pytest.mark.timeout(60)
def test_cli_refuses_unsafe_or_incomplete_setups(tmp_path: Path) -> None:
    data_dir = tmp_path / "w"
    missing = _cli("vkey", "--data-dir", str(data_dir))
    assert missing.returncode == 2
    assert "witness init" in missing.stderr
    log = NoteSigner.generate(ORIGIN)
    assert (
        _cli("init", "--data-dir", str(data_dir), "--name", WITNESS, "--log", log.vkey()).returncode
        == 0
    )
    assert f'origin = "{ORIGIN}"' in (data_dir / "witness.toml").read_text()
    again = _cli("init", "--data-dir", str(data_dir), "--name", WITNESS)
    assert again.returncode == 2
    assert "exists" in again.stderr
    plain = _cli("serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0")
    assert plain.returncode == 2
    assert "--insecure" in plain.stderr
    exposed = _cli("serve", "--data-dir", str(data_dir), "--listen", "0.0.0.0:0", "--insecure")
    assert exposed.returncode == 2
    assert "loopback" in exposed.stderr
    (data_dir / "witness-ed25519.skey").chmod(0o644)
    loose = _cli("vkey", "--data-dir", str(data_dir))
    assert loose.returncode == 2
    assert "chmod 600" in loose.stderr
    (data_dir / "witness-ed25519.skey").chmod(0o600)
    (data_dir / "witness.toml").write_text('name = "someone.else/w"\n')
    other = _cli("vkey", "--data-dir", str(data_dir))
    assert other.returncode == 2
    assert "not 'someone.else/w'" in other.stderr
