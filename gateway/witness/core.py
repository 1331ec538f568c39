"""The witness's protocol: ``add-checkpoint`` (c2sp.org/tlog-witness) over a durable SQLite state.

The promise: never cosign two inconsistent checkpoints of one log. Per log the store keeps the
latest cosigned (size, root). A submission is checked and the new state written in one SQLite
``BEGIN IMMEDIATE`` transaction (``synchronous=FULL``), so two requests, or two witness processes on
one data dir, never both advance from the same state; the cosignature is made only after that
transaction committed. A crash or SIGKILL before the commit leaves the old state (nothing was
cosigned); after it, the state already holds what is about to be cosigned.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

from attestgate.protocol.cosignature import (
    COSIGNATURE_V1,
    SUBTREE_V1,
    TLOG_SIZE_CONTENT_TYPE,
    AddCheckpointRequest,
    Cosigner,
    add_cosignatures,
)
from attestgate.protocol.merkle import EMPTY_ROOT, ProofError, verify_consistency
from attestgate.protocol.note import (
    Checkpoint,
    NoteError,
    Verifier,
    check_key_name,
    parse_checkpoint,
    split_note,
    verify_note,
)

CONFIG_FILE = "witness.toml"
STATE_FILE = "witness.sqlite"
KEY_FILES = {SUBTREE_V1: "witness-mldsa44.skey", COSIGNATURE_V1: "witness-ed25519.skey"}
MAX_BODY = 1 << 16


class WitnessConfigError(ValueError):
    """The witness's data dir or config is unusable; the message says what to fix."""


@dataclass(frozen=True)
class Response:
    """An HTTP answer: status, content type and body."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class WitnessConfig:
    """``witness.toml``: the witness's name and the logs it witnesses (origin -> log vkeys)."""

    name: str
    logs: dict[str, tuple[Verifier, ...]]

    @classmethod
    def load(cls, data_dir: Path) -> WitnessConfig:
        path = data_dir / CONFIG_FILE
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise WitnessConfigError(
                f"{path} is missing: run `attestgate witness init --data-dir {data_dir} "
                "--name NAME` and list the logs to witness"
            ) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise WitnessConfigError(f"{path}: not valid TOML: {exc}") from None
        name = raw.get("name")
        if not isinstance(name, str):
            raise WitnessConfigError(f'{path}: `name = "witness.example.org/w1"` is required')
        try:
            check_key_name(name)
        except NoteError:
            raise WitnessConfigError(f"{path}: name {name!r} has spaces or '+'") from None
        logs: dict[str, list[Verifier]] = {}
        entries = raw.get("log", [])
        if not isinstance(entries, list):
            raise WitnessConfigError(f"{path}: logs are [[log]] tables with origin and vkey")
        for entry in entries:
            origin, vkey = entry.get("origin"), entry.get("vkey")
            if not isinstance(origin, str) or not origin or not isinstance(vkey, str):
                raise WitnessConfigError(f"{path}: each [[log]] has origin and vkey strings")
            try:
                verifier = Verifier.from_vkey(vkey)
            except NoteError as exc:
                raise WitnessConfigError(f"{path}: log {origin}: bad vkey ({exc})") from None
            logs.setdefault(origin, []).append(verifier)
        return cls(name, {origin: tuple(keys) for origin, keys in logs.items()})


