"""Gateway configuration: defaults < TOML file < command-line flags.

The TOML file uses the same keys as the ``attestgate serve`` flags (``data_dir``, ``listen``,
``db``, ``insecure``, ...; dashes become underscores) plus ``[[issuers]]`` tables::

    gateway_id = "attestgate"
    listen = "127.0.0.1:50051"
    token_leeway = "30s"            # durations: "250ms", "30s", "10m", "1h", "2d" or seconds

    [[issuers]]
    issuer = "https://idp.example"
    jwks_file = "idp.jwks.json"     # or: jwks = { keys = [ ... ] }
    audience = "attestgate-prod"    # optional; default: gateway_id

    witness_k = 2                   # checkpoints are published once 2 witnesses cosigned them
    [[witnesses]]
    name = "bank"                   # for logs and metrics
    url = "https://witness.bank.example"
    vkeys = ["witness.bank.example/w1+1a2b3c4d+BA..."]  # its cosigning keys (or vkey = "...")
    ca_file = "bank-witness-ca.pem" # optional: the CA of its HTTPS; default: the system's

Relative paths in a TOML file resolve against the folder holding that file and are made absolute
(``..`` is allowed, the result is resolved); relative paths given as flags resolve against the
current directory. Unknown keys and bad values raise ``ConfigError`` naming the key and the file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attestgate.gateway.common.keyfiles import KeyFileError, refuse_writable_by_others
from attestgate.protocol.cosignature import WitnessKey
from attestgate.protocol.note import NoteError

DEFAULT_DATA_DIR = Path(".attestgate")
DEFAULT_LISTEN = "127.0.0.1:50051"
DB_FILE_NAME = "attestgate.db"
CONFIG_FILE_NAME = "config.toml"


class ConfigError(Exception):
    """The configuration is unusable; the message names the key and where it came from."""


@dataclass(frozen=True)
class TrustedIssuer:
    """A bearer-token issuer the gateway trusts, with its JWKS inline or in a file."""

    issuer: str
    jwks: Mapping[str, Any] | None = None
    jwks_file: Path | None = None
    audience: str | None = None

    def __post_init__(self) -> None:
        if not self.issuer:
            raise ConfigError("issuers: 'issuer' must be a non-empty string")
        if (self.jwks is None) == (self.jwks_file is None):
            raise ConfigError(f"issuer {self.issuer!r}: give exactly one of 'jwks' or 'jwks_file'")


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness the gateway submits its checkpoints to (c2sp.org/tlog-witness)."""

    name: str
    url: str
    """The witness's submission prefix (``<url>/add-checkpoint``), http:// or https://."""
    keys: tuple[WitnessKey, ...]
    """Its cosigning keys: only lines of these keys are stored and served."""
    ca_file: Path | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", self.name):
            raise ConfigError("witnesses: 'name' is 1-64 letters, digits, '.', '_' or '-'")
        if not self.url.startswith(("https://", "http://")):
            raise ConfigError(f"witness {self.name!r}: 'url' must be an https:// (or http://) URL")
        if not self.keys:
            raise ConfigError(f"witness {self.name!r}: give its cosigning key(s): vkey or vkeys")


