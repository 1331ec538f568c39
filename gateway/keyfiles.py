"""Secret files: private directories and atomic, owner-only writes; refusal of loose permissions.

Shared by the key ring (``gateway.keys``), the dev TLS material (``gateway.tls``) and the provider
registry (``gateway.providers``). A file or directory that group or others can reach is refused,
as ssh refuses such a key, with the ``chmod`` that fixes it.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path


class KeyFileError(Exception):
    """A key file or key directory is missing, malformed or too permissive."""


def ensure_private_dir(path: Path, *, strict: bool = True) -> None:
    """Create ``path`` (and parents) as 0700; with ``strict``, refuse an existing one that group or
    others may access."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
        return
    if not path.is_dir():
        raise KeyFileError(f"{path} exists and is not a directory")
    if not strict:
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"{path} is accessible by group/others (mode {mode:04o}); run: chmod 700 {path}"
        )


def write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed, never widened, the mode
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename durable
    finally:
        os.close(dir_fd)


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file: mode 0600, atomically."""
    write_atomic(path, data, mode=0o600)


def read_private(path: Path) -> bytes:
    """Read a secret file, refusing one that group or others may read or write."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} is missing") from None
    if mode & 0o077:
        raise KeyFileError(
            f"key file {path} is accessible by group/others (mode {mode:04o}); "
            f"run: chmod 600 {path}"
        )
    return path.read_bytes()