def write_config(data_dir: Path, name: str, logs: list[tuple[str, str]]) -> Path:
    """Write a ``witness.toml`` naming the witness and the (origin, log vkey) pairs."""
    check_key_name(name)
    lines = [f"name = {_toml_string(name)}", ""]
    for origin, vkey in logs:
        Verifier.from_vkey(vkey)
        lines += ["[[log]]", f"origin = {_toml_string(origin)}", f"vkey = {_toml_string(vkey)}", ""]
    path = data_dir / CONFIG_FILE
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_or_create_cosigners(data_dir: Path, name: str) -> list[Cosigner]:
    """The witness's keys: ML-DSA-44 (subtree/v1) and Ed25519 (cosignature/v1), made on first use.

    Key files are 0600 (created exclusively); a key file naming another witness is refused.
    """
    cosigners = []
    for kind, file_name in KEY_FILES.items():
        path = data_dir / file_name
        if not path.exists():
            skey = Cosigner.generate(name, kind).skey()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(skey + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        if path.stat().st_mode & 0o077:
            raise WitnessConfigError(f"{path} is readable by others: chmod 600 {path}")
        try:
            cosigner = Cosigner.from_skey(path.read_text(encoding="ascii"))
        except (NoteError, UnicodeDecodeError) as exc:
            raise WitnessConfigError(f"{path}: not a cosigner key ({exc})") from None
        if cosigner.name != name:
            raise WitnessConfigError(
                f"{path} is the key of witness {cosigner.name!r}, not {name!r}"
            )
        cosigners.append(cosigner)
    return cosigners


class WitnessState:
    """The latest cosigned (size, root, checkpoint) per origin, in a SQLite file."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS checkpoints (origin TEXT PRIMARY KEY,"
            " size INTEGER NOT NULL, root BLOB NOT NULL, checkpoint TEXT NOT NULL,"
            " cosignatures TEXT NOT NULL DEFAULT '')"
        )
        self._lock = threading.Lock()

    def latest(self, origin: str) -> tuple[str, str] | None:
        """The latest cosigned checkpoint of ``origin`` and the cosignature lines returned."""
        with self._lock:
            row = self._conn.execute(
                "SELECT checkpoint, cosignatures FROM checkpoints WHERE origin = ?", (origin,)
            ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def record_cosignatures(self, checkpoint: Checkpoint, lines: str) -> None:
        """Keep the lines returned for ``checkpoint`` while it is the latest (for the monitors).

        Not flushed to disk (``synchronous=OFF`` for this one commit): lines lost in a crash are
        made again by ``latest_checkpoint``, and the next state commit flushes them anyway."""
        with self._lock:
            self._conn.execute("PRAGMA synchronous=OFF")
            try:
                self._conn.execute(
                    "UPDATE checkpoints SET cosignatures = ?"
                    " WHERE origin = ? AND size = ? AND root = ?",
                    (lines, checkpoint.origin, checkpoint.size, checkpoint.root_hash),
                )
            finally:
                self._conn.execute("PRAGMA synchronous=FULL")

    def advance(self, checkpoint: Checkpoint, old_size: int, proof: list[bytes]) -> Response | None:
        """Check ``old_size`` and the proof against the stored state and store the new one.

        All in one immediate transaction; returns the refusal, or None once the new state is
        durable.
        """
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                refusal = self._check_and_write(checkpoint, old_size, proof)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("ROLLBACK" if refusal else "COMMIT")
            return refusal

    def _check_and_write(
        self, checkpoint: Checkpoint, old_size: int, proof: list[bytes]
    ) -> Response | None:
        origin, size, root = checkpoint.origin, checkpoint.size, checkpoint.root_hash
        row = self._conn.execute(
            "SELECT size, root FROM checkpoints WHERE origin = ?", (origin,)
        ).fetchone()
        stored_size, stored_root = (0, EMPTY_ROOT) if row is None else (int(row[0]), bytes(row[1]))
        if old_size != stored_size:
            return Response(409, f"{stored_size}\n", TLOG_SIZE_CONTENT_TYPE)
        if old_size == 0 and proof:
            return Response(422, "the consistency proof from size 0 must be empty\n")
        try:
            verify_consistency(
                old_size=stored_size,
                new_size=size,
                old_root=stored_root,
                new_root=root,
                proof=proof,
            )
        except ProofError as exc:
            return Response(422, f"checkpoint is not consistent with size {stored_size}: {exc}\n")
        self._conn.execute(
            "INSERT INTO checkpoints (origin, size, root, checkpoint) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root,"
            " checkpoint = excluded.checkpoint, cosignatures = ''",
            (origin, size, root, checkpoint.text),
        )
        return None

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class Witness:
    """Answers ``add-checkpoint`` and the monitoring ``checkpoint`` read."""

    def __init__(self, config: WitnessConfig, cosigners: list[Cosigner], state: WitnessState):
        self.config = config
        self.cosigners = cosigners
        self.state = state

    @classmethod
    def open(cls, data_dir: Path) -> Witness:
        """The witness of a data dir: its config, keys (made on first use) and state."""
        if not data_dir.is_dir():
            raise WitnessConfigError(f"{data_dir} is not a directory")
        config = WitnessConfig.load(data_dir)
        cosigners = load_or_create_cosigners(data_dir, config.name)
        return cls(config, cosigners, WitnessState(data_dir / STATE_FILE))

    def vkeys(self) -> list[str]:
        return [c.vkey for c in self.cosigners]

    def add_checkpoint(self, body: bytes) -> Response:
        """``POST /add-checkpoint`` (c2sp.org/tlog-witness), status codes as the spec gives."""
        try:
            request = AddCheckpointRequest.decode(body)
        except NoteError as exc:  # CosignatureError is a NoteError
            return Response(400, f"malformed request: {exc}\n")
        try:
            text, _ = split_note(request.checkpoint)
            checkpoint = parse_checkpoint(text)
        except NoteError as exc:
            return self._unsigned(request.checkpoint, exc)
        verifiers = self.config.logs.get(checkpoint.origin)
        if verifiers is None:
            return Response(404, "unknown log origin\n")
        try:
            verify_note(request.checkpoint, verifiers)
        except NoteError as exc:
            return Response(403, f"checkpoint signature: {exc}\n")
        if request.old_size > checkpoint.size:
            return Response(400, "old size is larger than the checkpoint size\n")
        if checkpoint.size == 0 and checkpoint.root_hash != EMPTY_ROOT:
            return Response(422, "a checkpoint of size 0 has the empty tree's root\n")
        signed = Checkpoint(
            checkpoint.origin, checkpoint.size, checkpoint.root_hash, request.checkpoint
        )
        refusal = self.state.advance(signed, request.old_size, list(request.proof))
        if refusal is not None:
            return refusal
        # The new state is durable: only now cosign.
        lines = "".join(c.cosign(text) for c in self.cosigners)
        self.state.record_cosignatures(signed, lines)
        return Response(200, lines)

    def _unsigned(self, note: str, error: NoteError) -> Response:
        """A checkpoint without any signature line: 404 for an unknown log, else 403 (no
        signature from a trusted key); anything else that does not parse is a 400."""
        try:
            checkpoint = parse_checkpoint(note)
        except NoteError:
            return Response(400, f"malformed checkpoint: {error}\n")
        if checkpoint.origin not in self.config.logs:
            return Response(404, "unknown log origin\n")
        return Response(403, "checkpoint has no signature from the log's key\n")

    def latest_checkpoint(self, origin_hash: str) -> Response:
        """``GET /<sha256(origin) hex>/checkpoint``: the latest cosigned checkpoint, cosigned."""
        for origin in self.config.logs:
            if hashlib.sha256(origin.encode("utf-8")).hexdigest() == origin_hash:
                latest = self.state.latest(origin)
                if latest is None:
                    break
                note, lines = latest
                if not lines:  # killed between the commit and recording the lines
                    lines = "".join(c.cosign(split_note(note)[0]) for c in self.cosigners)
                return Response(200, add_cosignatures(note, lines))
        return Response(404, "no checkpoint cosigned for that log\n")
