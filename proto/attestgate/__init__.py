"""attestgate: consented, minimum-disclosure, single-use attestations with a verifiable audit log.

What a bank, a data owner's app, a provider or a regulator imports::

    from attestgate import BankClient, TlsConfig, errors

    with BankClient("gateway.example:8443", token=token, tls=TlsConfig(ca_file=ca)) as bank:
        ...

The names here are the SDK's public surface (``attestgate.sdk``), re-exported; exceptions live in
``attestgate.errors``. The rest of the namespace: ``attestgate.v1`` (generated gRPC and protobuf
code), ``attestgate.consent`` and ``attestgate.audit`` (the grpc-free consent and audit cores) and
``attestgate.gateway`` (the server, installed with the ``server`` extra). ``__all__`` is pinned by
``tests/unit/sdk/test_sdk_public_api.py``. Names are imported on first use (PEP 562), so that
importing a grpc-free core package does not pull in the SDK and grpc.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from attestgate import sdk as _sdk  # light: the SDK package itself loads its names lazily too

if TYPE_CHECKING:
    from attestgate import errors as errors
    from attestgate.sdk import *  # noqa: F403 - the same names, for type checkers

__all__ = ["errors"]
__all__ += _sdk.__all__  # the SDK's public names, pinned by its test
__all__.sort()


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562)."""
    if name == "errors":
        return importlib.import_module("attestgate.errors")
    if name not in __all__:
        raise AttributeError(f"module 'attestgate' has no attribute {name!r}")
    value = getattr(_sdk, name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
