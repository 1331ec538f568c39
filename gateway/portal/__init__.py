"""The web portal (optional extra ``attestgate[portal]``): owners decide on consent requests and
see their activity; regulators browse the audit log and check inclusion proofs.

``attestgate serve --portal 127.0.0.1:8080`` turns it on; ``gateway.app.build_gateway`` calls
``attach_portal``. Server-rendered HTML (Starlette + Jinja2 under uvicorn), English and Chinese,
no script, CSRF tokens on every form, a strict Content-Security-Policy.
"""

from importlib.util import find_spec

from attestgate.gateway import PORTAL_EXTRA_HINT

WEB_PACKAGES = ("jinja2", "starlette", "uvicorn")
"""What the portal imports that the ``portal`` extra installs (``make run PORTAL=1`` does)."""

if missing := [name for name in WEB_PACKAGES if find_spec(name) is None]:
    raise ModuleNotFoundError(
        f"the portal (serve --portal) needs the portal extra: {PORTAL_EXTRA_HINT}, "
        f"or make run PORTAL=1 in a checkout (missing: {', '.join(missing)})",
        name=missing[0],
    )

from attestgate.gateway.portal.server import (  # noqa: E402 - after the check above
    PortalServer,
    attach_portal,
    build_app,
    portal_address,
)

__all__ = ["PortalServer", "attach_portal", "build_app", "portal_address"]
