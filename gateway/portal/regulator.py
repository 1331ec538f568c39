"""Regulator pages: the latest verified checkpoint, a filtered event list, one event's inclusion
proof verified in this backend, and its C2SP tlog-proof receipt (DESIGN.md "Audit log").

Events show pseudonyms only: the log never holds a subject id (``audit.events``).
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, time, timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from attestgate.audit.events import ActorRole, Decision, EventType
from attestgate.gateway.common.cursors import parse_cursor
from attestgate.gateway.common.roles import Role
from attestgate.gateway.portal.auditview import (
    EventFilter,
    ViewError,
    event_receipt,
    list_events,
    log_verifier,
    prove_event,
    verified_checkpoint,
)
from attestgate.gateway.portal.web import Portal
from attestgate.protocol.reasons import DomainError

EVENTS_PAGE = 50


def b64(data: bytes) -> str:
    """Standard base64, as checkpoints and proofs print hashes."""
    return base64.b64encode(data).decode("ascii")


def _day(text: str, *, end: bool = False) -> datetime | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def _choice(value: str, allowed: list[str]) -> str:
    return value if value in allowed else ""


def event_filter(request: Request) -> EventFilter:
    """The list's filter from the query string; unknown values are ignored, not trusted."""
    q = request.query_params
    return EventFilter(
        type=_choice(q.get("type", ""), [t.value for t in EventType]),
        decision=_choice(q.get("decision", ""), [d.value for d in Decision]),
        actor_role=_choice(q.get("actor_role", ""), [r.value for r in ActorRole]),
        actor_id=q.get("actor_id", "").strip()[:256],
        reason=q.get("reason", "").strip()[:128],
        since=_day(q.get("since", "")),
        until=_day(q.get("until", ""), end=True),
    )


async def checkpoint_page(request: Request) -> Response:
    """GET ``/regulator``: the newest checkpoint, opened with the log's public key."""
    portal: Portal = request.app.state.portal
    portal.caller(request, Role.REGULATOR)
    verifier = log_verifier(portal.audit_log)
    problem = ""
    try:
        checkpoint = await run_in_threadpool(verified_checkpoint, portal.audit_log, verifier)
    except ViewError as exc:
        checkpoint, problem = None, str(exc)
    context = {"checkpoint": checkpoint, "problem": problem, "vkey": verifier.vkey, "b64": b64}
    return portal.render(request, "regulator_checkpoint.html", context)


async def events_page(request: Request) -> Response:
    """GET ``/regulator/events``: filtered events of the verified tree, newest first."""
    portal: Portal = request.app.state.portal
    portal.caller(request, Role.REGULATOR)
    wanted = event_filter(request)
    before_text = request.query_params.get("before", "")
    before = parse_cursor(before_text, field="before") if before_text else None
    view = portal.audit_log
    verifier = log_verifier(view)

    def load() -> tuple[object, int]:
        checkpoint = verified_checkpoint(view, verifier)
        size = checkpoint.size if checkpoint is not None else 0
        return list_events(view, wanted, before=before, limit=EVENTS_PAGE, size=size), size

    try:
        page, size = await run_in_threadpool(load)
    except ViewError as exc:
        return portal.render(request, "error.html", {"reason": str(exc)}, 500)
    query = {k: v for k, v in request.query_params.items() if k != "before"}
    context = {
        "page": page,
        "size": size,
        "filter": wanted,
        "query": query,
        "types": [t.value for t in EventType],
        "decisions": [d.value for d in Decision],
        "roles": [r.value for r in ActorRole],
    }
    return portal.render(request, "regulator_events.html", context)


async def event_page(request: Request) -> Response:
    """GET ``/regulator/events/{index}``: the event and its inclusion proof, checked here."""
    portal: Portal = request.app.state.portal
    portal.caller(request, Role.REGULATOR)
    index = parse_cursor(request.path_params["index"], field="index")
    verifier = log_verifier(portal.audit_log)
    try:
        proved = await run_in_threadpool(prove_event, portal.audit_log, index, verifier)
    except DomainError as error:
        return portal.refused(request, error)
    return portal.render(request, "regulator_event.html", {"proved": proved, "b64": b64})


async def receipt(request: Request) -> Response:
    """GET ``/regulator/events/{index}/receipt``: the tlog-proof as a file download."""
    portal: Portal = request.app.state.portal
    portal.caller(request, Role.REGULATOR)
    index = parse_cursor(request.path_params["index"], field="index")
    verifier = log_verifier(portal.audit_log)
    try:
        text = await run_in_threadpool(event_receipt, portal.audit_log, index, verifier)
    except DomainError as error:
        return portal.refused(request, error)
    disposition = f'attachment; filename="attestgate-event-{index}.tlog-proof"'
    return PlainTextResponse(text, headers={"content-disposition": disposition})


ROUTES = [
    Route("/regulator", checkpoint_page, methods=["GET"]),
    Route("/regulator/events", events_page, methods=["GET"]),
    Route("/regulator/events/{index}", event_page, methods=["GET"]),
    Route("/regulator/events/{index}/receipt", receipt, methods=["GET"]),
]
"""The regulator's routes."""
