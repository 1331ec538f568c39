"""An HTTPS client for the portal of a live gateway (``live.start_live(..., portal=...)``): trusts
the dev CA, keeps cookies, fills in the CSRF token, and can present a client certificate."""

from __future__ import annotations

import http.client
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from gateway.tls import TlsFiles
from tests.integration.live import LiveGateway

SECURITY_HEADERS = (
    "content-security-policy",
    "x-content-type-options",
    "referrer-policy",
    "x-frame-options",
    "strict-transport-security",
)
"""Headers every portal response over HTTPS carries (``gateway.portal.security``)."""


@dataclass
class Reply:
    """One HTTP response, read whole."""

    status: int
    headers: http.client.HTTPMessage
    body: str


@dataclass
class PortalClient:
    """One browser: its cookies and, optionally, a client certificate (PEM files)."""

    gw: LiveGateway
    cert: tuple[Path, Path] | None = None
    cookies: dict[str, str] = field(default_factory=dict)

    def _context(self) -> ssl.SSLContext:
        ca = TlsFiles.in_dir(self.gw.config.tls_dir).ca_cert
        context = ssl.create_default_context(cafile=str(ca))
        if self.cert is not None:
            context.load_cert_chain(str(self.cert[0]), str(self.cert[1]))
        return context

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Reply:
        """Send one request on a new connection; remember the cookies it sets."""
        url = urlsplit(self.gw.gateway.portal.url)  # type: ignore[attr-defined]
        conn = http.client.HTTPSConnection(
            url.hostname or "", url.port, context=self._context(), timeout=10
        )
        headers = {}
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["content-type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            reply = Reply(response.status, response.headers, response.read().decode())
        finally:
            conn.close()
        for cookie in reply.headers.get_all("set-cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";")[0]
        return reply

    def csrf(self, path: str = "/login") -> str:
        """The CSRF token of this browser's session (from a form on ``path``)."""
        page = self.request("GET", path)
        match = re.search(r'name="csrf" value="([^"]+)"', page.body)
        assert match is not None, page.body
        return match.group(1)

    def sign_in(self, token: str) -> Reply:
        """POST the sign-in form with ``token``."""
        return self.request("POST", "/login", {"csrf": self.csrf(), "token": token})

    def post(self, path: str, form: dict[str, str] | None = None) -> Reply:
        """POST a form to ``path`` with this session's CSRF token."""
        return self.request("POST", path, {"csrf": self.csrf(), **(form or {})})
