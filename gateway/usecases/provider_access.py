"""Which registered provider may upload what (the rules ``gateway.usecases.records`` applies).

A provider holds roles (``gateway.usecases.providers``). It uploads and erases the records of the
domains
whose catalog ``provider_role`` it holds, and FX rate tables only with the configured
``fx_rates_role``. A provider registered without any role may do nothing; the refusal names the
``attestgate providers grant`` command that fixes it. FX tables are ordered by their
``effective_at``: a table older than the newest one is refused, so an old (or replayed) table can
never become the one ``covers_amount`` converts with.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from attestgate.consent.catalog import Catalog
from attestgate.consent.fx import FxRateTable
from attestgate.gateway.usecases.providers import Provider
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason, invalid_argument


def require_role(provider: Provider, role: str, action: str, *, data_dir: Path) -> None:
    """Refuse unless ``provider`` holds ``role``; ``action`` says what it tried ("upload income
    records"). FX uploads are refused as ``FX_RATES_NOT_ALLOWED``, records as
    ``PROVIDER_NOT_ALLOWED_FOR_DOMAIN``."""
    if not provider.roles:
        raise role_missing(provider, (role,), data_dir=data_dir)
    if role not in provider.roles:
        fx = action.startswith("upload FX")
        raise DomainError(
            Reason.FX_RATES_NOT_ALLOWED if fx else Reason.PROVIDER_NOT_ALLOWED_FOR_DOMAIN,
            f"provider {provider.id!r} may not {action}: that needs role {role!r}, and it holds "
            f"{_roles_text(provider.roles)}",
            metadata={"required_role": role},
        )


def erasable_domains(provider: Provider, catalog: Catalog, *, data_dir: Path) -> dict[str, str]:
    """The domains whose records ``provider`` may erase (domain -> the role that allows it)."""
    roles = {name: spec.provider_role for name, spec in catalog.domains.items()}
    if not provider.roles:
        raise role_missing(provider, sorted(set(roles.values())), data_dir=data_dir)
    mine = {domain: role for domain, role in sorted(roles.items()) if role in provider.roles}
    if not mine:
        raise DomainError(
            Reason.PROVIDER_NOT_ALLOWED_FOR_DOMAIN,
            f"provider {provider.id!r} uploads no domain's records (it holds "
            f"{_roles_text(provider.roles)}), so it has no records to erase",
        )
    return mine


def role_missing(provider: Provider, roles: Iterable[str], *, data_dir: Path) -> DomainError:
    """``PROVIDER_ROLE_MISSING`` for a registration without roles, naming the fixing command."""
    choices = sorted(roles)
    role = choices[0] if len(choices) == 1 else "ROLE"
    hint = "" if len(choices) == 1 else f" (ROLE: one of {', '.join(choices)})"
    return DomainError(
        Reason.PROVIDER_ROLE_MISSING,
        f"provider {provider.id!r} is registered without a role, so it may upload nothing; an "
        f"operator grants one with: attestgate providers grant --data-dir {data_dir} "
        f"{provider.id} --role {role}{hint}",
    )


def effective_at(raw: object, *, now: datetime, leeway: timedelta) -> datetime:
    """An FX table's effective time: its ``effective_at`` (ISO 8601 with an offset, not in the
    future beyond ``leeway``), or the upload time ``now`` when the payload has none."""
    if raw is None or raw == "":
        return now.astimezone(UTC)
    field = "signed_rates.effective_at"
    try:
        moment = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise invalid_argument(FieldViolation(field, "an ISO 8601 time with a UTC offset"))
    if moment > now + leeway:
        raise invalid_argument(FieldViolation(field, "must not lie in the future"))
    return moment.astimezone(UTC)


def check_fx_order(newest: FxRateTable | None, effective: datetime) -> None:
    """Refuse a table effective before the newest table (``FX_TABLE_OUT_OF_ORDER``)."""
    if newest is None or newest.as_of is None or effective >= newest.as_of:
        return
    raise DomainError(
        Reason.FX_TABLE_OUT_OF_ORDER,
        f"the table is effective at {effective.isoformat()}, before the newest table "
        f"{newest.id!r} ({newest.as_of.isoformat()}); FX tables cannot go back in time",
        metadata={"fx_table": newest.id, "newest_effective_at": newest.as_of.isoformat()},
    )


def stored_as_of(effective_at_text: str | None, created_at_text: str) -> datetime:
    """A stored table's effective time; tables stored without one (or with an unreadable one,
    from before it was checked) are effective from their upload."""
    for text in (effective_at_text, created_at_text):
        try:
            moment = datetime.fromisoformat(text) if text else None
        except ValueError:
            continue
        if moment is not None and moment.tzinfo is not None:
            return moment.astimezone(UTC)
    raise ValueError("an FX table row without a readable time")


def _roles_text(roles: Iterable[str]) -> str:
    names = sorted(roles)
    return "role " + ", ".join(names) if len(names) == 1 else "roles " + ", ".join(names)
