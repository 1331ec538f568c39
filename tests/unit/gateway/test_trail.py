"""gateway.usecases.trail.Trail: how ids that may name a person are written into audit events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from attestgate.audit.events import EventType, Pseudonymizer, PseudonymKind
from attestgate.gateway.usecases.trail import Trail

KEY = bytes(range(32))
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def trail() -> Trail:
    return Trail(Pseudonymizer(KEY), ["patent"])


def issued(**kwargs: object) -> dict[str, str]:
    event = trail().event(
        EventType.ATTESTATION_REDEEMED,
        now=NOW,
        role="bank",
        actor="bank-a",
        subject="alice",
        objects={"attestation_jti": "j1"},
        **kwargs,  # type: ignore[arg-type]
    )
    return dict(event.objects)


def test_a_personal_record_and_a_transaction_ref_become_pseudonyms() -> None:
    objects = issued(record=("income", "alice-2025"), transaction_ref="fx-alice-1")
    pseudonymizer = Pseudonymizer(KEY)
    assert objects == {
        "attestation_jti": "j1",
        "domain": "income",
        "record_pseudonym": pseudonymizer.record("income", "alice-2025"),
        "transaction_pseudonym": pseudonymizer.of_kind(PseudonymKind.TRANSACTION, "fx-alice-1"),
    }
    assert "alice" not in repr(objects)


def test_a_public_record_id_stays_in_clear() -> None:
    objects = issued(record=("patent", "ZL2024-1"))
    assert objects == {"attestation_jti": "j1", "domain": "patent", "record_id": "ZL2024-1"}
    assert trail().record_objects("patent", "ZL2024-1") == {
        "domain": "patent",
        "record_id": "ZL2024-1",
    }


@pytest.mark.parametrize(
    "objects",
    [
        {"record_id": "alice-2025"},
        {"domain": "income", "record_id": "alice-2025"},
        {"domain": "patent", "transaction_ref": "fx-1"},
    ],
)
def test_raw_ids_in_objects_are_a_programming_error(objects: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="record="):
        trail().event(
            EventType.RECORD_PUT, now=NOW, role="provider", actor="p", subject=None, objects=objects
        )


def test_an_unverified_jti_is_a_short_keyed_hash() -> None:
    hashed = trail().unverified_jti("J" * 256)
    assert hashed.startswith("pj_")
    assert len(hashed) == 25
    assert hashed != Trail(Pseudonymizer(bytes(32))).unverified_jti("J" * 256)
