"""A consent request in one plain sentence, with what the bank learns and never learns.

"bank-a asks to verify once, before 5 January 2027, that your 2025 after-tax income (record
inc-2025) covers a purchase of up to 50,000.00 USD. It will learn: tax year (2025); yes/no. It
will never learn: your taxpayer id, your gross income, ..." Each catalog purpose has its sentence
in English and Chinese (``_SENTENCES``); a purpose without one, or a request that asks none of its
predicates, gets a generic sentence built from the catalog, so a new domain still reads truthfully.
The values come from the owner's own record (``OwnerRecords.disclosed_values``): only the plain
claims the bank would learn; without a record the sentence names none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from markupsafe import Markup

from attestgate.consent.catalog import Catalog, DomainSpec
from attestgate.gateway.portal.describe import (
    bounded_amounts,
    describe_disclosure,
    describe_domain,
    describe_purpose,
)
from attestgate.gateway.portal.i18n import Lang
from attestgate.gateway.portal.localfmt import LocalTimes, format_money

# (domain, purpose) -> (English, Chinese); {bank} {uses} {until} {subject} {amount}
_SENTENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("income", "fx_purchase"): (
        "{bank} asks to verify {uses}, before {until}, that {subject} covers a purchase of "
        "{amount}.",
        "{bank} 请求在 {until} 之前核验{uses}：{subject}是否足以支付{amount}的购汇。",
    ),
    ("business_registration", "counterparty_check"): (
        "{bank} asks to check {uses}, before {until}, how {subject} is registered and whether "
        "it is in good standing.",
        "{bank} 请求在 {until} 之前核查{uses}：{subject}的登记状态以及是否正常经营。",
    ),
    ("patent", "ip_pledge_loan"): (
        "{bank} asks to verify {uses}, before {until}, that {subject} is yours and free of "
        "pledges, to secure a loan with it.",
        "{bank} 请求在 {until} 之前核验{uses}：{subject}是否归您所有且未被质押，用于专利质押贷款。",
    ),
    ("warehouse_receipt", "pledge_financing"): (
        "{bank} asks to verify {uses}, before {until}, that {subject} is free of pledges, to "
        "finance against it.",
        "{bank} 请求在 {until} 之前核验{uses}：{subject}是否未被质押，用于仓单质押融资。",
    ),
}
_GENERIC = (
    "{bank} asks to use facts from {subject} {uses}, before {until}, for: {purpose}.",
    "{bank} 请求在 {until} 之前{uses}使用{subject}中的信息，用途：{purpose}。",
)
# domain -> ((English, Chinese) for one named record, (English, Chinese) for the latest one)
_SUBJECTS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "income": (
        ("the after-tax income in your record {record}", "您记录 {record} 中的税后收入"),
        ("your latest certified after-tax income", "您最新核定的税后收入"),
    ),
    "business_registration": (("company {record}", "企业 {record}"), ("your company", "您的企业")),
    "patent": (("patent {record}", "专利 {record}"), ("your patent", "您的专利")),
    "warehouse_receipt": (
        ("warehouse receipt {record}", "仓单 {record}"),
        ("your warehouse receipt", "您的仓单"),
    ),
}
# domain -> (claim, named record, latest record): the subject when the owner's record gives that
# claim's value ("your 2025 after-tax income"); {value} is the value, {record} the record id.
_SUBJECTS_WITH_VALUE: dict[str, tuple[str, tuple[str, str], tuple[str, str]]] = {
    "income": (
        "tax_year",
        (
            "your {value} after-tax income (record {record})",
            "您 {value} 年度的税后收入（记录 {record}）",
        ),
        (
            "your latest certified after-tax income (now tax year {value})",
            "您最新核定的税后收入（目前为 {value} 纳税年度）",
        ),
    ),
}
# (domain, claim) -> (English, Chinese): the short names of "It will learn / never learn".
_SHORT: dict[tuple[str, str], tuple[str, str]] = {
    ("income", "tax_year"): ("tax year", "纳税年度"),
    ("income", "covers_amount"): ("yes/no", "是或否"),
    ("income", "gross_income"): ("your gross income", "您的税前收入"),
    ("income", "after_tax_income"): ("your after-tax income", "您的税后收入"),
    ("income", "tax_paid"): ("the tax you paid", "您缴纳的税款"),
    ("income", "employer_name"): ("your employer", "您的雇主"),
    ("income", "taxpayer_id"): ("your taxpayer id", "您的纳税人识别号"),
    ("business_registration", "uscc"): ("the credit code", "信用代码"),
    ("business_registration", "name"): ("company name", "企业名称"),
    ("business_registration", "registration_status"): ("registration status", "登记状态"),
    ("business_registration", "closure_start"): ("closure start", "歇业开始日期"),
    ("business_registration", "closure_end"): ("closure end", "歇业结束日期"),
    ("business_registration", "legal_rep_id"): (
        "the legal representative's id",
        "法定代表人证件号码",
    ),
    ("business_registration", "in_good_standing"): ("yes/no: in good standing", "是否正常经营"),
    ("patent", "patent_no"): ("patent number", "专利号"),
    ("patent", "title"): ("title", "专利名称"),
    ("patent", "patent_status"): ("legal status", "法律状态"),
    ("patent", "owner"): ("the owner record", "专利权人记录"),
    ("patent", "expiry_date"): ("expiry date", "到期日"),
    ("patent", "owned_by_subject"): ("yes/no: you own it", "是否归您所有"),
    ("patent", "unencumbered"): ("yes/no: free of pledges", "是否未被质押"),
    ("warehouse_receipt", "receipt_id"): ("receipt number", "仓单编号"),
    ("warehouse_receipt", "commodity"): ("commodity", "货物"),
    ("warehouse_receipt", "quantity"): ("quantity", "数量"),
    ("warehouse_receipt", "unit"): ("unit", "单位"),
    ("warehouse_receipt", "warehouse"): ("warehouse", "仓库"),
    ("warehouse_receipt", "status"): ("the receipt's status", "仓单状态"),
    ("warehouse_receipt", "holder"): ("the holder", "持有人"),
    ("warehouse_receipt", "unencumbered"): ("yes/no: free of pledges", "是否未被质押"),
}
LEARNS = {"en": "It will learn: ", "zh": "对方将得知："}
NEVER = {"en": "It will never learn: ", "zh": "对方绝不会得知："}
LATEST_RECORD = {"en": "your latest record", "zh": "您的最新记录"}


@dataclass(frozen=True)
class Terms:
    """What a request asks for, as the sentence needs it."""

    grantee: str
    domain: str
    purpose: str
    claims: tuple[str, ...]
    record_id: str | None
    max_uses: int
    until: datetime
    bounds: Mapping[str, object]
    values: Mapping[str, object] = field(default_factory=dict)
    """Values of the plain claims it would disclose, from the owner's record (empty: unknown)."""


