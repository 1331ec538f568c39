"""Audit events in the owner's words: what happened, who did it, with what outcome and why.

The owner's activity page shows no raw event codes (``consent.approved``) or reason codes
(``CONSENT_REVOKED``): each is named in English and Chinese here; a code this table does not know
(a newer gateway's) is shown as words in English and, in Chinese, with the code in brackets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup

from attestgate.audit.events import AuditEvent
from attestgate.consent.catalog import Catalog
from attestgate.gateway.portal.i18n import Lang
from attestgate.gateway.portal.localfmt import LocalTimes
from attestgate.gateway.portal.plain import short_name

# event type -> (English, Chinese)
EVENT_NAMES: dict[str, tuple[str, str]] = {
    "consent.requested": ("Consent requested", "收到授权请求"),
    "consent.approved": ("Consent approved", "已同意授权"),
    "consent.rejected": ("Request rejected", "已拒绝请求"),
    "consent.paused": ("Consent paused", "授权已暂停"),
    "consent.resumed": ("Consent resumed", "授权已恢复"),
    "consent.revoked": ("Consent revoked", "授权已撤销"),
    "consent.expired": ("Consent expired", "授权已过期"),
    "consent.exhausted": ("Consent used up", "授权次数已用完"),
    "attestation.issued": ("Proof issued to the bank", "已向银行出具证明"),
    "attestation.redeemed": ("Proof used by the bank", "银行已使用证明"),
    "attestation.refused": ("Proof refused", "证明被拒绝出具"),
    "attestation.status_changed": ("Proof status changed", "证明状态已变更"),
    "pledge.released": ("Pledge released", "质押已解除"),
    "capacity.released": ("Amount released", "额度已释放"),
    "record.put": ("Record stored", "记录已存入"),
    "record.transferred": ("Record changed holder", "记录持有人已变更"),
    "record.erased": ("Your data erased", "您的数据已删除"),
    "fx_rates.put": ("Exchange rates stored", "汇率已存入"),
    "key.rotated": ("Signing key rotated", "签名密钥已轮换"),
    "pseudonym.resolved": ("A regulator resolved your pseudonym", "监管方解析了您的假名"),
}
# actor role -> (English, Chinese); {id} is the actor id (not shown for owners)
_ACTORS: dict[str, tuple[str, str]] = {
    "owner": ("you", "您"),
    "bank": ("bank {id}", "银行 {id}"),
    "provider": ("data provider {id}", "数据提供方 {id}"),
    "regulator": ("regulator {id}", "监管方 {id}"),
    "operator": ("operator", "运维人员"),
    "system": ("the gateway", "网关"),
}
_DECISIONS = {"allow": ("done", "已完成"), "deny": ("refused", "被拒绝")}
# reason code -> (English, Chinese)
REASONS: dict[str, tuple[str, str]] = {
    "CONSENT_REVOKED": ("the consent was revoked", "授权已被撤销"),
    "CONSENT_PAUSED": ("the consent is paused", "授权已暂停"),
    "CONSENT_EXPIRED": ("the consent expired", "授权已过期"),
    "CONSENT_EXHAUSTED": ("the consent is used up", "授权次数已用完"),
    "CONSENT_NOT_ACTIVE": ("the consent is not active", "授权未生效"),
    "CONSENT_NOT_PAUSED": ("the consent is not paused", "授权未暂停"),
    "CONSENT_NOT_FOUND": ("no such consent", "授权不存在"),
    "CONSENT_REQUEST_NOT_FOUND": ("no such request", "请求不存在"),
    "CONSENT_REQUEST_NOT_PENDING": ("the request was already decided", "请求已处理"),
    "CONSENT_REQUEST_EXPIRED": ("the request expired", "请求已过期"),
    "NOT_CONSENT_OWNER": ("not your consent", "不是您的授权"),
    "NOT_CONSENT_GRANTEE": ("the consent was given to another bank", "授权对象是其他银行"),
    "PARAMS_EXCEED_CONSENT": (
        "the bank asked beyond the limits you approved",
        "银行超出了您批准的限额",
    ),
    "CAPACITY_EXHAUSTED": ("the amount exceeds what is left", "金额超出剩余额度"),
    "ASSET_PLEDGED": ("the asset is already pledged", "资产已被质押"),
    "RECORD_NOT_FOUND": ("no matching record", "没有对应的记录"),
    "DATA_ERASED": ("the data was erased", "数据已删除"),
    "NOTHING_TO_DISCLOSE": ("nothing left to disclose", "没有可披露的信息"),
    "FX_RATE_UNAVAILABLE": ("no exchange rate for the currency", "没有该币种的汇率"),
    "ATTESTATION_EXPIRED": ("the proof expired", "证明已过期"),
    "ATTESTATION_ALREADY_REDEEMED": ("the proof was already used", "证明已被使用"),
    "RATE_LIMITED": ("too many attempts", "尝试次数过多"),
    "INVALID_ARGUMENT": ("the request was malformed", "请求格式有误"),
    "INVALID_PREDICATE_PARAMS": ("the bank's question was malformed", "银行提出的问题格式有误"),
}


def event_name(code: str, lang: Lang) -> str:
    """``consent.approved`` -> ``Consent approved`` / ``已同意授权``."""
    known = EVENT_NAMES.get(code)
    if known is not None:
        return known[0] if lang == "en" else known[1]
    words = code.replace(".", " ").replace("_", " ")
    return words.capitalize() if lang == "en" else f"其他事件（{code}）"


def reason_text(code: str, lang: Lang) -> str:
    """``CONSENT_REVOKED`` -> ``the consent was revoked`` / ``授权已被撤销``."""
    known = REASONS.get(code)
    if known is not None:
        return known[0] if lang == "en" else known[1]
    return code.lower().replace("_", " ") if lang == "en" else f"其他原因（{code}）"


@dataclass(frozen=True)
class ActivityRow:
    """One audited step as the owner's activity table shows it."""

    index: int
    time: Markup
    what: str
    who: str
    outcome: str
    refused: bool
    reason: str
    claims: str
    budget: str


