"""Secret files: private directories and atomic, owner-only writes; refusal of loose permissions.

Shared by the key ring (``gateway.common.keys``), the dev TLS material (``gateway.common.tls``),
the provider
registry (``gateway.usecases.providers``) and the trust configuration (``config.toml`` and the JWKS
files
it names, ``gateway.ops.config``, ``gateway.common.auth``). A secret file or directory that group
or others
can reach is refused, as ssh refuses such a key, with the ``chmod`` that fixes it; a file that
says whom to trust (or the folder holding it) is refused when group or others can write it, since
they could add a token issuer or a provider key.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path


class KeyFileError(Exception):
    """A key file or key directory is missing, malformed or too permissive."""


_PRIVATE = 0o077  # group or others may read, write or enter
_WRITABLE = 0o022  # group or others may write


def _refuse_loose(path: Path, st_mode: int, mask: int, what: str) -> None:
    """The one permission check: ``KeyFileError`` naming ``path`` and the ``chmod`` that fixes it
    when ``st_mode`` grants group or others any of ``mask``."""
    if not st_mode & mask:
        return
    if mask == _WRITABLE:
        problem, fix = "writable by group/others", "go-w"
    else:
        problem, fix = "accessible by group/others", "700" if stat.S_ISDIR(st_mode) else "600"
    mode = stat.S_IMODE(st_mode)
    raise KeyFileError(f"{what}{path} is {problem} (mode {mode:04o}); run: chmod {fix} {path}")


def ensure_private_dir(path: Path, *, strict: bool = True) -> None:
    """Create ``path`` (and parents) as 0700; refuse an existing one that group or others may
    access (``strict``) or, not strict (the data dir: a shared parent of secrets), write."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
        return
    if not path.is_dir():
        raise KeyFileError(f"{path} exists and is not a directory")
    _refuse_loose(path, path.stat().st_mode, _PRIVATE if strict else _WRITABLE, "")


def refuse_writable_by_others(path: Path, what: str) -> None:
    """Refuse a file that says whom to trust when group or others may write it or replace it
    (its folder writable, unless sticky like /tmp). A missing file is left to its reader."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    _refuse_loose(path, mode, _WRITABLE, f"{what} ")
    folder_mode = path.parent.stat().st_mode
    if not folder_mode & stat.S_ISVTX:
        _refuse_loose(path.parent, folder_mode, _WRITABLE, f"the folder of {what} ")


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
        st_mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} is missing") from None
    _refuse_loose(path, st_mode, _PRIVATE, "key file ")
    return path.read_bytes()
