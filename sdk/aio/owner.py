"""``AsyncOwnerClient``: ``sdk.OwnerClient`` for ``asyncio`` (same methods, awaited)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import grpc.aio

from attestgate.sdk._internal import convert, inputs
from attestgate.sdk._internal.base import PAGE_SIZE
from attestgate.sdk.aio._base import (
    DEFAULT_TIMEOUT,
    AsyncClientBase,
    TokenSource,
    follow_pages_async,
)
from attestgate.sdk.retry import RetryPolicy
from attestgate.sdk.tls import TlsConfig
from attestgate.sdk.types import ActivityEntry, ClaimValue, Consent, ConsentRequest, ConsentState
from attestgate.v1 import consent_pb2, consent_pb2_grpc

__all__ = ["AsyncOwnerClient"]


class AsyncOwnerClient(AsyncClientBase):
    """Approve, reject, pause, resume and revoke consents; see every disclosure about you.

    The parameters are ``sdk.OwnerClient``'s; ``retry`` replaces the default retry policy. Use it
    as ``async with AsyncOwnerClient(...) as owner:`` or ``await owner.close()``.
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
        channel: grpc.aio.Channel | None = None,
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

    async def approve(
        self,
        request_id: str,
        *,
        claims: Iterable[str] | str | None = None,
        bounds: Mapping[str, ClaimValue | Decimal] | None = None,
    ) -> Consent:
        """Approve a pending request; ``claims`` narrows it (``None``: every requested claim),
        ``bounds`` its parameter bounds (``OwnerClient.approve``)."""
        names = [] if claims is None else inputs.claim_names(claims)
        if claims is not None and not names:
            raise inputs.refuse("claims", "[] approves nothing", "pass None for every claim")
        request = consent_pb2.ApproveConsentRequestRequest(
            name=convert.resource_name("consentRequests", request_id),
            claims=names,
            bounds=inputs.params(bounds, "bounds"),
            request_id=str(uuid.uuid4()),  # AIP-155: a resend is answered, not re-applied
        )
        return convert.consent(await self._unary(self._stub.ApproveConsentRequest, request))

    async def reject(self, request_id: str) -> ConsentRequest:
        """Reject a pending request."""
        request = consent_pb2.RejectConsentRequestRequest(
            name=convert.resource_name("consentRequests", request_id)
        )
        return convert.consent_request(await self._unary(self._stub.RejectConsentRequest, request))

    async def pause(self, consent_id: str) -> Consent:
        """ACTIVE -> PAUSED: no attestation is issued or redeemed until ``resume``."""
        request = consent_pb2.PauseConsentRequest(
            name=convert.resource_name("consents", consent_id)
        )
        return convert.consent(await self._unary(self._stub.PauseConsent, request))

    async def resume(self, consent_id: str) -> Consent:
        """PAUSED -> ACTIVE."""
        request = consent_pb2.ResumeConsentRequest(
            name=convert.resource_name("consents", consent_id)
        )
        return convert.consent(await self._unary(self._stub.ResumeConsent, request))

    async def revoke(self, consent_id: str) -> Consent:
        """-> REVOKED, for good."""
        request = consent_pb2.RevokeConsentRequest(
            name=convert.resource_name("consents", consent_id)
        )
        return convert.consent(await self._unary(self._stub.RevokeConsent, request))

    async def get_consent(self, consent_id: str) -> Consent:
        """One of your consents."""
        request = consent_pb2.GetConsentRequest(name=convert.resource_name("consents", consent_id))
        return convert.consent(await self._unary(self._stub.GetConsent, request))

    async def list_consents(self, *, state: ConsentState | str | None = None) -> list[Consent]:
        """Every consent you granted (all pages), optionally only those in ``state``."""
        state_filter = convert.consent_state_filter(state)

        async def fetch(token: str) -> tuple[list[Consent], str]:
            request = consent_pb2.ListConsentsRequest(
                page_size=PAGE_SIZE, page_token=token, state=state_filter
            )
            response = await self._unary(self._stub.ListConsents, request)
            return [convert.consent(c) for c in response.consents], response.next_page_token

        return await follow_pages_async(fetch)

    async def pending_requests(self) -> list[ConsentRequest]:
        """The consent requests waiting for your decision (all pages)."""
        pending = consent_pb2.ConsentRequestState.CONSENT_REQUEST_STATE_PENDING

        async def fetch(token: str) -> tuple[list[ConsentRequest], str]:
            request = consent_pb2.ListConsentRequestsRequest(
                page_size=PAGE_SIZE, page_token=token, state=pending
            )
            response = await self._unary(self._stub.ListConsentRequests, request)
            items = [convert.consent_request(r) for r in response.consent_requests]
            return items, response.next_page_token

        return await follow_pages_async(fetch)

    async def activity(self) -> list[ActivityEntry]:
        """Every audit event about you, oldest first (claim names only, never values)."""

        async def fetch(token: str) -> tuple[list[ActivityEntry], str]:
            request = consent_pb2.ListActivityRequest(page_size=PAGE_SIZE, page_token=token)
            response = await self._unary(self._stub.ListActivity, request)
            return [convert.activity_entry(e) for e in response.entries], response.next_page_token

        return await follow_pages_async(fetch)
