"""Every failure the SDK raises, at the top of the namespace (``attestgate.sdk.errors``)::

    from attestgate import errors

    try:
        bank.redeem(attestation, transaction_ref="fx-0001")
    except errors.AlreadyRedeemed:
        ...

The tree, the status code and reason of each class, and how gRPC errors map onto it are described
in ``attestgate.sdk.errors``; this module re-exports its ``__all__``.
"""

from attestgate.sdk.errors import *  # noqa: F403
from attestgate.sdk.errors import __all__ as __all__  # noqa: PLC0414 - explicit re-export
