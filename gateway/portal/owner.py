"""Owner pages: pending requests in plain language, approve (optionally narrowed) or reject;
consents with pause, resume and revoke; the activity about the owner (DESIGN.md "Consent").

Handlers translate HTTP <-> the same use cases the gRPC servicers call
(``gateway.usecases.consents.ConsentManager``); the rules and the audit trail stay there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from attestgate.consent.machine import ConsentAction
from attestgate.consent.model import ConsentRequest, ConsentState, RequestState
from attestgate.gateway.common.cursors import parse_cursor
from attestgate.gateway.common.roles import Role
from attestgate.gateway.portal.describe import (
    BOUNDS_LABEL,
    NARROW_LABEL,
    Disclosure,
    amount_inputs,
    describe_bounds,
    describe_disclosure,
    describe_domain,
    describe_purpose,
    parse_major_units,
)
from attestgate.gateway.portal.eventtext import activity_row
from attestgate.gateway.portal.i18n import Lang, translate
from attestgate.gateway.portal.localfmt import LocalTimes
from attestgate.gateway.portal.plain import Summary, Terms, summarize
from attestgate.gateway.portal.web import Portal
from attestgate.gateway.usecases.caller import Caller
from attestgate.protocol.reasons import DomainError, FieldViolation, invalid_argument

PAGE_SIZE = 20  # pending requests and consents per page (cursor paging: ?after=<last id>)
ACTIVITY_PAGE = 50
_ACTIONS = {
    "pause": ConsentAction.PAUSE,
    "resume": ConsentAction.RESUME,
    "revoke": ConsentAction.REVOKE,
}


@dataclass(frozen=True)
class PendingView:
    """A pending request as the owner reads it."""

    request: ConsentRequest
    purpose: str
    domain: str
    disclosure: Disclosure
    validity: str
    bounds: tuple[str, ...] = ()
    """The requested parameter bounds in plain language (``describe_bounds``)."""
    bounds_label: str = ""
    amounts: tuple[tuple[str, str, str], ...] = ()
    """Bounded amounts the owner may lower: ``(param, currency, maximum in major units)``."""
    narrow_label: str = ""
    summary: Summary | None = None
    """The request in one plain sentence (``gateway.portal.plain``)."""


def duration_text(span: timedelta, lang: Lang) -> str:
    """``30 days`` / ``12 hours`` in the page language."""
    if span >= timedelta(days=1) and span % timedelta(days=1) == timedelta(0):
        return translate("days", lang, n=span.days)
    return translate("hours", lang, n=max(1, round(span.total_seconds() / 3600)))


def _pending_view(
    portal: Portal, request: ConsentRequest, lang: Lang, values: Mapping[str, object]
) -> PendingView:
    catalog = portal.catalog
    terms = Terms(
        grantee=request.grantee,
        domain=request.domain,
        purpose=request.purpose,
        claims=request.claims,
        record_id=request.record_id,
        max_uses=request.max_uses,
        until=portal.clock.now() + request.valid_for,  # approved now, it would end then
        bounds=request.bounds,
        values=values,
    )
    return PendingView(
        request=request,
        purpose=describe_purpose(catalog, request.domain, request.purpose, lang),
        domain=describe_domain(catalog, request.domain, lang),
        disclosure=describe_disclosure(catalog, request.domain, request.claims, lang),
        validity=duration_text(request.valid_for, lang),
        bounds=describe_bounds(catalog, request.domain, request.purpose, request.bounds, lang),
        bounds_label=BOUNDS_LABEL[lang],
        amounts=amount_inputs(catalog, request.domain, request.purpose, request.bounds),
        narrow_label=NARROW_LABEL[lang],
        summary=summarize(catalog, terms, lang, LocalTimes(lang, portal.time_zone)),
    )


def state_text(state: str, lang: Lang) -> str:
    """A consent state in the page language (``REVOKED`` / ``已撤销``); "" for anything else."""
    return translate(f"state.{state}", lang) if state in ConsentState.__members__ else ""


def _done(request: Request, lang: Lang) -> dict[str, Any]:
    """The outcome of the last POST, carried in the redirect's query (ids and states only)."""
    return {
        "done": request.query_params.get("done", ""),
        "done_id": request.query_params.get("id", ""),
        "done_state": state_text(request.query_params.get("state", ""), lang),
    }


def _after(request: Request) -> str | None:
    """The ``after`` cursor of a listing page (the last id of the previous page), checked."""
    after = request.query_params.get("after", "")
    if not after:
        return None
    if len(after) > 64 or not after.replace("-", "").replace("_", "").isalnum():
        raise invalid_argument(FieldViolation("after", 'the cursor of a "More" link'))
    return after


async def requests_page(request: Request) -> Response:
    """GET ``/owner/requests``: every pending request addressed to the owner."""
    portal: Portal = request.app.state.portal
    caller = portal.caller(request, Role.OWNER)
    manager = portal.consents
    page = await run_in_threadpool(
        manager.list_requests, caller, RequestState.PENDING, PAGE_SIZE, _after(request)
    )
    lang = portal.lang(request)
    values = await run_in_threadpool(_record_values, portal, caller, page.items)
    views = [_pending_view(portal, r, lang, v) for r, v in zip(page.items, values, strict=True)]
    context = {"pending": views, "next_after": page.next_after, **_done(request, lang)}
    return portal.render(request, "owner_requests.html", context)


