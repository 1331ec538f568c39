"""Plumbing shared by the SDK clients: the channel, a default deadline per call, paging, closing.

Internal (no stability guarantee). Every client owns one channel built by ``open_channel`` (TLS by
default, bearer token, errors mapped to ``sdk.errors``) and closes it on ``close()`` or when its
``with`` block ends. Unary calls get a deadline (``timeout``, seconds) so a hung gateway surfaces
as ``sdk.errors.DeadlineExceeded`` instead of blocking forever; streams run without one unless
the caller asks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from sdk._internal.channel import TokenSource, open_channel
from sdk.tls import TlsConfig

T = TypeVar("T")
M = TypeVar("M")

DEFAULT_TIMEOUT = 10.0
"""Seconds a unary call may take before it fails with ``DeadlineExceeded``."""

PAGE_SIZE = 200
"""Items asked for per page when a client follows ``next_page_token`` (AIP-158)."""

MAX_PAGES = 100_000
"""Safety stop for a server that keeps returning a next page token."""


class ClientBase:
    """A channel with defaults; subclasses add stubs and typed methods."""

    def __init__(
        self,
        target: str,
        *,
        token: TokenSource | None,
        tls: TlsConfig | None = None,
        insecure: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._target = target
        self._timeout = timeout
        self._channel = open_channel(
            target, tls=tls, insecure=insecure, token=token, options=options
        )
        self._closed = False
        self._lock = threading.Lock()

    @property
    def target(self) -> str:
        """The ``host:port`` this client talks to."""
        return self._target

    def _unary(self, method: Callable[..., M], request: Any) -> M:
        """Call a unary method with the client's default deadline."""
        return method(request, timeout=self._timeout)

    def _stream(
        self, method: Callable[..., Any], request: Any, timeout: float | None
    ) -> Iterator[Any]:
        """Iterate a server stream; leaving the loop (or closing the generator) cancels the call."""
        call = method(request, timeout=timeout)
        try:
            yield from call
        finally:
            cancel = getattr(call, "cancel", None)
            if callable(cancel):
                cancel()

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._target!r})"


def follow_pages(fetch: Callable[[str], tuple[Sequence[T], str]]) -> list[T]:
    """Collect every item of a paged List call: ``fetch(page_token) -> (items, next_token)``."""
    items: list[T] = []
    token = ""
    for _ in range(MAX_PAGES):
        page, token = fetch(token)
        items.extend(page)
        if not token:
            return items
    raise RuntimeError("the server kept returning page tokens")