def _claims(catalog: Catalog, event: AuditEvent, lang: Lang) -> str:
    domain = event.objects.get("domain", "")
    if domain not in catalog.domains:
        return ", ".join(event.claims)
    spec = catalog.domain(domain)
    return ("、" if lang == "zh" else ", ").join(short_name(spec, c, lang) for c in event.claims)


def _budget(event: AuditEvent, lang: Lang, times: LocalTimes) -> str:
    if "budget_used" not in event.objects:
        return ""
    used, limit = event.objects["budget_used"], event.objects.get("budget_limit", "?")
    renews = event.objects.get("budget_renews_at", "")
    try:
        at = times.when(datetime.fromisoformat(renews.replace("Z", "+00:00")))
    except ValueError:
        at = renews
    return f"{used} / {limit}, " + (f"renews {at}" if lang == "en" else f"{at} 重置")


def activity_row(
    catalog: Catalog, index: int, event: AuditEvent, lang: Lang, times: LocalTimes
) -> ActivityRow:
    """``event`` (log entry ``index``) in the owner's language and time zone."""
    actor = _ACTORS.get(event.actor_role.value, (event.actor_role.value, event.actor_role.value))
    who = (actor[0] if lang == "en" else actor[1]).format(id=event.actor_id)
    outcome = _DECISIONS.get(event.decision.value, (event.decision.value,) * 2)
    return ActivityRow(
        index=index,
        time=times.element(event.time),
        what=event_name(event.type.value, lang),
        who=who,
        outcome=outcome[0] if lang == "en" else outcome[1],
        refused=event.decision.value == "deny",
        reason=reason_text(event.reason, lang) if event.reason else "",
        claims=_claims(catalog, event, lang),
        budget=_budget(event, lang, times),
    )
