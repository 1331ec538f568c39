"""Plain-language descriptions of what a consent would disclose, built from the catalog.

DESIGN.md "Minimum sufficiency": a request names claims (fields and predicates); an owner must see
exactly which facts leave and which never do. Predicates are yes/no answers and say what they do
*not* reveal ("whether your after-tax income covers the amount; not your income"). Names the
table below does not know fall back to a generic sentence built from the catalog entry, so a new
catalog domain still renders truthfully.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from attestgate.consent.bounds import is_maximum, purpose_params
from attestgate.consent.catalog import Catalog, DomainSpec
from attestgate.consent.currencies import MINOR_UNITS
from attestgate.consent.predicates import ParamType
from attestgate.gateway.portal.i18n import Lang
from attestgate.gateway.portal.localfmt import format_money

# (domain, claim) -> (English, Chinese)
_CLAIMS: dict[tuple[str, str], tuple[str, str]] = {
    ("income", "tax_year"): ("the tax year of your income record", "收入记录的纳税年度"),
    ("income", "covers_amount"): (
        "whether your after-tax income of that year covers the amount the bank names "
        "(yes or no; not your income)",
        "该年度税后收入是否足以覆盖银行提出的金额（只回答是或否，不透露您的收入）",
    ),
    ("income", "gross_income"): ("your gross income", "您的税前收入"),
    ("income", "after_tax_income"): ("your after-tax income", "您的税后收入"),
    ("income", "tax_paid"): ("the tax you paid", "您缴纳的税款"),
    ("income", "employer_name"): ("your employer's name", "您的雇主名称"),
    ("income", "taxpayer_id"): ("your taxpayer id", "您的纳税人识别号"),
    ("business_registration", "uscc"): ("the unified social credit code", "统一社会信用代码"),
    ("business_registration", "name"): ("the registered company name", "企业登记名称"),
    ("business_registration", "registration_status"): (
        "the registration status (active, closure or deregistered)",
        "登记状态（存续、歇业或注销）",
    ),
    ("business_registration", "closure_start"): ("when a closure began", "歇业开始日期"),
    ("business_registration", "closure_end"): ("when a closure ends", "歇业结束日期"),
    ("business_registration", "legal_rep_id"): (
        "the legal representative's personal id",
        "法定代表人的身份证件号码",
    ),
    ("business_registration", "in_good_standing"): (
        "whether the company is in good standing today (yes or no)",
        "企业今天是否处于正常经营状态（只回答是或否）",
    ),
    ("patent", "patent_no"): ("the patent number", "专利号"),
    ("patent", "title"): ("the patent's title", "专利名称"),
    ("patent", "patent_status"): ("the patent's legal status", "专利法律状态"),
    ("patent", "owner"): ("the registered patent owner", "登记的专利权人"),
    ("patent", "expiry_date"): ("when the patent expires", "专利到期日"),
    ("patent", "owned_by_subject"): (
        "whether you own the patent (yes or no; not the owner record)",
        "您是否为专利权人（只回答是或否）",
    ),
    ("patent", "unencumbered"): (
        "whether the patent is free of pledges (yes or no)",
        "专利是否未被质押（只回答是或否）",
    ),
    ("warehouse_receipt", "receipt_id"): ("the warehouse receipt number", "仓单编号"),
    ("warehouse_receipt", "commodity"): ("the stored commodity", "存储的货物"),
    ("warehouse_receipt", "quantity"): ("the quantity stored", "存储数量"),
    ("warehouse_receipt", "unit"): ("the unit of quantity", "数量单位"),
    ("warehouse_receipt", "warehouse"): ("the warehouse", "仓库"),
    ("warehouse_receipt", "status"): ("the receipt's status", "仓单状态"),
    ("warehouse_receipt", "holder"): ("the receipt's holder", "仓单持有人"),
    ("warehouse_receipt", "unencumbered"): (
        "whether the receipt is free of pledges (yes or no)",
        "仓单是否未被质押（只回答是或否）",
    ),
}

_PURPOSES: dict[tuple[str, str], str] = {
    ("income", "fx_purchase"): "使用合法税后收入购汇",
    ("business_registration", "counterparty_check"): "核查交易对手的登记状态",
    ("patent", "ip_pledge_loan"): "以专利质押申请贷款",
    ("warehouse_receipt", "pledge_financing"): "以仓单质押融资",
}
_DOMAINS: dict[str, str] = {
    "income": "税务部门核定的年度个人收入",
    "business_registration": "市场监管部门的企业登记状态",
    "patent": "知识产权局登记的专利",
    "warehouse_receipt": "持牌仓库登记的仓单",
}


@dataclass(frozen=True)
class ClaimText:
    """One claim with its plain-language description."""

    name: str
    text: str


@dataclass(frozen=True)
class Disclosure:
    """What a request would disclose, what it never can, and what it leaves out."""

    disclosed: tuple[ClaimText, ...]
    never: tuple[ClaimText, ...]
    not_requested: tuple[ClaimText, ...]


def describe_claim(domain: DomainSpec, name: str, lang: Lang) -> str:
    """One claim in plain language (a former claim name, as stored in older consents, is
    described as the claim it became)."""
    known = _CLAIMS.get((domain.name, domain.current_claim(name)))
    if known is not None:
        return known[0] if lang == "en" else known[1]
    readable = name.replace("_", " ")
    if name in domain.predicates:
        return (
            f"whether '{readable}' holds (yes or no)" if lang == "en" else f"“{readable}”是否成立"
        )
    return f"your {readable}" if lang == "en" else f"您的 {readable}"


def describe_purpose(catalog: Catalog, domain: str, purpose: str, lang: Lang) -> str:
    """The purpose's description (the catalog's English text, or its Chinese translation)."""
    spec = catalog.purpose(domain, purpose)
    if lang == "zh":
        return _PURPOSES.get((domain, purpose), spec.description)
    return spec.description


def describe_domain(catalog: Catalog, domain: str, lang: Lang) -> str:
    """Which data the domain is."""
    spec = catalog.domain(domain)
    return _DOMAINS.get(domain, spec.description) if lang == "zh" else spec.description


def describe_disclosure(
    catalog: Catalog, domain: str, claims: tuple[str, ...], lang: Lang
) -> Disclosure:
    """Split the domain's claims into disclosed (requested), never shared and not requested."""
    spec = catalog.domain(domain)

    def texts(names: list[str]) -> tuple[ClaimText, ...]:
        return tuple(ClaimText(n, describe_claim(spec, n, lang)) for n in names)

    names = [spec.claim_name(field) for field in spec.fields]
    current = {spec.current_claim(claim) for claim in claims}
    never = [n for n in names if spec.never_disclosed(n)]
    rest = [n for n in names if n not in current and n not in never]
    return Disclosure(texts(list(claims)), texts(never), texts(rest))