def _record_values(
    portal: Portal, caller: Caller, pending: Sequence[ConsentRequest]
) -> list[Mapping[str, object]]:
    """For each request, the values it would disclose from the owner's own record."""
    return [
        portal.records.disclosed_values(
            caller,
            domain=r.domain,
            purpose=r.purpose,
            record_id=r.record_id,
            claims=r.claims,
        )
        for r in pending
    ]


async def decide(request: Request) -> Response:
    """POST ``/owner/requests/{id}/approve|reject``; approve discloses only the ticked claims."""
    portal: Portal = request.app.state.portal
    caller = portal.caller(request, Role.OWNER)
    form = await portal.form(request)
    request_id = request.path_params["request_id"]
    decision = request.path_params["decision"]
    if decision not in ("approve", "reject"):
        return portal.render(request, "error.html", {"message_key": "error.not_found"}, 404)
    manager = portal.consents
    try:
        if decision == "approve":
            claims = form.get("claim", [])
            pending = await run_in_threadpool(manager.get_request, caller, request_id)
            bounds = _narrowed(portal, pending, form)
            consent = await run_in_threadpool(
                manager.approve, caller, request_id, claims, None, bounds
            )
            target = f"/owner/consents?done=approved&id={consent.id}"
        else:
            await run_in_threadpool(manager.reject, caller, request_id)
            target = "/owner/requests?done=rejected"
    except DomainError as error:
        return portal.refused(request, error)
    return portal.redirect(request, target)


def _narrowed(
    portal: Portal, pending: ConsentRequest, form: dict[str, list[str]]
) -> dict[str, int | str | bool] | None:
    """The lowered maxima of the approve form (``bound_max.<param>``, major units of the bound's
    currency); None when the owner changed none. The use case refuses a raised one."""
    lowered: dict[str, int | str | bool] = {}
    for name, currency, shown in amount_inputs(
        portal.catalog, pending.domain, pending.purpose, pending.bounds
    ):
        text = (form.get(f"bound_max.{name}") or [shown])[0]
        if text.strip() == shown:
            continue
        value = parse_major_units(text, currency)
        if value is None:
            raise invalid_argument(
                FieldViolation(f"bounds.{name}", f"an amount in {currency}, e.g. {shown}")
            )
        lowered[name] = value
    return lowered or None


async def consents_page(request: Request) -> Response:
    """GET ``/owner/consents``: the owner's consents with the actions their state allows."""
    portal: Portal = request.app.state.portal
    caller = portal.caller(request, Role.OWNER)
    manager = portal.consents
    page = await run_in_threadpool(manager.list_consents, caller, None, PAGE_SIZE, _after(request))
    lang = portal.lang(request)
    rows = []
    for consent in page.items:
        spec = portal.catalog.domain(consent.domain)
        rows.append(
            {
                "consent": consent,
                "purpose": describe_purpose(portal.catalog, consent.domain, consent.purpose, lang),
                "claims": describe_disclosure(portal.catalog, spec.name, consent.claims, lang),
                "bounds": describe_bounds(
                    portal.catalog, consent.domain, consent.purpose, consent.bounds, lang
                ),
                "bounds_label": BOUNDS_LABEL[lang],
            }
        )
    context = {"rows": rows, "next_after": page.next_after, **_done(request, lang)}
    return portal.render(request, "owner_consents.html", context)


async def change(request: Request) -> Response:
    """POST ``/owner/consents/{id}/pause|resume|revoke``."""
    portal: Portal = request.app.state.portal
    caller = portal.caller(request, Role.OWNER)
    await portal.form(request)
    action = _ACTIONS.get(request.path_params["action"])
    if action is None:
        return portal.render(request, "error.html", {"message_key": "error.not_found"}, 404)
    consent_id = request.path_params["consent_id"]
    manager = portal.consents
    try:
        consent = await run_in_threadpool(manager.change, caller, consent_id, action)
    except DomainError as error:
        return portal.refused(request, error)
    target = f"/owner/consents?done=changed&id={consent.id}&state={consent.state.value}"
    return portal.redirect(request, target)


async def activity_page(request: Request) -> Response:
    """GET ``/owner/activity``: every audited step about the owner, oldest first, paged."""
    portal: Portal = request.app.state.portal
    caller = portal.caller(request, Role.OWNER)
    after_text = request.query_params.get("after", "")
    after = parse_cursor(after_text, field="after") if after_text else -1
    events, cursor = await run_in_threadpool(portal.activity.page, caller, after, ACTIVITY_PAGE)
    lang, times = portal.lang(request), portal.times(request)
    rows = [activity_row(portal.catalog, i, e, lang, times) for i, e in events]
    return portal.render(request, "owner_activity.html", {"rows": rows, "cursor": cursor})


ROUTES = [
    Route("/owner/requests", requests_page, methods=["GET"]),
    Route("/owner/requests/{request_id}/{decision:str}", decide, methods=["POST"]),
    Route("/owner/consents", consents_page, methods=["GET"]),
    Route("/owner/consents/{consent_id}/{action:str}", change, methods=["POST"]),
    Route("/owner/activity", activity_page, methods=["GET"]),
]
"""The owner's routes."""