@dataclass(frozen=True)
class Summary:
    """The sentence and the two short lists under it."""

    sentence: Markup
    learns: str
    """``It will learn: tax year; yes/no.`` (``对方将得知：纳税年度；是或否。``)"""
    never: str
    """``It will never learn: your gross income, ...`` ("" when nothing is left out)."""
    amount: str
    """The bounded amount in the page's language ("" when none)."""


def short_name(domain: DomainSpec, claim: str, lang: Lang) -> str:
    """A claim in two or three words (``tax year`` / ``纳税年度``)."""
    known = _SHORT.get((domain.name, domain.current_claim(claim)))
    if known is not None:
        return known[0] if lang == "en" else known[1]
    return claim.replace("_", " ")


def uses_text(max_uses: int, lang: Lang) -> str:
    """``once`` / ``up to 3 times`` (``一次`` / ``最多 3 次``)."""
    if lang == "zh":
        return "一次" if max_uses == 1 else f"最多 {max_uses} 次"
    return "once" if max_uses == 1 else f"up to {max_uses} times"


def _subject(catalog: Catalog, terms: Terms, lang: Lang, *, specific: bool) -> str:
    pair = _SUBJECTS.get(terms.domain)
    if not specific or pair is None:
        return describe_domain(catalog, terms.domain, lang)
    named, latest = pair
    index = 0 if lang == "en" else 1
    with_value = _SUBJECTS_WITH_VALUE.get(terms.domain)
    if with_value is not None and with_value[0] in terms.values:
        value = terms.values[with_value[0]]
        if terms.record_id:
            return with_value[1][index].format(value=value, record=terms.record_id)
        return with_value[2][index].format(value=value)
    if terms.record_id:
        return named[index].format(record=terms.record_id)
    return latest[index]


def _amount(catalog: Catalog, terms: Terms, lang: Lang) -> str:
    found = bounded_amounts(catalog, terms.domain, terms.purpose, terms.bounds)
    if not found:
        return ""
    _, currency, value = found[0]
    return format_money(value, currency, lang)


def _unique(names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def summarize(catalog: Catalog, terms: Terms, lang: Lang, times: LocalTimes) -> Summary:
    """The plain-language summary of ``terms`` in ``lang``, dates in the owner's zone."""
    spec = catalog.domain(terms.domain)
    purpose = catalog.purpose(terms.domain, terms.purpose)
    asked = {spec.current_claim(c) for c in terms.claims}
    known = _SENTENCES.get((terms.domain, terms.purpose))
    specific = known is not None and bool(asked & set(purpose.predicates))
    index = 0 if lang == "en" else 1
    template = known[index] if known is not None and specific else _GENERIC[index]
    amount = _amount(catalog, terms, lang)
    if lang == "en":
        amount_phrase = f"up to {amount}" if amount else "an amount it chooses"
    else:
        amount_phrase = f"不超过 {amount}" if amount else "其自行选定金额"
    sentence = Markup(template).format(  # noqa: S704 - our own template; .format escapes
        bank=terms.grantee,
        uses=uses_text(terms.max_uses, lang),
        until=times.element(terms.until, day_only=True),
        subject=_subject(catalog, terms, lang, specific=specific),
        amount=amount_phrase,
        purpose=describe_purpose(catalog, terms.domain, terms.purpose, lang),
    )
    disclosure = describe_disclosure(catalog, terms.domain, terms.claims, lang)
    learns = _unique([_learned(spec, c.name, terms.values, lang) for c in disclosure.disclosed])
    hidden = [*disclosure.never, *disclosure.not_requested]
    never = _unique([short_name(spec, c.name, lang) for c in hidden])
    return Summary(
        sentence, _line(LEARNS, learns, lang, "; "), _line(NEVER, never, lang, ", "), amount
    )


def _learned(spec: DomainSpec, claim: str, values: Mapping[str, object], lang: Lang) -> str:
    """``tax year (2025)`` when the owner's record gives the value, else ``tax year``."""
    name = short_name(spec, claim, lang)
    value = values.get(spec.current_claim(claim))
    if value is None:
        return name
    return f"{name}（{value}）" if lang == "zh" else f"{name} ({value})"


def _line(label: Mapping[str, str], names: tuple[str, ...], lang: Lang, sep: str) -> str:
    if not names:
        return ""
    if lang == "zh":
        return label[lang] + ("；" if sep == "; " else "、").join(names) + "。"
    return label[lang] + sep.join(names) + "."
