"""One HTTPS client for the portal's tests (browser-free): trusts a CA, keeps cookies by name,
fills in the CSRF token of forms, and can present a client certificate."""

from __future__ import annotations

import http.client
import re
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from attestgate.gateway.testing import LocalGateway


@dataclass
class Reply:
    """One HTTP response, read whole."""

    status: int
    headers: http.client.HTTPMessage
    body: str


class PortalSession:
    """One browser: the portal's base URL, a TLS context and the cookies it was given."""

    def __init__(
        self, url: str, context: ssl.SSLContext, cookies: dict[str, str] | None = None
    ) -> None:
        self.url = url
        self.context = context
        self.cookies: dict[str, str] = dict(cookies or {})

    @classmethod
    def of(cls, gateway: LocalGateway[Any]) -> PortalSession:
        """A browser of ``gateway``'s portal, trusting the gateway's CA."""
        context = ssl.create_default_context(cadata=gateway.ca_file.read_text())
        return cls(gateway.portal_url, context)

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, **headers: str
    ) -> Reply:
        """Send one request on a new connection (``x_y=`` sends header ``x-y``); remember the
        cookies it sets."""
        url = urlsplit(self.url)
        conn = http.client.HTTPSConnection(
            url.hostname or "", url.port, context=self.context, timeout=10
        )
        send = {k.replace("_", "-"): v for k, v in headers.items()}
        if self.cookies:
            send["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            send["content-type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=send)
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

    def sign_in_with(self, token: str) -> Reply:
        """POST the sign-in form with a bearer ``token``."""
        return self.request("POST", "/login", {"csrf": self.csrf(), "token": token})

    def post(self, path: str, form: dict[str, str] | None = None) -> Reply:
        """POST a form to ``path`` with this session's CSRF token."""
        return self.request("POST", path, {"csrf": self.csrf(), **(form or {})})
