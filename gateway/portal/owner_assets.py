"""Owner pages: the assets an owner holds (warehouse receipts, patents) and each one's history,
registered, versions, transfers, pledges and releases, read from the audit log (issue 19 item 4).

The same use case as ``GetAssetHistory`` (``gateway.usecases.provenance.AssetHistory``): an owner
reads the assets they hold now. Other holders appear as the log's pseudonyms; the owner's own
pseudonym is shown as "you".
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from attestgate.audit.events import AuditEvent
from attestgate.gateway.common.cursors import parse_cursor
from attestgate.gateway.common.roles import Role
from attestgate.gateway.portal.describe import describe_domain
from attestgate.gateway.portal.web import Portal
from attestgate.protocol.reasons import DomainError

HISTORY_PAGE = 50


async def assets_page(request: Request) -> Response:
    """GET ``/owner/assets``: the assets the owner holds, each linking to its history."""
    portal: Portal = request.app.state.portal
    caller = portal.caller(request, Role.OWNER)
    held = await run_in_threadpool(portal.history.held, caller)
    lang = portal.lang(request)
    catalog = portal.catalog
    rows = [
        {"domain": domain, "asset_id": asset_id, "kind": describe_domain(catalog, domain, lang)}
        for domain, asset_id in held
    ]
    return portal.render(request, "owner_assets.html", {"assets": rows})


async def history_page(request: Request) -> Response:
    """GET ``/owner/assets/{domain}/{asset_id}``: the asset's events, oldest first, paged."""
    portal: Portal = request.app.state.portal
    caller = portal.caller(request, Role.OWNER)
    domain, asset_id = request.path_params["domain"], request.path_params["asset_id"]
    after_text = request.query_params.get("after", "")
    after = parse_cursor(after_text, field="after") if after_text else -1
    try:
        page = await run_in_threadpool(
            portal.history.page, caller, domain, asset_id,
            consent_id="", after=after, limit=HISTORY_PAGE,
        )  # fmt: skip
    except DomainError as error:
        return portal.refused(request, error)
    you = portal.history.pseudonym(caller)
    events = [_row(index, AuditEvent.from_json(leaf), you) for index, leaf, _ in page.events]
    context = {
        "domain": domain,
        "asset_id": asset_id,
        "kind": describe_domain(portal.catalog, domain, portal.lang(request)),
        "events": events,
        "size": page.checkpoint.size,
        "cursor": page.next_after,
    }
    return portal.render(request, "owner_asset_history.html", context)


def _row(index: int, event: AuditEvent, you: str) -> dict[str, Any]:
    """One event as the page shows it: who acted, and the holder (you, or a pseudonym)."""
    holder = event.subject if event.type.value in ("record.put", "record.transferred") else None
    return {
        "index": index,
        "time": event.time,
        "type": event.type.value,
        "actor": event.actor_id,
        "actor_role": event.actor_role.value,
        "holder": holder,
        "you": holder == you,
        "reason": event.reason or "",
        "version": event.objects.get("version", ""),
    }


ROUTES = [
    Route("/owner/assets", assets_page, methods=["GET"]),
    Route("/owner/assets/{domain}/{asset_id}", history_page, methods=["GET"]),
]
"""The owner's asset routes."""
