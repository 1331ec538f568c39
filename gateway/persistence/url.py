"""What ``--db`` names: the embedded SQLite file or a PostgreSQL server.

``--db`` takes a file path, ``sqlite:///path`` or ``postgresql://user@host:port/dbname?options``
(``postgres://`` too: the libpq URI forms). Empty means ``<data-dir>/attestgate.db``. Messages show
a URL only through ``DatabaseUrl.display``, which hides a password.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from attestgate.audit.sql import Dialect
from attestgate.gateway.ops.config import ConfigError

__all__ = ["DEFAULT_SQLITE_NAME", "DatabaseUrl", "StorageError", "parse_db"]

DEFAULT_SQLITE_NAME = "attestgate.db"
_POSTGRES_SCHEMES = frozenset({"postgresql", "postgres"})


class StorageError(ConfigError):
    """The database cannot be opened or used as configured (printed without a traceback)."""


@dataclass(frozen=True)
class DatabaseUrl:
    """A parsed ``--db``: the dialect, and the SQLite file or the libpq connection URI."""

    dialect: Dialect
    sqlite_path: Path | None = None
    conninfo: str = ""

    @property
    def display(self) -> str:
        """The database for messages and logs: the file path, or the URI without its password."""
        if self.sqlite_path is not None:
            return str(self.sqlite_path)
        parsed = urlparse(self.conninfo)
        if parsed.password is None:
            return self.conninfo
        netloc = f"{parsed.username or ''}:***@{parsed.hostname or ''}"
        if parsed.port is not None:
            netloc += f":{parsed.port}"
        return urlunparse(parsed._replace(netloc=netloc))


def parse_db(db: str, data_dir: Path) -> DatabaseUrl:
    """Parse ``--db`` (see module docstring); ``StorageError`` for an unsupported scheme."""
    if not db:
        return DatabaseUrl(Dialect.SQLITE, sqlite_path=data_dir / DEFAULT_SQLITE_NAME)
    parsed = urlparse(db)
    if parsed.scheme in _POSTGRES_SCHEMES:
        return DatabaseUrl(Dialect.POSTGRESQL, conninfo=db)
    if parsed.scheme == "sqlite":
        return DatabaseUrl(Dialect.SQLITE, sqlite_path=Path(parsed.path))
    if parsed.scheme:
        raise StorageError(
            f"unsupported --db scheme {parsed.scheme!r}: use a file path, sqlite:///path or "
            "postgresql://..."
        )
    return DatabaseUrl(Dialect.SQLITE, sqlite_path=Path(db))
