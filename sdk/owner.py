"""``OwnerClient``: what a data owner (a person or an enterprise) does with consent requests.

The owner's identity is the ``sub`` of the bearer token; the gateway lets an owner act only on
requests addressed to them and on consents they granted (``PermissionDenied`` otherwise).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import grpc

from attestgate.sdk._internal import convert, inputs
from attestgate.sdk._internal.base import DEFAULT_TIMEOUT, PAGE_SIZE, ClientBase, follow_pages
from attestgate.sdk._internal.channel import TokenSource
from attestgate.sdk.retry import RetryPolicy
from attestgate.sdk.tls import TlsConfig
from attestgate.sdk.types import ActivityEntry, ClaimValue, Consent, ConsentRequest, ConsentState
from attestgate.v1 import consent_pb2, consent_pb2_grpc

__all__ = ["OwnerClient"]


class OwnerClient(ClientBase):
    """Approve, reject, pause, resume and revoke consents; see every disclosure about you.

    ``target`` is ``host:port``; ``token`` a bearer token with role ``owner`` (or a function
    returning the current one); ``tls`` the CA (and client certificate) to use, ``None`` for the
    system roots; ``insecure=True`` only for a local plaintext gateway. ``channel`` (every client
    takes it) is an open ``grpc.Channel`` to use instead (``grpc.aio.Channel`` for the async
    clients), e.g. to a gateway started in a test: configured by whoever made it (``tls``,
    ``insecure`` and ``options`` are refused with it), still given the client's token and error
    mapping, and left open by ``close()``; ``target`` is then optional, a label for ``repr``.
    Ids may be given bare (``cr_...``, ``cs_...``) or as resource names. Use it as a context
    manager or ``close()`` it.
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        token: TokenSource,
        tls: TlsConfig | None = None,
        insecure: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        options: Sequence[tuple[str, Any]] = (),
        retry: RetryPolicy | None = None,
        channel: grpc.Channel | None = None,
    ) -> None:
        super().__init__(
            target,
            token=token,
            tls=tls,
            insecure=insecure,
            timeout=timeout,
            options=options,
            retry=retry,
            channel=channel,
        )
        self._stub = consent_pb2_grpc.ConsentServiceStub(self._channel)

    def approve(
        self,
        request_id: str,
        *,
        claims: Iterable[str] | str | None = None,
        bounds: Mapping[str, ClaimValue | Decimal] | None = None,
    ) -> Consent:
        """Approve a pending request; ``claims`` narrows it to a subset of the requested claims
        (``None``: every requested claim), ``bounds`` narrows its parameter bounds (a lower
        ``amount``; a bound not named stays as requested; widening is refused). Returns the
        ACTIVE consent the gateway signed."""
        names = [] if claims is None else inputs.claim_names(claims)
        if claims is not None and not names:
            raise inputs.refuse("claims", "[] approves nothing", "pass None for every claim")
        request = consent_pb2.ApproveConsentRequestRequest(
            name=convert.resource_name("consentRequests", request_id),
            claims=names,
            bounds=inputs.params(bounds, "bounds"),
            # AIP-155: one id per call, so a resend of this message is answered, not re-applied.
            request_id=str(uuid.uuid4()),
        )
        return convert.consent(self._unary(self._stub.ApproveConsentRequest, request))

    def reject(self, request_id: str) -> ConsentRequest:
        """Reject a pending request."""
        request = consent_pb2.RejectConsentRequestRequest(
            name=convert.resource_name("consentRequests", request_id)
        )
        return convert.consent_request(self._unary(self._stub.RejectConsentRequest, request))

    def pause(self, consent_id: str) -> Consent:
        """ACTIVE -> PAUSED: no attestation is issued or redeemed until ``resume``."""
        request = consent_pb2.PauseConsentRequest(
            name=convert.resource_name("consents", consent_id)
        )
        return convert.consent(self._unary(self._stub.PauseConsent, request))

    def resume(self, consent_id: str) -> Consent:
        """PAUSED -> ACTIVE."""
        request = consent_pb2.ResumeConsentRequest(
            name=convert.resource_name("consents", consent_id)
        )
        return convert.consent(self._unary(self._stub.ResumeConsent, request))

    def revoke(self, consent_id: str) -> Consent:
        """-> REVOKED, for good: the bank can neither get nor redeem attestations under it."""
        request = consent_pb2.RevokeConsentRequest(
            name=convert.resource_name("consents", consent_id)
        )
        return convert.consent(self._unary(self._stub.RevokeConsent, request))

    def get_consent(self, consent_id: str) -> Consent:
        """One of your consents."""
        request = consent_pb2.GetConsentRequest(name=convert.resource_name("consents", consent_id))
        return convert.consent(self._unary(self._stub.GetConsent, request))

    def list_consents(self, *, state: ConsentState | str | None = None) -> list[Consent]:
        """Every consent you granted (all pages), optionally only those in ``state``."""
        state_filter = convert.consent_state_filter(state)

        def fetch(token: str) -> tuple[list[Consent], str]:
            request = consent_pb2.ListConsentsRequest(
                page_size=PAGE_SIZE, page_token=token, state=state_filter
            )
            response = self._unary(self._stub.ListConsents, request)
            return [convert.consent(c) for c in response.consents], response.next_page_token

        return follow_pages(fetch)

    def pending_requests(self) -> list[ConsentRequest]:
        """The consent requests waiting for your decision (all pages)."""
        pending = consent_pb2.ConsentRequestState.CONSENT_REQUEST_STATE_PENDING

        def fetch(token: str) -> tuple[list[ConsentRequest], str]:
            request = consent_pb2.ListConsentRequestsRequest(
                page_size=PAGE_SIZE, page_token=token, state=pending
            )
            response = self._unary(self._stub.ListConsentRequests, request)
            items = [convert.consent_request(r) for r in response.consent_requests]
            return items, response.next_page_token

        return follow_pages(fetch)

    def activity(self) -> list[ActivityEntry]:
        """Every audit event about you, oldest first: consent changes, attestations issued,
        redemptions and refused attempts (claim names only, never values)."""

        def fetch(token: str) -> tuple[list[ActivityEntry], str]:
            request = consent_pb2.ListActivityRequest(page_size=PAGE_SIZE, page_token=token)
            response = self._unary(self._stub.ListActivity, request)
            return [convert.activity_entry(e) for e in response.entries], response.next_page_token

        return follow_pages(fetch)