@dataclass(frozen=True)
class GatewayConfig:
    """Everything ``attestgate serve`` needs; build it with ``load_config``."""

    data_dir: Path = DEFAULT_DATA_DIR
    listen: str = DEFAULT_LISTEN
    db: str = ""  # empty: the SQLite file <data_dir>/attestgate.db
    insecure: bool = False
    gateway_id: str = "attestgate"
    issuers: tuple[TrustedIssuer, ...] = ()
    # Witnesses (gateway.witness.collector): every new checkpoint is submitted to each of them;
    # with witness_k > 0 the log publishes the newest checkpoint k of them cosigned.
    witnesses: tuple[WitnessEndpoint, ...] = ()
    witness_k: int = 0
    witness_timeout: timedelta = timedelta(seconds=5)  # one add-checkpoint request
    witness_retry_max: timedelta = timedelta(seconds=30)  # longest wait between retries
    token_leeway: timedelta = timedelta(seconds=30)
    tls_cert: Path | None = None  # None: the dev certificate under <data_dir>/tls/
    tls_key: Path | None = None
    tls_ca: Path | None = None  # CA for client certificates (mTLS); None: the dev CA
    tls_client_auth: bool = False
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    grace_period: timedelta = timedelta(seconds=10)
    attestation_ttl: timedelta = timedelta(minutes=10)
    audit_batch_max: int = 256
    audit_batch_wait_ms: int = 0  # extra wait for a batch to fill; 0: natural group commit
    checkpoint_interval: timedelta = timedelta(seconds=1)
    # Units of work waiting and no batch finished for this long: the audit writer is stalled
    # (error log with its stack, health NOT_SERVING until it moves again; gateway.ops.writer_watch).
    audit_writer_stall_timeout: timedelta = timedelta(seconds=30)
    log_origin: str = "attestgate.local/log"
    max_message_bytes: int = 1024 * 1024
    max_workers: int = 32
    portal: str = ""  # HOST:PORT of the owner/regulator web portal; empty: off (gateway.portal)
    # Portal sign-in (gateway.portal.oidc): "auto" (OpenID Connect when portal_oidc_issuer is set,
    # else pasting a bearer token, the dev mode), "oidc" or "token"; and the signed-in lifetime.
    portal_login: str = "auto"
    portal_session_ttl: timedelta = timedelta(hours=8)
    # The IANA zone the owner pages show times in (UTC on hover); gateway.portal.localfmt.
    portal_time_zone: str = "Asia/Shanghai"
    portal_oidc_issuer: str = ""  # the identity provider's issuer URL (discovery under it)
    portal_oidc_client_id: str = ""
    portal_oidc_client_secret_file: Path | None = None  # the client secret (a 0600 file)
    # A PEM private key (EC P-256 or RSA, 0600): the client authenticates with private_key_jwt
    # (RFC 7523) instead of the secret; its public JWK is registered at the provider.
    portal_oidc_private_key_file: Path | None = None
    portal_oidc_redirect_url: str = ""  # empty: <portal URL>/login/callback
    portal_oidc_scopes: str = "openid"  # space-separated
    portal_oidc_owner_claim: str = "sub"  # its value is the consent owner; absent: no owner
    portal_oidc_role_claim: str = "roles"  # string or array; regulator_role in it: a regulator
    portal_oidc_regulator_role: str = "regulator"
    portal_oidc_ca_file: Path | None = None  # CA of the provider's HTTPS; empty: the system's
    # The public HTTPS face (gateway.public: issuer metadata, type metadata): HOST:PORT, "off",
    # or "auto" (on when TLS is: the gRPC host, its port + 1; off with insecure).
    public: str = "auto"
    # The issuer's HTTPS URL, every attestation's `iss`; empty: https://<public host:port>.
    public_url: str = ""
    # Token Status List (gateway.usecases.status): entries per list (herd privacy: large lists)
    # and how often the signed lists are published (their ttl; changes show within one interval).
    status_list_size: int = 1 << 17
    status_list_interval: timedelta = timedelta(seconds=60)
    # Overload protection (gateway.common.limits): calls in flight at once (running or waiting for
    # one
    # of max_workers threads; beyond: OVERLOADED at once), and a token bucket per principal
    # (subject + role): rate per second and burst (0: the rate rounded up); rate 0: off.
    max_concurrent_rpcs: int = 256
    rate_limit_per_second: float = 0.0
    rate_limit_burst: int = 0
    # Refusal leaves per caller (gateway.usecases.refusal_budget): beyond the bucket a refusal is
    # answered
    # and counted, not logged one leaf each; per minute 0: every refusal is a leaf.
    refusal_audit_per_minute: float = 60.0
    refusal_audit_burst: int = 20
    # Streams (gateway.transport.streams): open at once in total (0: half of max_workers; at most
    # max_workers minus a quarter of them, the rest stays for unary calls), per caller (token
    # principal, or peer address without a token), and without a token (all peers together);
    # beyond: TOO_MANY_STREAMS at once. Watches end (status OK) after stream_max_lifetime; a
    # stream waiting for client messages (reflection) is closed after stream_idle_timeout.
    max_streams: int = 0
    max_streams_per_caller: int = 4
    max_anonymous_streams: int = 4
    stream_max_lifetime: timedelta = timedelta(minutes=30)
    stream_idle_timeout: timedelta = timedelta(seconds=60)
    # Prometheus metrics (gateway.ops.metrics): HOST:PORT, empty: off; loopback only unless allowed.
    metrics: str = ""
    metrics_allow_remote: bool = False
    storage_check_interval: timedelta = timedelta(seconds=1)  # readiness (gateway.ops.readiness)
    # The provider role that may upload FX rate tables (gateway.usecases.records; `attestgate
    # providers`).
    fx_rates_role: str = "fx_authority"
    # Undecided consent requests one bank may have open to one owner (gateway.usecases.consents);
    # beyond:
    # TOO_MANY_PENDING_REQUESTS until the owner decides some or they expire.
    max_pending_requests: int = 10

    def __post_init__(self) -> None:
        if not self.db:
            object.__setattr__(self, "db", str(self.data_dir / DB_FILE_NAME))

    @property
    def keys_dir(self) -> Path:
        """Where the key ring lives."""
        return self.data_dir / "keys"

    @property
    def tls_dir(self) -> Path:
        """Where the dev CA and server certificate live."""
        return self.data_dir / "tls"

    @property
    def signing_key_overlap(self) -> timedelta:
        """How long a retired signing key stays published: its last token's lifetime plus leeway."""
        return self.attestation_ttl + self.token_leeway


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: object) -> timedelta:
    """Parse ``"250ms"``, ``"30s"``, ``"10m"``, ``"1h"``, ``"2d"`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration, got a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError(f"expected a duration like '30s', '10m' or '1h', got {value!r}")
    if seconds < 0:
        raise ValueError("a duration must not be negative")
    return timedelta(seconds=seconds)


def _as_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _as_str(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    return value


def _as_positive_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError("expected a positive integer")
    return value


def _as_status_list_size(value: object) -> int:
    size = _as_positive_int(value)
    if size % 1024:
        raise ValueError("expected a multiple of 1024 (herd privacy needs large lists)")
    return size


def _as_whole_seconds(value: object) -> timedelta:
    interval = parse_duration(value)
    if interval.total_seconds() < 1 or interval.total_seconds() % 1:
        raise ValueError("expected whole seconds, at least 1s (a token's ttl is in seconds)")
    return interval


def _as_non_negative_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("expected an integer >= 0")
    return value


def _as_non_negative_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e9:
        raise ValueError("expected a number >= 0")
    return float(value)


def _as_role(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", value):
        raise ValueError("expected a role name matching [a-z][a-z0-9_]{0,63}")
    return value


def _as_portal_login(value: object) -> str:
    if value not in ("auto", "oidc", "token"):
        raise ValueError('must be "auto", "oidc" or "token"')
    return str(value)


def _as_time_zone(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected an IANA time zone name such as Asia/Shanghai")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not an IANA time zone name (e.g. Asia/Shanghai, Europe/Berlin, UTC)"
        ) from None
    return value


def _as_log_format(value: object) -> str:
    if value not in ("text", "json"):
        raise ValueError("expected 'text' or 'json'")
    return str(value)


def _as_log_level(value: object) -> str:
    levels = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    if not isinstance(value, str) or value.upper() not in levels:
        raise ValueError(f"expected one of {', '.join(levels)}")
    return value.upper()


_PATH_KEYS = frozenset(
    {"data_dir", "tls_cert", "tls_key", "tls_ca", "portal_oidc_client_secret_file"}
    | {"portal_oidc_ca_file", "portal_oidc_private_key_file"}
)
_CONVERTERS: dict[str, Callable[[object], object]] = {
    "data_dir": _as_str,
    "listen": _as_str,
    "db": _as_str,
    "insecure": _as_bool,
    "gateway_id": _as_str,
    "token_leeway": parse_duration,
    "tls_cert": _as_str,
    "tls_key": _as_str,
    "tls_ca": _as_str,
    "tls_client_auth": _as_bool,
    "log_format": _as_log_format,
    "log_level": _as_log_level,
    "grace_period": parse_duration,
    "attestation_ttl": parse_duration,
    "audit_batch_max": _as_positive_int,
    "audit_batch_wait_ms": _as_non_negative_int,
    "checkpoint_interval": parse_duration,
    "audit_writer_stall_timeout": parse_duration,
    "log_origin": _as_str,
    "max_message_bytes": _as_positive_int,
    "max_workers": _as_positive_int,
    "portal": _as_str,
    "portal_login": _as_portal_login,
    "portal_session_ttl": parse_duration,
    "portal_time_zone": _as_time_zone,
    "portal_oidc_issuer": _as_str,
    "portal_oidc_client_id": _as_str,
    "portal_oidc_client_secret_file": _as_str,
    "portal_oidc_private_key_file": _as_str,
    "portal_oidc_redirect_url": _as_str,
    "portal_oidc_scopes": _as_str,
    "portal_oidc_owner_claim": _as_str,
    "portal_oidc_role_claim": _as_str,
    "portal_oidc_regulator_role": _as_str,
    "portal_oidc_ca_file": _as_str,
    "public": _as_str,
    "public_url": _as_str,
    "status_list_size": _as_status_list_size,
    "status_list_interval": _as_whole_seconds,
    "max_concurrent_rpcs": _as_positive_int,
    "rate_limit_per_second": _as_non_negative_float,
    "rate_limit_burst": _as_non_negative_int,
    "refusal_audit_per_minute": _as_non_negative_float,
    "refusal_audit_burst": _as_non_negative_int,
    "max_streams": _as_non_negative_int,
    "max_streams_per_caller": _as_positive_int,
    "max_anonymous_streams": _as_positive_int,
    "stream_max_lifetime": parse_duration,
    "stream_idle_timeout": parse_duration,
    "metrics": _as_str,
    "metrics_allow_remote": _as_bool,
    "storage_check_interval": parse_duration,
    "fx_rates_role": _as_role,
    "max_pending_requests": _as_positive_int,
    "witness_k": _as_non_negative_int,
    "witness_timeout": parse_duration,
    "witness_retry_max": parse_duration,
}
_ISSUER_KEYS = frozenset({"issuer", "jwks", "jwks_file", "audience"})
_WITNESS_KEYS = frozenset({"name", "url", "vkey", "vkeys", "ca_file"})
assert set(_CONVERTERS) | {"issuers", "witnesses"} == {f.name for f in fields(GatewayConfig)}


def _convert(key: str, value: object, base: Path, source: str) -> object:
    try:
        converted = _CONVERTERS[key](value)
    except ValueError as exc:
        raise ConfigError(f"{source}: bad value for {key!r}: {exc}") from None
    if key in _PATH_KEYS:
        return _resolve(Path(str(converted)), base)
    if key == "db" and _looks_like_path(str(converted)):
        return str(_resolve(Path(str(converted)), base))
    return converted


def _looks_like_path(db: str) -> bool:
    return "://" not in db


def _resolve(path: Path, base: Path) -> Path:
    # Relative paths are relative to the file that names them, then made absolute so a later
    # chdir cannot redirect them; ".." is resolved here, not rejected.
    path = path.expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def _parse_issuers(value: object, base: Path, source: str) -> tuple[TrustedIssuer, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{source}: 'issuers' must be an array of tables ([[issuers]])")
    issuers = []
    for index, table in enumerate(value):
        where = f"{source}: issuers[{index}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table")
        unknown = sorted(set(table) - _ISSUER_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}")
        jwks = table.get("jwks")
        jwks_file = table.get("jwks_file")
        audience = table.get("audience")
        if jwks is not None and not isinstance(jwks, dict):
            raise ConfigError(f"{where}: 'jwks' must be a table with a 'keys' array")
        if jwks_file is not None and not isinstance(jwks_file, str):
            raise ConfigError(f"{where}: 'jwks_file' must be a path string")
        if audience is not None and not isinstance(audience, str):
            raise ConfigError(f"{where}: 'audience' must be a string")
        try:
            issuers.append(
                TrustedIssuer(
                    issuer=str(table.get("issuer") or ""),
                    jwks=jwks,
                    jwks_file=_resolve(Path(jwks_file), base) if jwks_file else None,
                    audience=audience,
                )
            )
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return tuple(issuers)


def _parse_witnesses(value: object, base: Path, source: str) -> tuple[WitnessEndpoint, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{source}: 'witnesses' must be an array of tables ([[witnesses]])")
    witnesses = [_parse_witness(t, base, f"{source}: witnesses[{i}]") for i, t in enumerate(value)]
    if len({w.name for w in witnesses}) != len(witnesses):
        raise ConfigError(f"{source}: each of the [[witnesses]] has its own name")
    return tuple(witnesses)


def _parse_witness(table: object, base: Path, where: str) -> WitnessEndpoint:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(table) - _WITNESS_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}")
    listed = table.get("vkeys", [])
    vkeys = [table["vkey"]] if "vkey" in table else []
    vkeys += listed if isinstance(listed, list) else [listed]
    ca_file = table.get("ca_file")
    try:
        if not all(isinstance(v, str) for v in vkeys) or not isinstance(ca_file, str | None):
            raise ConfigError("'vkey', 'vkeys' and 'ca_file' are strings")
        keys = tuple(WitnessKey.from_vkey(v) for v in vkeys)
        return WitnessEndpoint(
            name=str(table.get("name") or ""),
            url=str(table.get("url") or "").rstrip("/"),
            keys=keys,
            ca_file=_resolve(Path(ca_file), base) if ca_file else None,
        )
    except (ConfigError, NoteError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        # It names the token issuers to trust: nobody else may be able to change it.
        refuse_writable_by_others(path, "config file")
    except KeyFileError as exc:
        raise ConfigError(str(exc)) from None
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _collect(raw: Mapping[str, object], base: Path, source: str) -> dict[str, object]:
    values: dict[str, object] = {}
    for key, value in raw.items():
        if value is None:
            continue  # an unset flag
        if key == "issuers":
            values[key] = _parse_issuers(value, base, source)
        elif key == "witnesses":
            values[key] = _parse_witnesses(value, base, source)
        elif key in _CONVERTERS:
            values[key] = _convert(key, value, base, source)
        else:
            raise ConfigError(f"{source}: unknown key {key!r}")
    return values


def load_config(path: Path | None, overrides: Mapping[str, object] | None = None) -> GatewayConfig:
    """Build the configuration: defaults, then the TOML file at ``path``, then ``overrides``.

    ``overrides`` uses the same keys as the file; ``None`` values mean "flag not given".
    """
    values: dict[str, object] = {}
    if path is not None:
        path = path.expanduser().resolve()
        values.update(_collect(_read_toml(path), path.parent, str(path)))
    values.update(_collect(overrides or {}, Path.cwd(), "command line"))
    if "data_dir" not in values:
        values["data_dir"] = DEFAULT_DATA_DIR.resolve()
    config = GatewayConfig(**values)  # type: ignore[arg-type]
    if config.tls_client_auth and config.insecure:
        raise ConfigError("tls_client_auth needs TLS; it cannot be combined with insecure")
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ConfigError("tls_cert and tls_key must be given together")
    if config.portal_login == "oidc" and not config.portal_oidc_issuer:
        raise ConfigError('portal_login = "oidc" needs portal_oidc_issuer')
    if config.portal_oidc_issuer and not config.portal_oidc_client_id:
        raise ConfigError("portal_oidc_issuer needs portal_oidc_client_id")
    if config.witness_k > len(config.witnesses):
        raise ConfigError(
            f"witness_k = {config.witness_k} but {len(config.witnesses)} [[witnesses]] are listed"
        )
    return config


def with_overrides(config: GatewayConfig, **changes: Any) -> GatewayConfig:
    """A copy of ``config`` with fields replaced (for tests and embedding).

    A default database follows a changed ``data_dir`` unless ``db`` is given too.
    """
    default_db = config.db == str(config.data_dir / DB_FILE_NAME)
    if "data_dir" in changes and "db" not in changes and default_db:
        changes["db"] = ""
    return replace(config, **changes)


_WITNESS_EXAMPLE = (
    '# witnesses = [{ name = "bank", url = "https://witness.bank.example", vkey = '
    '"witness.bank.example/w1+d5ccce5d+BDtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop" }]'
)


def default_config_toml(*, gateway_id: str, dev_issuer: str, jwks_file_name: str) -> str:
    """The ``config.toml`` written on first start: trusts only this data dir's dev issuer."""
    return f"""\
# attestgate gateway configuration. Every key is below, commented out with its default (or an
# example where there is none); `attestgate serve` flags of the same name win.
# Relative paths resolve against this file's folder. Durations: "250ms", "30s", "10m", "1h", "2d".

gateway_id = "{gateway_id}"       # the gateway's name; the default audience of tokens
# listen = "127.0.0.1:50051"     # gRPC HOST:PORT (port 0: any free port)
# data_dir = "."                 # keys/, tls/, providers/; default: --data-dir (.attestgate)
# db = "postgresql://user@host:5432/attestgate"   # default: attestgate.db in the data dir
# insecure = false               # true: plaintext instead of TLS (loopback only)
# tls_cert = "server.pem"        # server certificate and key; default: the dev ones under tls/
# tls_key = "server.key"
# tls_ca = "clients-ca.pem"      # CA of client certificates (mTLS); default: the dev CA
# tls_client_auth = false        # true: clients must present a certificate from tls_ca
# log_format = "text"            # or "json" (JSON lines)
# log_level = "INFO"             # DEBUG, INFO, WARNING, ERROR or CRITICAL
# token_leeway = "30s"           # clock skew allowed on token exp/iat/nbf
# attestation_ttl = "10m"        # lifetime of an attestation, issue to redemption
# grace_period = "10s"           # on SIGTERM: how long in-flight calls may finish
# log_origin = "attestgate.local/log"  # the audit log's name in its signed checkpoints
# max_message_bytes = 1048576    # largest gRPC message received or sent
# max_workers = 32               # gRPC worker threads (PostgreSQL: max_workers + 2 connections)
# portal = "127.0.0.1:8080"      # owner consent portal and audit viewer (HTTPS); off by default
# portal_login = "auto"          # "oidc", "token" (dev: paste a bearer token) or "auto" (oidc
#                                # when portal_oidc_issuer is set, else token)
# portal_session_ttl = "8h"      # a signed-in portal session ends this long after sign-in
# portal_time_zone = "Asia/Shanghai"  # owner pages show times in this IANA zone (UTC on hover)
# portal_oidc_issuer = "https://id.example"  # OpenID provider (discovery under it); off by default
# portal_oidc_client_id = "attestgate-portal"  # the portal's client registration there
# portal_oidc_client_secret_file = "portal-oidc.secret"  # its client secret (file mode 0600)
# portal_oidc_private_key_file = "portal-oidc.key"  # or: private_key_jwt with this PEM key (0600)
# portal_oidc_redirect_url = "https://portal.example/login/callback"  # default: the portal's
# portal_oidc_scopes = "openid"  # space-separated scopes asked for
# portal_oidc_owner_claim = "sub"  # ID token claim naming the consent owner; absent: no owner
# portal_oidc_role_claim = "roles"  # ID token claim with roles (string or array)
# portal_oidc_regulator_role = "regulator"  # that role in it signs in as a regulator
# portal_oidc_ca_file = "idp-ca.pem"  # CA of the provider's HTTPS; default: the system's
# public = "auto"                # issuer and type metadata over HTTPS: HOST:PORT, "off", or "auto"
#                                # (with TLS: the gRPC host, port + 1)
# public_url = "https://issuer.example"  # every attestation's iss; default https://<public>
# status_list_size = 131072      # entries per status list (random indices: herd privacy)
# status_list_interval = "60s"   # status lists are signed and published this often (their ttl)
# metrics = "127.0.0.1:9464"     # Prometheus metrics; off by default
# metrics_allow_remote = false   # true: metrics may listen on a non-loopback address
# max_concurrent_rpcs = 256      # past it: RESOURCE_EXHAUSTED (OVERLOADED) at once
# rate_limit_per_second = 0      # per caller (subject + role); 0: off
# rate_limit_burst = 0           # 0: the rate rounded up
# max_streams = 0                # streams at once (0: half of max_workers); then TOO_MANY_STREAMS
# max_streams_per_caller = 4     # per token principal, or per peer address without a token
# max_anonymous_streams = 4      # without a token (reflection, health Watch), all peers together
# stream_max_lifetime = "30m"    # watches then end with OK; reopen with the last cursor
# stream_idle_timeout = "60s"    # a reflection stream without a request for this long is closed
# refusal_audit_per_minute = 60  # refusal leaves per caller; beyond: answered, counted, not logged
# refusal_audit_burst = 20
# audit_batch_max = 256          # group commit: units of work per durable transaction
# audit_batch_wait_ms = 0        # extra wait for a batch to fill (0: natural group commit)
# checkpoint_interval = "1s"     # at most one signed checkpoint per interval: checkpoints lag
#                                # the log by up to this (docs/protocol.md, "The audit log")
# audit_writer_stall_timeout = "30s"  # writes waiting this long: health NOT_SERVING (0: off)
# storage_check_interval = "1s"  # how often readiness probes the database
# fx_rates_role = "fx_authority" # the provider role that uploads FX rate tables
# max_pending_requests = 10      # open requests per bank and owner; then TOO_MANY_PENDING_REQUESTS
# witness_k = 0                  # publish the newest checkpoint k [[witnesses]] cosigned (0: the
#                                # newest checkpoint, with the cosignatures it has so far)
# witness_timeout = "5s"         # one add-checkpoint request to a witness
# witness_retry_max = "30s"      # a witness that fails is retried after 0.5s, 1s, ... up to this
# Witnesses cosigning each checkpoint (docs/witnessing.md): one table each with name (logs,
# metrics), url (its add-checkpoint prefix), vkey or vkeys (its keys), ca_file (optional); or
# one [[witnesses]] section each, with the same keys.
{_WITNESS_EXAMPLE}

# Token issuers trusted, one [[issuers]] table each: issuer (the tokens' iss), jwks_file (a JWKS
# file) or jwks = {{ keys = [...] }} (inline), audience (optional; default: gateway_id).
# ES256 and EdDSA keys only. This one is the development issuer of this data dir
# (`attestgate token ...`); production: replace it with your identity provider(s). A config with
# no [[issuers]] at all trusts this dev issuer too (`serve` says so at start-up).
[[issuers]]
issuer = "{dev_issuer}"
jwks_file = "{jwks_file_name}"
# audience = "{gateway_id}"
"""
