"""An HTTPS client for the portal of a live gateway (``live.start_live(..., portal=...)``): trusts
the dev CA, keeps cookies, fills in the CSRF token, and can present a client certificate."""

from __future__ import annotations

import ssl
from pathlib import Path

from attestgate.gateway.common.tls import TlsFiles
from tests.integration.live import LiveGateway
from tests.portal_client import PortalSession, Reply

SECURITY_HEADERS = (
    "content-security-policy",
    "x-content-type-options",
    "referrer-policy",
    "x-frame-options",
    "strict-transport-security",
)
"""Headers every portal response over HTTPS carries (``gateway.portal.security``)."""


class PortalClient(PortalSession):
    """A browser of a live gateway's portal, optionally with a client certificate (PEM files)."""

    def __init__(
        self,
        gw: LiveGateway,
        cert: tuple[Path, Path] | None = None,
        cookies: dict[str, str] | None = None,
    ) -> None:
        context = ssl.create_default_context(cafile=str(TlsFiles.in_dir(gw.config.tls_dir).ca_cert))
        if cert is not None:
            context.load_cert_chain(str(cert[0]), str(cert[1]))
        super().__init__(gw.portal_url, context, cookies)

    def sign_in(self, token: str) -> Reply:
        """POST the sign-in form with ``token``."""
        return self.sign_in_with(token)
