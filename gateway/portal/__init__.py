"""The web portal (optional extra ``attestgate[portal]``): owners decide on consent requests and
see their activity; regulators browse the audit log and check inclusion proofs.

``attestgate serve --portal 127.0.0.1:8080`` turns it on; ``gateway.app.build_gateway`` calls
``attach_portal``. Server-rendered HTML (Starlette + Jinja2 under uvicorn), English and Chinese,
no script, CSRF tokens on every form, a strict Content-Security-Policy.
"""

from attestgate.gateway.portal.server import PortalServer, attach_portal, build_app, portal_address

__all__ = ["PortalServer", "attach_portal", "build_app", "portal_address"]
