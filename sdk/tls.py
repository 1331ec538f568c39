"""TLS settings for SDK clients."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from attestgate.protocol.reasons import FieldViolation
from attestgate.sdk._internal import hints
from attestgate.sdk.errors import InvalidInput


@dataclass(frozen=True)
class TlsConfig:
    """Which CA to trust and, for mutual TLS, the client certificate and key (PEM files).

    ``ca_file=None`` trusts the system roots (a local gateway's CA is ``<data-dir>/tls/ca.pem``).
    ``cert_file`` and ``key_file`` go together. A file that cannot be read is refused at once
    (``errors.InvalidInput``).
    """

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    server_name: str | None = None  # override the name checked in the server certificate

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        for path in (self.ca_file, self.cert_file, self.key_file):
            _read(path)  # a missing or unreadable file is refused here, where it was named

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """gRPC channel credentials built from the files."""
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file),
            private_key=_read(self.key_file),
            certificate_chain=_read(self.cert_file),
        )


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(
            f"cannot read {path}: {exc.strerror}",
            violations=[FieldViolation("tls", f"{path}: {exc.strerror}")],
            hint=hints.CA_HINT + " (the local gateway's: .attestgate/tls/ca.pem)",
        ) from None
