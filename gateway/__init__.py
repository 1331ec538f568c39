"""``attestgate.gateway``: the server. It needs the ``server`` extra (``pip install
'attestgate[server]'``); in the SDK's base install, importing it (the ``attestgate`` command does)
says so instead of failing deep inside on a missing module."""

from __future__ import annotations

from importlib.util import find_spec

SERVER_PACKAGES = ("grpc_health", "grpc_reflection", "grpc_status")
"""Modules the gateway always uses that only the server extra installs (the base install: none)."""

PORTAL_EXTRA_HINT = "pip install 'attestgate[server,portal]'"
"""What installs the portal's templates and web stack (``serve --portal``; a checkout: ``make run
PORTAL=1``); ``attestgate.gateway.portal`` checks for them when imported."""

if missing := [name for name in SERVER_PACKAGES if find_spec(name) is None]:
    raise ModuleNotFoundError(
        "the attestgate gateway needs the server extra: pip install 'attestgate[server]' "
        f"(missing: {', '.join(missing)})",
        name=missing[0],
    )
