"""Owner consent receipts: after an approval or a revocation, the owner downloads the signed
consent artefact with the tlog-proof of that step's audit event (docs/consent.md "Consent
receipts"), which ``attestgate.sdk.verify_consent_receipt`` checks offline with the regulator's
``verify_receipt``. The proof is built and checked here by the regulator viewer's backend
(``auditview.event_receipt``): a receipt is only handed out once a signed checkpoint covers it.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from attestgate.audit.events import EventType
from attestgate.gateway.common.roles import Role
from attestgate.gateway.portal.auditview import event_receipt, log_verifier
from attestgate.gateway.portal.web import Portal
from attestgate.protocol.reasons import DomainError, Reason
from attestgate.sdk._internal.receipt import format_consent_receipt

STEPS = {"approved": EventType.CONSENT_APPROVED, "revoked": EventType.CONSENT_REVOKED}
"""The steps an owner gets a receipt for, by their URL segment."""


async def consent_receipt(request: Request) -> Response:
    """GET ``/owner/consents/{id}/receipt/approved|revoked``: the receipt as a file download."""
    portal: Portal = request.app.state.portal
    caller = portal.caller(request, Role.OWNER)
    step = request.path_params["step"]
    kind = STEPS.get(step)
    if kind is None:
        return portal.render(request, "error.html", {"message_key": "error.not_found"}, 404)
    try:
        consent = await run_in_threadpool(
            portal.consents.get_consent, caller, request.path_params["consent_id"]
        )
    except DomainError as error:
        return portal.refused(request, error)
    index = await run_in_threadpool(portal.activity.consent_step, caller, consent.id, kind)
    if index is None:
        return portal.render(request, "error.html", {"message_key": "receipt.none"}, 404)
    view = portal.audit_log
    try:
        proof = await run_in_threadpool(event_receipt, view, index, log_verifier(view))
    except DomainError as error:
        if error.reason is not Reason.CHECKPOINT_NOT_FOUND:
            return portal.refused(request, error)
        return portal.render(request, "error.html", {"message_key": "receipt.pending"}, 409)
    text = format_consent_receipt(artefact_jws=consent.artefact_jws, proof=proof)
    name = f"attestgate-consent-{consent.id}-{step}.receipt"
    return PlainTextResponse(
        text, headers={"content-disposition": f'attachment; filename="{name}"'}
    )


ROUTES = [
    Route("/owner/consents/{consent_id}/receipt/{step}", consent_receipt, methods=["GET"]),
]
"""The owner's receipt route."""
