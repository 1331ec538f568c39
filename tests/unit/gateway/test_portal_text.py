"""The portal's words: language choice, plain-language disclosures, no open redirects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from attestgate.consent.catalog import Catalog
from attestgate.gateway.common.auth import Principal, SubjectId
from attestgate.gateway.common.roles import Role
from attestgate.gateway.portal.describe import _CLAIMS, describe_claim, describe_disclosure
from attestgate.gateway.portal.i18n import MESSAGES, choose_lang, translate
from attestgate.gateway.portal.security import SessionStore, csrf_matches
from attestgate.gateway.portal.web import local_path


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, None, "en"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "en-US,en;q=0.9,zh;q=0.8", "en"),
        (None, "fr-FR,zh-TW;q=0.5", "zh"),
        (None, "zh;q=0,en;q=0.1", "en"),
        (None, "de", "en"),
        ("en", "zh-CN", "en"),
        ("zh", "en", "zh"),
        ("xx", "zh", "zh"),
    ],
)
def test_choose_lang(cookie: str | None, header: str | None, expected: str) -> None:
    assert choose_lang(cookie, header) == expected


def test_every_message_has_both_languages_and_the_same_placeholders() -> None:
    for key, (en, zh) in MESSAGES.items():
        assert en, key
        assert zh, key
        assert sorted(_fields(en)) == sorted(_fields(zh)), key
    assert translate("days", "zh", n=30) == "30 天"
    assert translate("no.such.key", "en") == "no.such.key"


def _fields(text: str) -> list[str]:
    return [part.split("}")[0] for part in text.split("{")[1:]]


def test_income_disclosure_says_what_is_shared_and_what_never_is() -> None:
    catalog = Catalog.load_default()
    shown = describe_disclosure(catalog, "income", ("covers_amount",), "en")
    assert [c.name for c in shown.disclosed] == ["covers_amount"]
    assert "not your income" in shown.disclosed[0].text
    assert [c.name for c in shown.never] == ["taxpayer_id"]
    assert "after_tax_income" in [c.name for c in shown.not_requested]
    assert "tax_year" in [c.name for c in shown.not_requested]
    zh = describe_disclosure(catalog, "income", ("covers_amount",), "zh")
    assert "不透露您的收入" in zh.disclosed[0].text


def test_every_shipped_claim_has_a_written_description() -> None:
    catalog = Catalog.load_default()
    for name, domain in catalog.domains.items():
        for claim in (*map(domain.claim_name, domain.fields), *domain.predicates):
            assert (name, claim) in _CLAIMS, f"{name}.{claim} has no plain-language text"


def test_a_former_claim_name_is_described_as_the_claim_it_became() -> None:
    """Consent requests stored before status became registration_status (issue 17 item 1)."""
    catalog = Catalog.load_default()
    domain = catalog.domain("business_registration")
    assert describe_claim(domain, "status", "en") == describe_claim(
        domain, "registration_status", "en"
    )
    assert "registration status" in describe_claim(domain, "status", "en")
    shown = describe_disclosure(catalog, "business_registration", ("status",), "en")
    assert "registration_status" not in [c.name for c in shown.not_requested]
    assert "legal_rep_id" in [c.name for c in shown.never]


def test_unknown_claims_fall_back_to_a_generic_sentence() -> None:
    domain = Catalog.load_default().domain("income")
    assert describe_claim(domain, "shoe_size", "en") == "your shoe size"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/owner/consents", "/owner/consents"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
    ],
)
def test_redirect_targets_stay_on_this_site(target: str, expected: str) -> None:
    assert local_path(target) == expected


def test_anonymous_sessions_cannot_evict_signed_in_ones() -> None:
    now = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    store = SessionStore(max_sessions=2)
    owner = Principal(
        subject=SubjectId("alice"),
        role=Role.OWNER,
        issuer="dev",
        expires_at=now + timedelta(hours=1),
    )
    signed_in = store.new(now, owner, "token")
    anonymous = [store.new(now) for _ in range(5)]
    assert store.get(signed_in.id, now) == signed_in
    assert store.get(anonymous[0].id, now) is None  # evicted, oldest first
    assert store.get(anonymous[-1].id, now) == anonymous[-1]
    assert store.get(signed_in.id, now + timedelta(hours=1)) is None  # ends with its token
    assert not csrf_matches(anonymous[-1], signed_in.csrf)
    assert csrf_matches(anonymous[-1], anonymous[-1].csrf)


def test_owner_activity_shows_the_evaluation_budget() -> None:
    from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: PLC0415

    from attestgate.audit.events import (  # noqa: PLC0415
        ActorRole,
        AuditEvent,
        Decision,
        EventType,
        Pseudonym,
    )

    issued = AuditEvent(
        type=EventType.ATTESTATION_ISSUED,
        time=datetime(2026, 1, 15, 12, tzinfo=UTC),
        actor_role=ActorRole.BANK,
        actor_id="bank-a",
        subject=Pseudonym("ps_x"),
        objects={
            "budget_used": "3",
            "budget_limit": "4",
            "budget_renews_at": "2026-02-06T00:00:00Z",
        },
        decision=Decision.ALLOW,
        claims=("covers_amount",),
    )
    from attestgate.gateway.portal.eventtext import activity_row  # noqa: PLC0415
    from attestgate.gateway.portal.localfmt import LocalTimes  # noqa: PLC0415

    env = Environment(
        loader=PackageLoader("attestgate.gateway.portal", "templates"),
        autoescape=select_autoescape(),
    )
    times = LocalTimes("en", ZoneInfo("Asia/Shanghai"))
    page = env.get_template("owner_activity.html").render(
        t=lambda key, **values: translate(key, "en", **values),
        lang="en",
        csrf="",
        principal=None,
        path="/owner/activity",
        rows=[activity_row(Catalog.load_default(), 7, issued, "en", times)],
        cursor=None,
    )
    assert "3 / 4, renews 6 February 2026, 08:00 (UTC+8)" in page
    assert "attestation.issued" not in page


def test_consent_states_read_in_the_page_language() -> None:
    from attestgate.consent.model import ConsentState  # noqa: PLC0415
    from attestgate.gateway.portal.owner import state_text  # noqa: PLC0415

    chinese = {state_text(state.value, "zh") for state in ConsentState}
    assert len(chinese) == len(ConsentState)
    assert not chinese & set(ConsentState)
    assert state_text("REVOKED", "en") == "REVOKED"
    assert state_text("REVOKED", "zh") == "已撤销"
    assert state_text("<script>", "zh") == ""  # the redirect's query is not trusted
