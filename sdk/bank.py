"""``BankClient``: a relying party asks for consent, obtains attestations, verifies them offline
and redeems each exactly once (DESIGN.md "Flow").

The client keeps a P-256 holder key: every attestation it obtains is bound to it (``cnf.jwk``,
RFC 7800 §3.2) and only a key-binding JWT signed with it can redeem the attestation (RFC 9901
§4.3). ``verify`` runs offline against the issuer's JWKS, fetched once and cached, fetched again
once when a token names an unknown ``kid`` (key rotation, DESIGN.md "Attestations").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import grpc
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.sdk._internal import convert, history, holder
from attestgate.sdk._internal.base import DEFAULT_TIMEOUT, PAGE_SIZE, ClientBase, follow_pages
from attestgate.sdk._internal.channel import TokenSource
from attestgate.sdk._internal.holder import Holder, IssuerInfo
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

__all__ = ["BankClient"]


class BankClient(ClientBase):
    """Consent requests, attestations, offline verification and single redemption for a bank.

    ``token`` is a bearer token with role ``bank`` (its ``sub`` is the bank's identity);
    ``holder_key`` the P-256 key attestations are bound to: only it can redeem them. ``None``
    generates one that dies with this client; to redeem from another process or after a restart,
    pass a kept ``HolderKey`` (``HolderKey.load_or_generate(path)``) or a ``HolderKeySigner``
    (a key in an HSM or KMS: ``public_jwk()`` and ``sign(data)``). ``clock`` (for tests) is the
    "now" of offline verification and of key-binding JWTs; ``leeway`` the clock skew tolerated
    when checking ``exp``/``iat``; ``status_max_age`` the freshness bound of a cached status
    list used offline (``attestgate.sdk.status``); ``status_fetch`` (for tests) GETs a Status
    List Token by URI (default: HTTPS trusting ``tls.ca_file``).
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
        channel: grpc.Channel | None = None,
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
        self._issuer_lock = threading.Lock()
        self._consents = consent_pb2_grpc.ConsentServiceStub(self._channel)
        self._attestations = attestation_pb2_grpc.AttestationServiceStub(self._channel)
        self._records = record_pb2_grpc.RecordServiceStub(self._channel)

    @property
    def holder_key(self) -> ec.EllipticCurvePrivateKey:
        """The P-256 key attestations obtained by this client are bound to (for a
        ``HolderKeySigner``, a key object whose ``sign`` is the signer's)."""
        return self._holder.key

    # --- consent ---------------------------------------------------------------------------------

    def request_consent(
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
        """Ask ``owner`` for consent to learn ``claims`` from a ``domain`` record for
        ``purpose``; ``valid_for`` and ``max_uses`` are capped by the purpose. ``request_id``
        (default: a fresh one) makes a resend return the same request. ``bounds`` limits the
        parameters of later ``issue`` calls, keyed like them: ``{"amount": Decimal("50000.00"),
        "currency": "USD"}`` (an amount or int at most this, anything else exactly this); the
        owner sees and may lower them, and an issue outside them is refused
        (``PARAMS_EXCEED_CONSENT``). A purpose may require some (docs/consent.md)."""
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
        return convert.consent_request(self._unary(self._consents.CreateConsentRequest, request))

    def get_consent(self, consent_id: str) -> Consent:
        """A consent granted to this bank (bare id or ``consents/{id}``)."""
        request = consent_pb2.GetConsentRequest(name=convert.resource_name("consents", consent_id))
        return convert.consent(self._unary(self._consents.GetConsent, request))

    def list_consents(self, *, state: ConsentState | str | None = None) -> list[Consent]:
        """Every consent granted to this bank (all pages), optionally only those in ``state``."""
        state_filter = convert.consent_state_filter(state)

        def fetch(token: str) -> tuple[list[Consent], str]:
            request = consent_pb2.ListConsentsRequest(
                page_size=PAGE_SIZE, page_token=token, state=state_filter
            )
            response = self._unary(self._consents.ListConsents, request)
            return [convert.consent(c) for c in response.consents], response.next_page_token

        return follow_pages(fetch)

    def watch_consent_events(
        self, cursor: str | None = None, *, timeout: float | None = None
    ) -> Generator[ConsentEvent, None, None]:
        """Status changes of this bank's requests and consents, oldest first, then live.

        Pass the ``cursor`` of the last event handled to resume after it: nothing is missed
        across reconnects. The stream runs until ``timeout`` seconds (``None``: forever) or until
        the caller stops iterating (closing the iterator cancels the call); when the gateway ends
        it (its stream lifetime), it is reopened after the last event yielded."""
        last = cursor or ""

        def request() -> consent_pb2.WatchConsentEventsRequest:
            return consent_pb2.WatchConsentEventsRequest(cursor=last)

        for message in self._watch(self._consents.WatchConsentEvents, request, timeout):
            event = convert.consent_event(message)
            last = message.cursor
            yield event

    # --- attestations ----------------------------------------------------------------------------

    def issue(
        self,
        consent_id: str,
        *,
        params: Mapping[str, ClaimValue | Decimal] | None = None,
        request_id: str | None = None,
        claims: Iterable[str] | str | None = None,
    ) -> Attestation:
        """Obtain an attestation under an ACTIVE consent, bound to ``holder_key``; uses one use.

        ``params`` are the predicates' parameters, e.g. ``{"amount": 5_000_000, "currency":
        "USD"}``: amounts in **integer minor units** (cents: USD 50,000.00), or a
        ``decimal.Decimal("50000.00")`` converted with the currency's ISO 4217 exponent; a float
        is refused. ``claims`` narrows what is disclosed (``None``: every claim of the consent
        request; those the owner unticked come back in ``withheld``). The same ``request_id``
        returns the same attestation and counts one use. The attestation expires 10 minutes
        after issue (the gateway's ``attestation_ttl``)."""
        request = self._holder.issue_request(
            consent_id, params=params, request_id=request_id, claims=claims
        )
        return convert.attestation(self._unary(self._attestations.IssueAttestation, request))

    def get_attestation(self, jti: str) -> Attestation:
        """An attestation this bank holds, with its current state."""
        request = attestation_pb2.GetAttestationRequest(
            name=convert.resource_name("attestations", jti)
        )
        return convert.attestation(self._unary(self._attestations.GetAttestation, request))

    def issuer_keys(self) -> dict[str, Any]:
        """The issuer's JWKS (RFC 7517 §5), fetched now; also refreshes the verification cache."""
        return dict(self._fetch_issuer().raw)

    def status(self, attestation: Attestation | str, *, offline: bool = False) -> AttestationStatus:
        """The attestation's status in its issuer's Status List: ``.status`` is ``Status.VALID``,
        ``INVALID`` (redeemed, consent revoked or expired, data erased) or ``SUSPENDED`` (consent
        paused), ``.iat`` when the list was signed. The list is fetched over HTTPS when the cached
        one is older than its ``ttl`` (never with ``offline``); a cached list serves while younger
        than ``status_max_age``, else ``Unavailable``."""
        token = attestation.token if isinstance(attestation, Attestation) else attestation
        info = self._issuer or self._fetch_issuer()
        ref = status_reference(token, info.issuer)
        if ref is None:
            raise InvalidAttestation("the attestation has no status (issued before status lists)")
        return self._status_lists.lookup(ref, jwks=info.jwks, issuer=info.issuer, offline=offline)

    def verify(
        self, token: str, *, check_status: bool = True, offline: bool = False
    ) -> dict[str, Any]:
        """Verify an attestation **offline** and return its disclosed claims (JSON values).

        Checks the signature against the cached JWKS, ``typ``, ``iss`` (the issuer
        ``GetIssuerKeys`` names: the gateway's HTTPS URL, or a former name such as its id),
        ``exp``/``iat``/``nbf``, ``vct`` and every disclosure; a key-binding JWT is refused (this
        checks an issued token, not a presentation). Raises ``InvalidAttestation``, one opaque
        error for every failure; the precise ``SdJwtError`` is its ``__cause__``.

        With ``check_status`` (the default) the attestation must also be VALID in its Status
        List (``status``; ``offline``: from the cached list only, within ``status_max_age``):
        ``InvalidAttestation`` if it is INVALID or SUSPENDED, ``Unavailable`` if no list fresh
        enough can be had. Attestations issued before status lists carry none and skip the check."""
        claims = self._verified_claims(token)
        info = self._issuer or self._fetch_issuer()
        ref = status_reference(token, info.issuer) if check_status else None
        if ref is not None:
            found = self._status_lists.lookup(
                ref, jwks=info.jwks, issuer=info.issuer, offline=offline
            )
            if found.status is not Status.VALID:
                raise InvalidAttestation(f"attestation is {found.status.name} in its status list")
        return claims

    def _verified_claims(self, token: str) -> dict[str, Any]:
        info = self._issuer or self._fetch_issuer()
        try:
            return self._holder.verify(info, token)
        except SdJwtError as exc:
            if exc.code is not VerifyFailure.UNKNOWN_KID:
                raise InvalidAttestation("attestation invalid") from exc
        # A rotated issuer key: refresh once, then decide for good.
        try:
            return self._holder.verify(self._fetch_issuer(), token)
        except SdJwtError as exc:
            raise InvalidAttestation("attestation invalid") from exc

    def redeem(self, attestation: Attestation | str, *, transaction_ref: str) -> Redemption:
        """Redeem an attestation once, for the transaction ``transaction_ref``.

        Builds the presentation: the token plus a KB-JWT signed with ``holder_key`` whose ``aud``
        is the gateway's issuer name and whose ``nonce`` is
        ``redemption_nonce(jti, transaction_ref)``. Raises ``HolderKeyMismatch``, sending
        nothing, when the attestation is bound to another holder key; ``AlreadyRedeemed`` on reuse,
        ``AttestationExpired``, ``ConsentRevoked``, ``ConsentPaused``, ``CapacityExhausted``, or
        ``InvalidAttestation``."""
        info = self._issuer or self._fetch_issuer()
        request = self._holder.redeem_request(info, attestation, transaction_ref)
        return convert.redemption(self._unary(self._attestations.RedeemAttestation, request))

    def release_pledge(
        self, redemption: Redemption | Attestation | str, *, reason: str,
        request_id: str | None = None,
    ) -> Release:  # fmt: skip
        """Release the pledge this bank's redemption made (the loan is repaid): the asset can
        back a new loan under a new consent. ``reason``: ``REPAID``, ``CANCELLED``, ``REVERSED``
        or ``CORRECTION`` (a code, never free text: it is audited). Only the bank that redeemed
        may release (``PermissionDenied``, reason ``NOT_PLEDGEE``); releasing again answers the
        first release; ``FailedPrecondition`` (``NOTHING_TO_RELEASE``) if nothing was consumed."""
        request = convert.release_request(redemption, reason=reason, request_id=request_id)
        return convert.release(self._unary(self._attestations.ReleaseRedemption, request))

    def release_amount(
        self, redemption: Redemption | Attestation | str, *, reason: str,
        request_id: str | None = None,
    ) -> Release:  # fmt: skip
        """Give back the income an FX purchase consumed when the purchase is cancelled or
        reversed (``reason`` ``CANCELLED`` or ``REVERSED``), so it does not burn the owner's
        capacity. The same call as ``release_pledge`` (one RPC, ``ReleaseRedemption``): the
        gateway releases whatever the redemption consumed."""
        return self.release_pledge(redemption, reason=reason, request_id=request_id)

    def asset_history(
        self, domain: str, asset_id: str, *, consent: Consent | str, vkey: str | None = None,
        origin: str | None = None, verify: bool = True,
    ) -> list[AssetEvent]:  # fmt: skip
        """An asset's events in log order (``RegulatorClient.asset_history``), read under
        ``consent``: an ACTIVE consent the asset's current holder gave this bank for a purpose
        that pledges it (``pledge_financing``, ``ip_pledge_loan``). Holders appear as the log's
        pseudonyms. With ``verify`` (the default) every checkpoint is checked against ``vkey``
        (the log's verifier key, obtained out of band; ``origin`` defaults to its name) and every
        inclusion proof against it (``LogVerificationError``)."""
        consent_id = consent.id if isinstance(consent, Consent) else consent
        return history.asset_history(
            lambda request: self._unary(self._records.GetAssetHistory, request),
            history.history_request(domain, asset_id, consent_id),
            history.bank_opener(vkey, origin, verify),
        )

    # --- helpers ---------------------------------------------------------------------------------

    def _fetch_issuer(self) -> IssuerInfo:
        response = self._unary(
            self._attestations.GetIssuerKeys, attestation_pb2.GetIssuerKeysRequest()
        )
        info = IssuerInfo.parse(response)
        with self._issuer_lock:
            self._issuer = info
        return info
