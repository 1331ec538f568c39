"""SD-JWT VC Type Metadata from the catalog (gateway.usecases.attestations.vc_types): fixed bytes
whose SRI hash is the tokens' vct#integrity, both locales for every type and claim, the legacy
urn types when the issuer is no HTTPS URL."""

from __future__ import annotations

import base64
import hashlib
import json

from attestgate.consent.catalog import Catalog
from attestgate.gateway.usecases.attestations.vc_types import VcTypes, integrity_of, vct_url
from attestgate.protocol.encoding import canonical_json

ISSUER = "https://attest.example.cn/tenant"


def test_documents_are_fixed_bytes_with_their_integrity() -> None:
    catalog = Catalog.load_default()
    first, second = VcTypes.of(catalog, ISSUER), VcTypes.of(catalog, ISSUER + "/")
    assert first.documents.keys() == {
        vct_url(ISSUER, domain.name, purpose)
        for domain in catalog.domains.values()
        for purpose in domain.purposes
    }
    for vct, document in first.documents.items():
        assert document.body == second.documents[vct].body  # same bytes every time
        assert document.body == canonical_json(json.loads(document.body))
        digest = base64.b64encode(hashlib.sha256(document.body).digest()).decode()
        assert document.integrity == integrity_of(document.body) == f"sha256-{digest}"
    assert integrity_of(b"") == "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def test_every_type_and_claim_speaks_english_and_chinese() -> None:
    catalog = Catalog.load_default()
    for vct, document in VcTypes.of(catalog, ISSUER).documents.items():
        metadata = json.loads(document.body)
        assert metadata["vct"] == vct
        names = {d["locale"]: d["name"] for d in metadata["display"]}
        assert set(names) == {"en-US", "zh-CN"}
        assert not names["zh-CN"].isascii()  # a translation, not a fallback
        domain, purpose = vct.split("/")[-3:-1]
        spec = catalog.domains[domain].purposes[purpose]
        assert [claim["path"] for claim in metadata["claims"]] == [
            [name] for name in (*spec.claims, *spec.predicates)
        ]
        for claim in metadata["claims"]:
            labels = {d["locale"]: d["label"] for d in claim["display"]}
            assert set(labels) == {"en-US", "zh-CN"}
            assert not labels["zh-CN"].isascii(), claim["path"]
            assert claim["sd"] == "always"


def test_for_purpose_gives_the_url_type_or_the_legacy_urn() -> None:
    catalog = Catalog.load_default()
    vct, integrity = VcTypes.of(catalog, ISSUER).for_purpose("income", "fx_purchase")
    assert vct == f"{ISSUER}/types/income/fx_purchase/v1"
    assert integrity is not None
    assert integrity.startswith("sha256-")
    legacy = VcTypes.of(catalog, "attestgate")
    assert legacy.documents == {}
    assert legacy.for_purpose("income", "fx_purchase") == (
        "urn:attestgate:income:fx_purchase:v1",
        None,
    )
