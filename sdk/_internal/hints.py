"""What to do about a failed call: a reason for transport failures and a one-line hint.

Internal. A call that never reached the gateway carries no ErrorInfo: gRPC only says
``UNAVAILABLE`` with its own text. ``transport_failure`` names the usual causes (an untrusted
certificate, TLS against a plaintext gateway or the reverse, a URL where ``host:port`` belongs,
nothing listening) with a client-side reason; ``hint`` gives the one line that says what to do,
for those and for the gateway's reasons a bank can fix itself (an expired or malformed token).
"""

from __future__ import annotations

CA_HINT = "trust the gateway's CA: TlsConfig(ca_file=<data-dir>/tls/ca.pem)"
TARGET_HINT = "target is host:port, e.g. 127.0.0.1:50051 (no scheme such as https://)"

_TRANSPORT: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (
        ("CERTIFICATE_VERIFY_FAILED",),
        "TLS_CERTIFICATE_UNTRUSTED",
        f"the gateway's certificate is not trusted: {CA_HINT}",
    ),
    (
        ("not in peer certificate", "Peer name"),
        "TLS_NAME_MISMATCH",
        "the certificate does not name this host: TlsConfig(server_name=<name in it>)",
    ),
    (
        ("WRONG_VERSION_NUMBER",),
        "TLS_NOT_SERVED",
        "the gateway serves plaintext (started with --insecure): pass insecure=True, not tls=",
    ),
    (
        ("Socket closed", "Connection reset"),
        "CONNECTION_CLOSED",
        f"if the gateway serves TLS (the default), drop insecure=True and {CA_HINT}",
    ),
    (("errors resolving", "hostname lookup", "DNS resolution"), "TARGET_UNRESOLVED", TARGET_HINT),
    (
        ("Connection refused", "Failed to connect"),
        "GATEWAY_UNREACHABLE",
        "nothing answers at this host:port: is the gateway running there (attestgate serve "
        "--listen HOST:PORT)?",
    ),
)

_BY_REASON: dict[str, str] = {
    "TOKEN_EXPIRED": "get a fresh token (attestgate token ... --ttl 1h), or pass token= a function "
    "that returns a current one",
    "TOKEN_MISSING": "pass token= the bearer token (a JWT) of your role",
    "TOKEN_MALFORMED": "pass token= the JWT itself: three base64url parts joined by dots",
    "TOKEN_WRONG_AUDIENCE": "get a token for this gateway (its gateway_id is the audience)",
    "TOKEN_WRONG_ISSUER": "get a token from an issuer the gateway's config.toml lists",
    "PARAMS_EXCEED_CONSENT": "issue within the consent's bounds (Consent.bounds), or ask the "
    "owner for a new consent that covers these parameters",
}


def transport_failure(code: str, message: str) -> tuple[str, str] | None:
    """``(reason, hint)`` for a call that failed before reaching the gateway, else ``None``."""
    if code != "UNAVAILABLE":
        return None
    for needles, reason, hint in _TRANSPORT:
        if any(needle in message for needle in needles):
            return reason, hint
    return None


def hint(reason: str) -> str:
    """The one line saying what to do about a gateway's ``reason`` (``""``: none known)."""
    return _BY_REASON.get(reason, "")
