"""``AsyncBankClient``: ``sdk.BankClient`` for ``asyncio`` (same methods, awaited).

Holder key, offline verification against the cached JWKS (refetched once for an unknown
``kid``), and the redemption presentation are exactly the sync client's; only the I/O awaits.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import grpc.aio
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.protocol.status_list import StatusReference
from attestgate.sdk._internal import convert, history, holder
from attestgate.sdk._internal.base import PAGE_SIZE
from attestgate.sdk._internal.holder import Holder, IssuerInfo
from attestgate.sdk.aio._base import (
    DEFAULT_TIMEOUT,
    AsyncClientBase,
    TokenSource,
    asset_history_async,
    follow_pages_async,
)
from attestgate.sdk.errors import InvalidAttestation
from attestgate.sdk.holder_key import HolderKey, HolderKeySigner
from attestgate.sdk.retry import RetryPolicy
from attestgate.sdk.sdjwt import (
    SdJwtError,
    VerifyFailure,
)
from attestgate.sdk.status import (
    DEFAULT_STATUS_MAX_AGE,
    AttestationStatus,
    Status,
    StatusLists,
    https_fetcher,
    status_reference,
)
from attestgate.sdk.tls import TlsConfig
from attestgate.sdk.types import (
    AssetEvent,
    Attestation,
    ClaimValue,
    Consent,
    ConsentEvent,
    ConsentRequest,
    ConsentState,
    Redemption,
    Release,
)
from attestgate.v1 import (
    attestation_pb2,
    attestation_pb2_grpc,
    consent_pb2,
    consent_pb2_grpc,
    record_pb2_grpc,
)

__all__ = ["AsyncBankClient"]


class AsyncBankClient(AsyncClientBase):
    """Consent requests, attestations, offline verification and single redemption for a bank.

    The parameters are ``sdk.BankClient``'s; ``retry`` replaces the default retry policy.
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        token: TokenSource,
        tls: TlsConfig | None = None,
        insecure: bool = False,
        holder_key: HolderKey | HolderKeySigner | ec.EllipticCurvePrivateKey | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], datetime] | None = None,
        leeway: timedelta = timedelta(seconds=30),
        options: Sequence[tuple[str, Any]] = (),
        retry: RetryPolicy | None = None,
        channel: grpc.aio.Channel | None = None,
        status_max_age: timedelta = DEFAULT_STATUS_MAX_AGE,
        status_fetch: Callable[[str], str] | None = None,
    ) -> None:
        self._holder = Holder(holder_key, clock=clock, leeway=leeway)
        fetch = status_fetch or https_fetcher(tls.ca_file if tls is not None else None)
        self._status_lists = StatusLists(fetch, clock=clock, max_age=status_max_age)
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
        self._issuer: IssuerInfo | None = None
        self._consents = consent_pb2_grpc.ConsentServiceStub(self._channel)
        self._attestations = attestation_pb2_grpc.AttestationServiceStub(self._channel)
        self._records = record_pb2_grpc.RecordServiceStub(self._channel)

    @property
    def holder_key(self) -> ec.EllipticCurvePrivateKey:
        """The P-256 key attestations obtained by this client are bound to (for a
        ``HolderKeySigner``, a key object whose ``sign`` is the signer's)."""
        return self._holder.key

    # --- consent ---------------------------------------------------------------------------------

    async def request_consent(
        self,
        *,
        owner: str,
        domain: str,
        purpose: str,
        claims: Iterable[str] | str,
        record_id: str | None = None,
        valid_for: timedelta | None = None,
        max_uses: int = 1,
        request_id: str | None = None,
        bounds: Mapping[str, ClaimValue | Decimal] | None = None,
    ) -> ConsentRequest:
        """Ask ``owner`` for consent to learn ``claims`` of a ``domain`` record for ``purpose``;
        ``bounds`` as for ``BankClient.request_consent``."""
        request = holder.consent_request(
            owner=owner,
            domain=domain,
            purpose=purpose,
            claims=claims,
            record_id=record_id,
            valid_for=valid_for,
            max_uses=max_uses,
            request_id=request_id,
            bounds=bounds,
        )
        response = await self._unary(self._consents.CreateConsentRequest, request)
        return convert.consent_request(response)

    async def get_consent(self, consent_id: str) -> Consent:
        """A consent granted to this bank (bare id or ``consents/{id}``)."""
        request = consent_pb2.GetConsentRequest(name=convert.resource_name("consents", consent_id))
        return convert.consent(await self._unary(self._consents.GetConsent, request))

    async def list_consents(self, *, state: ConsentState | str | None = None) -> list[Consent]:
        """Every consent granted to this bank (all pages), optionally only those in ``state``."""
        state_filter = convert.consent_state_filter(state)

        async def fetch(token: str) -> tuple[list[Consent], str]:
            request = consent_pb2.ListConsentsRequest(
                page_size=PAGE_SIZE, page_token=token, state=state_filter
            )
            response = await self._unary(self._consents.ListConsents, request)
            return [convert.consent(c) for c in response.consents], response.next_page_token

        return await follow_pages_async(fetch)

    async def watch_consent_events(
        self, cursor: str | None = None, *, timeout: float | None = None
    ) -> AsyncGenerator[ConsentEvent, None]:
        """Status changes of this bank's requests and consents, oldest first, then live; pass
        the last ``cursor`` handled to resume after it. ``aclose()`` the generator to stop. When
        the gateway ends the stream (its stream lifetime), it is reopened after the last event."""
        last = cursor or ""

        def request() -> consent_pb2.WatchConsentEventsRequest:
            return consent_pb2.WatchConsentEventsRequest(cursor=last)

        async for message in self._watch(self._consents.WatchConsentEvents, request, timeout):
            event = convert.consent_event(message)
            last = message.cursor
            yield event

    # --- attestations ----------------------------------------------------------------------------

    async def issue(
        self,
        consent_id: str,
        *,
        params: Mapping[str, ClaimValue | Decimal] | None = None,
        request_id: str | None = None,
        claims: Iterable[str] | str | None = None,
    ) -> Attestation:
        """Obtain an attestation under an ACTIVE consent, bound to ``holder_key``; uses one use."""
        request = self._holder.issue_request(
            consent_id, params=params, request_id=request_id, claims=claims
        )
        response = await self._unary(self._attestations.IssueAttestation, request)
        return convert.attestation(response)

    async def get_attestation(self, jti: str) -> Attestation:
        """An attestation this bank holds, with its current state."""
        request = attestation_pb2.GetAttestationRequest(
            name=convert.resource_name("attestations", jti)
        )
        return convert.attestation(await self._unary(self._attestations.GetAttestation, request))

    async def issuer_keys(self) -> dict[str, Any]:
        """The issuer's JWKS (RFC 7517 §5), fetched now; also refreshes the verification cache."""
        return dict((await self._fetch_issuer()).raw)

    async def status(
        self, attestation: Attestation | str, *, offline: bool = False
    ) -> AttestationStatus:
        """``BankClient.status``: VALID, INVALID or SUSPENDED with the list's ``iat`` (a fetch
        runs in a worker thread)."""
        token = attestation.token if isinstance(attestation, Attestation) else attestation
        info = self._issuer or await self._fetch_issuer()
        ref = status_reference(token, info.issuer)
        if ref is None:
            raise InvalidAttestation("the attestation has no status (issued before status lists)")
        return await self._lookup(info, ref, offline=offline)

    async def verify(
        self, token: str, *, check_status: bool = True, offline: bool = False
    ) -> dict[str, Any]:
        """Verify an attestation offline (JWKS fetched once, then cached); its disclosed claims.
        With ``check_status`` it must also be VALID in its Status List (``BankClient.verify``).

        Raises ``InvalidAttestation`` for every failure, the precise ``SdJwtError`` as cause."""
        claims = await self._verified_claims(token)
        info = self._issuer or await self._fetch_issuer()
        ref = status_reference(token, info.issuer) if check_status else None
        if ref is not None:
            found = await self._lookup(info, ref, offline=offline)
            if found.status is not Status.VALID:
                raise InvalidAttestation(f"attestation is {found.status.name} in its status list")
        return claims

    async def _lookup(
        self, info: IssuerInfo, ref: StatusReference, *, offline: bool
    ) -> AttestationStatus:
        lookup = functools.partial(
            self._status_lists.lookup, ref, jwks=info.jwks, issuer=info.issuer, offline=offline
        )
        return await asyncio.to_thread(lookup)

    async def _verified_claims(self, token: str) -> dict[str, Any]:
        info = self._issuer or await self._fetch_issuer()
        try:
            return self._holder.verify(info, token)
        except SdJwtError as exc:
            if exc.code is not VerifyFailure.UNKNOWN_KID:
                raise InvalidAttestation("attestation invalid") from exc
        try:  # a rotated issuer key: refresh once, then decide for good
            return self._holder.verify(await self._fetch_issuer(), token)
        except SdJwtError as exc:
            raise InvalidAttestation("attestation invalid") from exc

    async def redeem(self, attestation: Attestation | str, *, transaction_ref: str) -> Redemption:
        """Redeem an attestation once, for the transaction ``transaction_ref`` (never retried)."""
        info = self._issuer or await self._fetch_issuer()
        request = self._holder.redeem_request(info, attestation, transaction_ref)
        response = await self._unary(self._attestations.RedeemAttestation, request)
        return convert.redemption(response)

    async def release_pledge(
        self, redemption: Redemption | Attestation | str, *, reason: str,
        request_id: str | None = None,
    ) -> Release:  # fmt: skip
        """``BankClient.release_pledge``: release what this bank's redemption pledged."""
        request = convert.release_request(redemption, reason=reason, request_id=request_id)
        return convert.release(await self._unary(self._attestations.ReleaseRedemption, request))

    async def release_amount(
        self, redemption: Redemption | Attestation | str, *, reason: str,
        request_id: str | None = None,
    ) -> Release:  # fmt: skip
        """``BankClient.release_amount``: give back the income a cancelled purchase consumed."""
        return await self.release_pledge(redemption, reason=reason, request_id=request_id)

    async def asset_history(
        self, domain: str, asset_id: str, *, consent: Consent | str, vkey: str | None = None,
        origin: str | None = None, verify: bool = True,
    ) -> list[AssetEvent]:  # fmt: skip
        """``BankClient.asset_history``: an asset's events under the holder's consent."""
        consent_id = consent.id if isinstance(consent, Consent) else consent
        return await asset_history_async(
            lambda request: self._unary(self._records.GetAssetHistory, request),
            history.history_request(domain, asset_id, consent_id),
            history.bank_opener(vkey, origin, verify),
        )

    # --- helpers ---------------------------------------------------------------------------------

    async def _fetch_issuer(self) -> IssuerInfo:
        response = await self._unary(
            self._attestations.GetIssuerKeys, attestation_pb2.GetIssuerKeysRequest()
        )
        info = IssuerInfo.parse(response)
        self._issuer = info
        return info