BOUNDS_LABEL = {"en": "Limits you approve", "zh": "您批准的限额"}
"""The heading of a request's or consent's parameter bounds (consent.bounds)."""


def describe_bounds(
    catalog: Catalog,
    domain: str,
    purpose: str,
    bounds: Mapping[str, object],
    lang: Lang,
) -> tuple[str, ...]:
    """Each bound in plain language: ``amount at most 50,000.00 USD`` / ``金额不超过 50,000.00
    美元`` (an amount's currency is shown with it, in the page's language, not on a line of its
    own)."""
    specs = purpose_params(catalog, domain, purpose)
    currency = bounds.get("currency")
    lines: list[str] = []
    for name, value in bounds.items():
        spec = specs.get(name)
        shown = str(value)
        amount = spec is not None and spec.type is ParamType.AMOUNT
        if amount and isinstance(value, int) and isinstance(currency, str):
            shown = format_money(value, currency, lang)
        if spec is not None and is_maximum(spec):
            label = _PARAM_NAMES.get(name, (name, name))
            lines.append(
                f"{label[0]} at most {shown}" if lang == "en" else f"{label[1]}不超过 {shown}"
            )
        elif name == "currency" and any(
            s.type is ParamType.AMOUNT and key in bounds for key, s in specs.items()
        ):
            continue  # shown with the amount
        else:
            label = _PARAM_NAMES.get(name, (name, name))
            lines.append(f"{label[0]}: {shown}" if lang == "en" else f"{label[1]}：{shown}")
    return tuple(lines)


# parameter -> (English, Chinese)
_PARAM_NAMES: dict[str, tuple[str, str]] = {
    "amount": ("amount", "金额"),
    "currency": ("currency", "币种"),
}


NARROW_LABEL = {"en": "You may lower the maximum", "zh": "您可以调低上限"}
"""The label of the approve form's maximum-amount inputs."""


def major_units(minor: int, currency: str) -> str:
    """``5000000`` USD -> ``50000.00`` (an input's value, without grouping)."""
    exponent = MINOR_UNITS.get(currency, 0)
    if not exponent:
        return str(minor)
    sign, whole = ("-" if minor < 0 else ""), abs(minor)
    major, fraction = divmod(whole, 10**exponent)
    return f"{sign}{major}.{fraction:0{exponent}d}"


def parse_major_units(text: str, currency: str) -> int | None:
    """``20000.00`` USD -> ``2000000``; None when it is not a non-negative amount with at most the
    currency's decimal places."""
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        return None
    scaled = amount.scaleb(MINOR_UNITS.get(currency, 0))
    if not amount.is_finite() or amount < 0 or scaled != scaled.to_integral_value():
        return None
    return int(scaled)


def bounded_amounts(
    catalog: Catalog, domain: str, purpose: str, bounds: Mapping[str, object]
) -> tuple[tuple[str, str, int], ...]:
    """``(param, currency, maximum in minor units)`` for each bounded amount with a currency."""
    specs = purpose_params(catalog, domain, purpose)
    currency = bounds.get("currency")
    if not isinstance(currency, str):
        return ()
    return tuple(
        (name, currency, value)
        for name, value in bounds.items()
        if isinstance(value, int) and name in specs and specs[name].type is ParamType.AMOUNT
    )


def amount_inputs(
    catalog: Catalog, domain: str, purpose: str, bounds: Mapping[str, object]
) -> tuple[tuple[str, str, str], ...]:
    """``(param, currency, maximum in major units)`` for each bounded amount with a currency: the
    approve form lets the owner lower it."""
    return tuple(
        (name, currency, major_units(value, currency))
        for name, currency, value in bounded_amounts(catalog, domain, purpose, bounds)
    )
