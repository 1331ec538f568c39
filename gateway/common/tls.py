"""TLS for the gateway: a development CA and server certificate, and gRPC server credentials.

On first start ``ensure_dev_tls`` creates ``<data_dir>/tls/ca.pem`` (+ ``ca.key``, 0600) and a
server certificate signed by it (``server.pem`` + ``server.key``, 0600) for ``localhost``,
``127.0.0.1``, ``::1`` and the listen host. Clients trust ``ca.pem``. A production config names
its own ``tls_cert``/``tls_key``; ``tls_client_auth`` turns on mutual TLS against ``tls_ca``
(default: the dev CA, which can also issue client certificates with ``issue_client_cert``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from attestgate.gateway.common.keys import (
    KeyFileError,
    ensure_private_dir,
    private_key_pem,
    read_private,
    write_atomic,
    write_private,
)
from attestgate.gateway.ops.config import GatewayConfig

CA_VALIDITY = timedelta(days=3650)
LEAF_VALIDITY = timedelta(days=365)
RENEW_BEFORE = timedelta(days=30)
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})  # noqa: S104 - names, not binds


@dataclass(frozen=True)
class TlsFiles:
    """Where the TLS material of a data dir lives."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path

    @classmethod
    def in_dir(cls, tls_dir: Path) -> TlsFiles:
        """The dev layout under ``tls_dir``."""
        return cls(
            tls_dir / "ca.pem", tls_dir / "ca.key", tls_dir / "server.pem", tls_dir / "server.key"
        )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(read_private(path), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFileError(f"{path} is not an EC private key")
    return key


def _san_entries(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):  # keep order, drop duplicates
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host.strip("[]"))))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _build_cert(
    *,
    subject: str,
    public_key: ec.EllipticCurvePublicKey,
    issuer: x509.Certificate | None,
    signer: ec.EllipticCurvePrivateKey,
    now: datetime,
    validity: timedelta,
    sans: list[x509.GeneralName] | None = None,
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # tolerate small clock skew
        .not_valid_after(now + validity)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer is None:  # the CA (RFC 5280 §4.2.1.9, §4.2.1.3)
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
        )
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
        )
        if usage is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), False)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), False)
    return builder.sign(signer, hashes.SHA256())


def _ensure_ca(
    files: TlsFiles, now: datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    if files.ca_cert.exists():
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        return ca, _load_key(files.ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    ca = _build_cert(
        subject="attestgate development CA",
        public_key=key.public_key(),
        issuer=None,
        signer=key,
        now=now,
        validity=CA_VALIDITY,
    )
    write_private(files.ca_key, private_key_pem(key))
    write_atomic(files.ca_cert, ca.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return ca, key


def _server_cert_fresh(files: TlsFiles, sans: list[x509.GeneralName], now: datetime) -> bool:
    if not (files.server_cert.exists() and files.server_key.exists()):
        return False
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    try:
        present = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return False
    return set(sans) <= present and cert.not_valid_after_utc - RENEW_BEFORE > now


def ensure_dev_tls(tls_dir: Path, *, listen_host: str, now: datetime) -> TlsFiles:
    """Create (or renew) the dev CA and a server certificate covering ``listen_host``."""
    ensure_private_dir(tls_dir)
    files = TlsFiles.in_dir(tls_dir)
    ca, ca_key = _ensure_ca(files, now)
    hosts = ["localhost", "127.0.0.1", "::1"]
    if listen_host not in _WILDCARD_HOSTS:
        hosts.append(listen_host)
    sans = _san_entries(hosts)
    if not _server_cert_fresh(files, sans, now):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _build_cert(
            subject="attestgate gateway",
            public_key=key.public_key(),
            issuer=ca,
            signer=ca_key,
            now=now,
            validity=LEAF_VALIDITY,
            sans=sans,
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
        )
        write_private(files.server_key, private_key_pem(key))
        write_atomic(files.server_cert, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return files


def issue_client_cert(tls_dir: Path, *, common_name: str, now: datetime) -> tuple[bytes, bytes]:
    """Issue a dev-CA client certificate for mTLS: ``(cert_pem, key_pem)``; nothing is stored."""
    files = TlsFiles.in_dir(tls_dir)
    ca, ca_key = _ensure_ca(files, now)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _build_cert(
        subject=common_name,
        public_key=key.public_key(),
        issuer=ca,
        signer=ca_key,
        now=now,
        validity=LEAF_VALIDITY,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    return cert.public_bytes(serialization.Encoding.PEM), private_key_pem(key)


def server_credentials(config: GatewayConfig) -> grpc.ServerCredentials:
    """gRPC server credentials from ``config`` (dev certificate unless ``tls_cert`` is set)."""
    dev = TlsFiles.in_dir(config.tls_dir)
    cert_path = config.tls_cert or dev.server_cert
    key_path = config.tls_key or dev.server_key
    try:
        cert = cert_path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"TLS certificate {cert_path} is missing") from None
    key = read_private(key_path)
    if not config.tls_client_auth:
        return grpc.ssl_server_credentials([(key, cert)])
    ca_path = config.tls_ca or dev.ca_cert
    try:
        roots = ca_path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"client CA {ca_path} is missing") from None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=roots, require_client_auth=True
    )
