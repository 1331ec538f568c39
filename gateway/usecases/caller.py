"""Who calls a use case: the authenticated subject and role (from a bearer token or a portal
session); the transport and the portal make one, the use cases decide with it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of a use case: the token's ``sub`` and role."""

    subject: str
    role: str
