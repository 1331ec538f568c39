"""The public HTTPS face (``attestgate serve --public``): JWT VC Issuer Metadata and SD-JWT VC
Type Metadata for any SD-JWT VC verifier; read-only, unauthenticated, cacheable.
``gateway.app.build_gateway`` calls ``attach_public`` (on by default where TLS is)."""

from attestgate.gateway.public.address import PublicAddress, issuer_name, public_address
from attestgate.gateway.public.server import PublicServer, attach_public, build_app

__all__ = [
    "PublicAddress",
    "PublicServer",
    "attach_public",
    "build_app",
    "issuer_name",
    "public_address",
]
