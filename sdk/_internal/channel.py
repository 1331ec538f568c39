"""Channels for SDK clients: TLS by default, a bearer token on every call, SDK exceptions.

Internal (no stability guarantee): the public clients build their channel here. The interceptor
adds ``authorization: Bearer <token>`` (RFC 6750 §2.1) and turns every ``grpc.RpcError`` of a
blocking call or of a stream into an ``sdk.errors.AttestgateError`` through ``from_rpc_error``
(the one translation point). ``.future()`` calls are returned untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from attestgate.sdk.errors import from_rpc_error
from attestgate.sdk.tls import TlsConfig

TokenSource = str | Callable[[], str]
"""A bearer token, or a function returning the current one (for refreshing tokens)."""


def authorization(token: TokenSource) -> str:
    """The ``authorization`` header value for ``token`` (read now if it is a function); a token
    given with its ``Bearer `` prefix, or surrounding blanks, is taken as the bare token."""
    value = (token() if callable(token) else token).strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].lstrip()
    return f"Bearer {value}"


@dataclass(frozen=True)
class _CallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: tuple[tuple[str, str | bytes], ...] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _MappedStream:
    """A response stream whose ``RpcError`` becomes an SDK exception; delegates the rest."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            return next(self._call)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None  # kept as .rpc_error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


class SdkClientInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
):
    """Adds the bearer token and maps errors to ``sdk.errors``."""

    def __init__(self, token: TokenSource | None) -> None:
        self._token = token

    def _details(self, details: grpc.ClientCallDetails) -> _CallDetails:
        metadata = [(k, v) for k, v in (details.metadata or ()) if k.lower() != "authorization"]
        if self._token is not None:
            metadata.append(("authorization", authorization(self._token)))
        return _CallDetails(
            details.method,
            details.timeout,
            tuple(metadata),
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        """Send with the token; raise the SDK exception for a failed blocking call."""
        outcome = continuation(self._details(client_call_details), request)
        if outcome.done():  # blocking call: the outcome is already known
            error = outcome.exception()
            if isinstance(error, grpc.RpcError):
                raise from_rpc_error(error) from None  # kept as .rpc_error
        return outcome

    def intercept_unary_stream(
        self, continuation: Any, client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        """Send with the token; map errors raised while iterating the stream."""
        return _MappedStream(continuation(self._details(client_call_details), request))


def open_channel(
    target: str,
    *,
    tls: TlsConfig | None = None,
    insecure: bool = False,
    token: TokenSource | None = None,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.Channel:
    """A channel to ``target`` (``host:port``): TLS unless ``insecure``; ``tls=None`` trusts the
    system roots. Every call carries ``token`` and raises ``sdk.errors`` exceptions."""
    if insecure and tls is not None:
        raise ValueError("give either tls or insecure=True, not both")
    all_options = list(options)
    if insecure:
        channel = grpc.insecure_channel(target, options=all_options)
    else:
        tls = tls or TlsConfig()
        if tls.server_name:
            all_options.append(("grpc.ssl_target_name_override", tls.server_name))
        channel = grpc.secure_channel(target, tls.channel_credentials(), options=all_options)
    return grpc.intercept_channel(channel, SdkClientInterceptor(token))
