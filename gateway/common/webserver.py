"""uvicorn on a daemon thread of the gateway: bind first (a taken port fails the gateway's start
with ``ConfigError``), serve until ``stop``, which lets in-flight requests finish."""

from __future__ import annotations

import socket
import threading

import uvicorn

from attestgate.gateway.ops.config import ConfigError

START_TIMEOUT_SECONDS = 10.0


class ThreadedUvicorn:
    """One uvicorn server for ``config`` on ``host:port`` (port 0: any free port); ``what``
    names it in errors (the flag, e.g. ``--public``)."""

    def __init__(self, config: uvicorn.Config, *, host: str, port: int, what: str) -> None:
        self._server = uvicorn.Server(config)
        self._host, self._requested, self._what = host, port, what
        self._thread: threading.Thread | None = None
        self.port = 0
        """The bound port (after ``start``)."""

    def start(self) -> None:
        """Bind now, then serve on a thread; returns once uvicorn accepts connections."""
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
        # without it a kept-alive response waits ~40 ms for a delayed ACK (Nagle).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._requested))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"{self._what}: cannot listen on {self._host}: {exc}") from None
        self.port = int(sock.getsockname()[1])
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"attestgate{self._what.removeprefix('-')}",
            daemon=True,
        )
        self._thread.start()
        waiting = threading.Event()
        for _ in range(int(START_TIMEOUT_SECONDS * 100)):
            if self._server.started or not self._thread.is_alive():
                break
            waiting.wait(0.01)
        if not self._server.started:
            raise ConfigError(f"{self._what}: the web server did not start (see the log)")

    def stop(self) -> None:
        """Ask uvicorn to finish in-flight requests and exit; wait for its thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(START_TIMEOUT_SECONDS)
