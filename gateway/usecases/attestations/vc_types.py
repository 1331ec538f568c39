"""SD-JWT VC Type Metadata (draft-ietf-oauth-sd-jwt-vc-19, "SD-JWT VC Type Metadata") for the
catalog's purposes: one type per (domain, purpose).

Each attestation's ``vct`` is an HTTPS URL under the gateway's public URL,
``<public_url>/types/<domain>/<purpose>/v1``, and the public HTTPS face
(``attestgate.gateway.public``) serves the type's metadata document at exactly that URL. The
document's bytes are fixed (canonical JSON: sorted keys, no whitespace, UTF-8), so the token's
``vct#integrity`` (``sha256-`` and the standard base64 of the SHA-256 of those bytes, W3C SRI
syntax) always matches what is served. Tokens issued before the public face carry
``urn:attestgate:<domain>:<purpose>:v1`` (``LEGACY_VCT_PREFIX``) and stay verifiable.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from attestgate.consent.catalog import Catalog, DomainSpec, PurposeSpec
from attestgate.protocol.encoding import JsonValue, canonical_json

LEGACY_VCT_PREFIX = "urn:attestgate:"
"""The ``vct`` prefix of attestations issued before the public face (still accepted)."""
TYPES_PATH = "/types"
"""Where the type metadata documents live under the public URL."""
TYPE_VERSION = "v1"
LOCALES = ("en-US", "zh-CN")

# (domain, purpose) -> (English name, English description, Chinese name, Chinese description)
_TYPES: dict[tuple[str, str], tuple[str, str, str, str]] = {
    ("income", "fx_purchase"): (
        "Income attestation for a foreign exchange purchase",
        "Whether the holder's certified after-tax income of a tax year covers an amount",
        "购汇收入证明",
        "持有人某纳税年度经认证的税后收入是否足以覆盖指定金额",
    ),
    ("business_registration", "counterparty_check"): (
        "Counterparty registration check",
        "A company's registration status as recorded by the market regulator",
        "交易对手登记核查",
        "市场监管部门登记的企业状态",
    ),
    ("patent", "ip_pledge_loan"): (
        "Patent attestation for a pledge loan",
        "A patent's legal status, ownership and pledges, for a loan secured by the patent",
        "专利质押贷款证明",
        "用于专利质押贷款的专利法律状态、权属及质押情况",
    ),
    ("warehouse_receipt", "pledge_financing"): (
        "Warehouse receipt attestation for pledge financing",
        "A registered warehouse receipt and whether it is free of pledges",
        "仓单质押融资证明",
        "已登记仓单的内容及其是否未被质押",
    ),
}

# claim -> (English label, Chinese label); a claim not listed is labelled with its name.
_LABELS: dict[str, tuple[str, str]] = {
    "tax_year": ("Tax year", "纳税年度"),
    "covers_amount": ("After-tax income covers the amount", "税后收入足以覆盖金额"),
    "name": ("Registered company name", "企业登记名称"),
    "status": ("Status", "状态"),
    "registration_status": ("Registration status", "登记状态"),
    "patent_status": ("Patent legal status", "专利法律状态"),
    "closure_end": ("Closure ends", "歇业结束日期"),
    "in_good_standing": ("In good standing today", "今日处于正常经营状态"),
    "patent_no": ("Patent number", "专利号"),
    "title": ("Patent title", "专利名称"),
    "expiry_date": ("Patent expiry date", "专利到期日"),
    "owned_by_subject": ("Owned by the holder's customer", "专利权人为本人"),
    "unencumbered": ("Free of pledges", "未被质押"),
    "receipt_id": ("Warehouse receipt number", "仓单编号"),
    "commodity": ("Commodity", "货物"),
    "quantity": ("Quantity", "数量"),
    "unit": ("Unit", "单位"),
    "warehouse": ("Warehouse", "仓库"),
}


@dataclass(frozen=True)
class TypeDocument:
    """One type's metadata: its ``vct`` URL, the exact bytes served there, their integrity."""

    vct: str
    body: bytes
    integrity: str
    """``sha256-<base64 of SHA-256(body)>``: the token's ``vct#integrity``."""


@dataclass(frozen=True)
class VcTypes:
    """The types an issuer issues under: ``documents`` by ``vct`` (none when the issuer is no
    HTTPS URL, i.e. the public face is off and no ``public_url`` is set)."""

    issuer: str
    documents: Mapping[str, TypeDocument]

    @staticmethod
    def of(catalog: Catalog, issuer: str) -> VcTypes:
        """The catalog's types under ``issuer`` (HTTPS URL types only for an HTTPS issuer)."""
        https = issuer.startswith("https://")
        return VcTypes(issuer, type_documents(catalog, issuer) if https else {})

    def for_purpose(self, domain: str, purpose: str) -> tuple[str, str | None]:
        """``(vct, vct#integrity)`` for a new attestation; without a type document the legacy
        ``urn:attestgate:<domain>:<purpose>:v1`` and no integrity."""
        document = self.documents.get(vct_url(self.issuer, domain, purpose))
        if document is None:
            return f"{LEGACY_VCT_PREFIX}{domain}:{purpose}:{TYPE_VERSION}", None
        return document.vct, document.integrity


def vct_url(public_url: str, domain: str, purpose: str) -> str:
    """The ``vct`` of attestations for ``purpose`` of ``domain`` issued under ``public_url``."""
    return f"{public_url.rstrip('/')}{TYPES_PATH}/{domain}/{purpose}/{TYPE_VERSION}"


def integrity_of(body: bytes) -> str:
    """W3C SRI integrity metadata (``sha256-`` + standard base64) for ``body``."""
    return "sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def type_documents(catalog: Catalog, public_url: str) -> Mapping[str, TypeDocument]:
    """Every purpose's type metadata under ``public_url``, by ``vct``."""
    documents = {}
    for domain in catalog.domains.values():
        for purpose in domain.purposes.values():
            vct = vct_url(public_url, domain.name, purpose.name)
            body = canonical_json(_document(vct, domain, purpose))
            documents[vct] = TypeDocument(vct, body, integrity_of(body))
    return documents


def _document(vct: str, domain: DomainSpec, purpose: PurposeSpec) -> dict[str, JsonValue]:
    en_name, en_description, zh_name, zh_description = _TYPES.get(
        (domain.name, purpose.name),
        (f"{domain.name} {purpose.name}", purpose.description, "", ""),
    )
    display: list[JsonValue] = [{"locale": "en-US", "name": en_name, "description": en_description}]
    if zh_name:
        display.append({"locale": "zh-CN", "name": zh_name, "description": zh_description})
    return {
        "vct": vct,
        "name": en_name,
        "description": f"{purpose.description} ({domain.description}). Issued by attestgate.",
        "display": display,
        "claims": [_claim(name) for name in (*purpose.claims, *purpose.predicates)],
    }


def _claim(name: str) -> dict[str, JsonValue]:
    # Every claim of a purpose is selectively disclosable: the bank asks for a subset of them.
    en_label, zh_label = _LABELS.get(name, (name.replace("_", " "), name))
    return {
        "path": [name],
        "sd": "always",
        "display": [{"locale": "en-US", "label": en_label}, {"locale": "zh-CN", "label": zh_label}],
    }
