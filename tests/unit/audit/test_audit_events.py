"""audit.events: canonical JSON leaves and subject pseudonyms."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from attestgate.audit.events import (
    ActorRole,
    AuditEvent,
    Decision,
    EventFormatError,
    EventType,
    Pseudonym,
    Pseudonymizer,
    PseudonymKind,
    canonical_json,
)

KEY = bytes(range(32))
WHEN = datetime(2025, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)


def _event(**changes: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "type": EventType.ATTESTATION_ISSUED,
        "time": WHEN,
        "actor_role": ActorRole.BANK,
        "actor_id": "bank-7",
        "subject": Pseudonymizer(KEY).pseudonym("subject-1"),
        "objects": {"consent_id": "c-1", "attestation_jti": "j-1"},
        "decision": Decision.ALLOW,
        "reason": None,
        "claims": ("income_covers", "tax_year"),
    }
    fields.update(changes)
    return AuditEvent(**fields)


# The pseudonym was computed independently of our code:
#   printf subject-1 | openssl dgst -sha256 -mac HMAC -macopt hexkey:000102...1f -binary
#   | head -c 16 | base64 | tr '+/' '-_' | tr -d '='
GOLDEN = (
    b'{"actor_id":"bank-7","actor_role":"bank","claims":["income_covers","tax_year"],'
    b'"decision":"allow","objects":{"attestation_jti":"j-1","consent_id":"c-1"},"reason":null,'
    b'"subject":"ps_4Zt2_ESjifp2OZabFNy_dw","time":"2025-03-04T05:06:07.891Z",'
    b'"type":"attestation.issued","v":1}'
)


class TestCanonicalJson:
    def test_golden_bytes(self) -> None:
        assert canonical_json(_event()) == GOLDEN

    def test_same_event_same_bytes_regardless_of_input_order(self) -> None:
        shuffled = _event(
            objects={"attestation_jti": "j-1", "consent_id": "c-1"},
            claims=("tax_year", "income_covers", "tax_year"),
        )
        assert canonical_json(shuffled) == GOLDEN

    def test_round_trip(self) -> None:
        event = AuditEvent.from_json(GOLDEN)
        assert event == _event()
        assert canonical_json(event) == GOLDEN

    def test_non_ascii_is_utf8_not_escaped(self) -> None:
        data = canonical_json(_event(reason="pas autorisé"))
        assert "pas autorisé".encode() in data
        assert AuditEvent.from_json(data).reason == "pas autorisé"

    def test_time_precision_and_zone(self) -> None:
        whole = _event(time=datetime(2025, 1, 1, 8, 0, 0, 999, tzinfo=timezone(timedelta(hours=8))))
        assert b'"time":"2025-01-01T00:00:00Z"' in canonical_json(whole)
        assert _event().time == WHEN.replace(microsecond=891000)

    @pytest.mark.parametrize(
        "data",
        [
            GOLDEN.replace(b'"v":1', b'"v":1.0'),
            GOLDEN.replace(b'"v":1', b'"v":2'),
            GOLDEN.replace(b",", b", ", 1),
            GOLDEN.replace(b'{"actor_id":"bank-7",', b'{"actor_id":"bank-7","actor_id":"bank-7",'),
            GOLDEN.replace(b'"reason":null,', b""),
            GOLDEN.replace(b'"reason":null,', b'"reason":null,"extra":1,'),
            GOLDEN.replace(b"05:06:07.891Z", b"05:06:07.891+00:00"),
            GOLDEN.replace(
                b'"claims":["income_covers","tax_year"]', b'"claims":["tax_year","income_covers"]'
            ),
            GOLDEN.replace(b'"v":1', b'"v":NaN'),
            b"\xff" + GOLDEN,
            b"[]",
        ],
    )
    def test_from_json_rejects_non_canonical_or_invalid(self, data: bytes) -> None:
        with pytest.raises(EventFormatError):
            AuditEvent.from_json(data)


class TestValidation:
    def test_naive_time_is_refused(self) -> None:
        with pytest.raises(EventFormatError, match="timezone-aware"):
            _event(time=datetime(2025, 1, 1))

    @pytest.mark.parametrize(
        "changes",
        [
            {"type": "consent.teleported"},
            {"actor_role": "hacker"},
            {"decision": "maybe"},
            {"subject": Pseudonym("subject-1")},
            {"actor_role": ActorRole.OWNER, "actor_id": "subject-1"},
            {"actor_id": ""},
            {"actor_id": "x" * 257},
            {"objects": {"consent_id": 7}},
            {"claims": "income"},
            {"claims": (1,)},
            {"reason": ""},
        ],
    )
    def test_bad_fields_are_refused(self, changes: dict[str, Any]) -> None:
        with pytest.raises(EventFormatError):
            _event(**changes)

    def test_owner_actor_with_pseudonym_is_fine(self) -> None:
        owner = Pseudonymizer(KEY).pseudonym("subject-1")
        event = _event(actor_role="owner", actor_id=owner, type="consent.approved")
        assert event.actor_role is ActorRole.OWNER
        assert event.type is EventType.CONSENT_APPROVED

    def test_objects_are_read_only(self) -> None:
        event = _event()
        with pytest.raises(TypeError):
            event.objects["consent_id"] = "other"  # type: ignore[index]

    def test_every_event_type_is_named(self) -> None:
        assert {t.value for t in EventType} >= {
            "consent.requested",
            "consent.revoked",
            "consent.exhausted",
            "attestation.refused",
            "record.erased",
            "fx_rates.put",
            "key.rotated",
        }


class TestPseudonymizer:
    def test_stable_and_keyed(self) -> None:
        first = Pseudonymizer(KEY).pseudonym("subject-1")
        assert first == Pseudonymizer(KEY).pseudonym("subject-1")
        assert first != Pseudonymizer(KEY).pseudonym("subject-2")
        assert first != Pseudonymizer(bytes(32)).pseudonym("subject-1")
        assert first.startswith("ps_")
        assert len(first) == 3 + 22  # 128 bits, base64url without padding
        assert "subject" not in first

    def test_short_key_and_empty_id(self) -> None:
        with pytest.raises(ValueError, match="32 bytes"):
            Pseudonymizer(b"short")
        with pytest.raises(ValueError, match="non-empty"):
            Pseudonymizer(KEY).pseudonym("")

    def test_repr_hides_key(self) -> None:
        assert KEY.hex() not in repr(Pseudonymizer(KEY))

    def test_subject_pseudonyms_keep_their_original_layout(self) -> None:
        # Existing logs, the activity index and the vault's subject refs depend on it.
        digest = hmac.new(KEY, b"subject-1", hashlib.sha256).digest()[:16]
        expected = "ps_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
        assert Pseudonymizer(KEY).pseudonym("subject-1") == expected


class TestPseudonymKinds:
    def test_each_kind_is_keyed_apart_and_named_by_its_prefix(self) -> None:
        pseudonymizer = Pseudonymizer(KEY)
        made = {kind: pseudonymizer.of_kind(kind, "same-id") for kind in PseudonymKind}
        assert len({value[3:] for value in made.values()}) == len(PseudonymKind)
        for kind, value in made.items():
            assert value.startswith(kind.value)
            assert len(value) == 3 + 22
            assert PseudonymKind.of(value) is kind
        assert PseudonymKind.of("alice") is None
        assert made[PseudonymKind.SUBJECT] == pseudonymizer.pseudonym("same-id")

    def test_a_record_pseudonym_depends_on_domain_and_id(self) -> None:
        pseudonymizer = Pseudonymizer(KEY)
        record = pseudonymizer.record("income", "inc-1")
        assert record == pseudonymizer.of_kind(PseudonymKind.RECORD, "income\x00inc-1")
        assert record != pseudonymizer.record("patent", "inc-1")
        assert record != pseudonymizer.record("income", "inc-2")
        assert record != Pseudonymizer(bytes(32)).record("income", "inc-1")
        with pytest.raises(ValueError, match="non-empty"):
            pseudonymizer.record("income", "")

    def test_resolving_is_audited_as_its_own_event_type(self) -> None:
        assert EventType("pseudonym.resolved") is EventType.PSEUDONYM_RESOLVED


def test_a_leaf_written_before_pseudonymized_record_ids_still_parses_to_the_same_bytes() -> None:
    # An attestation.redeemed leaf of the earlier gateways: record id and transaction ref in clear.
    old = (
        b'{"actor_id":"bank-a","actor_role":"bank","claims":[],"decision":"allow","objects":'
        b'{"attestation_jti":"vsUtgynYw054-681dRjUXQ","consent_id":"cs_1","record_id":"inc-2025",'
        b'"transaction_ref":"fx-0001"},"reason":null,"subject":"ps_OFldKNVkeJQcAoOLpkZpAg",'
        b'"time":"2026-11-26T07:48:15.739Z","type":"attestation.redeemed","v":1}'
    )
    event = AuditEvent.from_json(old)
    assert event.objects["transaction_ref"] == "fx-0001"
    assert canonical_json(event) == old
