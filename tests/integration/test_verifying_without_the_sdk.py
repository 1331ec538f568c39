"""Issue 17: a verifier that knows only the issuer URL (and, for the dev certificate, the CA)
verifies a presentation with libraries that are not ours (the OpenWallet Foundation's ``sd-jwt``,
``jwcrypto``, ``urllib``): the Python block of docs/verifying-without-the-sdk.md, run as written
against a running gateway's public HTTPS face."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from attestgate.gateway.common.clock import Clock
from attestgate.gateway.testing import LocalGateway, start_local_gateway
from attestgate.sdk import Attestation
from attestgate.sdk.sdjwt import create_presentation
from tests.integration.test_public_face import issue_registry_attestation

PAGE = Path(__file__).resolve().parents[2] / "docs" / "verifying-without-the-sdk.md"
AUDIENCE = "https://bank-b.example"

Verify = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def verify_attestation() -> Verify:
    text = PAGE.read_text(encoding="utf-8")
    (block,) = [part.split("```", 1)[0] for part in text.split("```python\n")[1:]]
    namespace: dict[str, Any] = {}
    exec(compile(block, f"{PAGE.name} block", "exec"), namespace)
    return namespace["verify_attestation"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def gw() -> Iterator[LocalGateway[Clock]]:
    with start_local_gateway() as gateway:
        yield gateway


@pytest.fixture(scope="module")
def attestation(gw: LocalGateway[Clock]) -> tuple[Attestation, Any]:
    bank = gw.bank("bank-a")
    return issue_registry_attestation(gw, bank), bank.holder_key


def present(attestation: tuple[Attestation, Any], nonce: str, **kwargs: Any) -> str:
    token, holder_key = attestation[0].token, attestation[1]
    return create_presentation(
        token,
        holder_key=holder_key,
        audience=AUDIENCE,
        nonce=nonce,
        now=datetime.now(UTC),
        **kwargs,
    )


def test_a_presentation_verifies_knowing_only_the_issuer_url(
    gw: LocalGateway[Clock], attestation: tuple[Attestation, Any], verify_attestation: Verify
) -> None:
    nonce = secrets.token_urlsafe(16)
    claims = verify_attestation(
        present(attestation, nonce),
        issuer=gw.issuer,
        audience=AUDIENCE,
        nonce=nonce,
        cafile=str(gw.ca_file),
    )
    assert claims["iss"] == gw.issuer
    assert {name: claims[name] for name in attestation[0].claims} == attestation[0].claims
    narrowed = verify_attestation(
        present(attestation, nonce, disclose=["in_good_standing"]),
        issuer=gw.issuer,
        audience=AUDIENCE,
        nonce=nonce,
        cafile=str(gw.ca_file),
    )
    assert "in_good_standing" in narrowed
    assert "name" not in narrowed


def test_the_verifier_refuses_what_it_must(
    gw: LocalGateway[Clock], attestation: tuple[Attestation, Any], verify_attestation: Verify
) -> None:
    nonce = secrets.token_urlsafe(16)
    presentation = present(attestation, nonce)
    good = {"issuer": gw.issuer, "audience": AUDIENCE, "nonce": nonce, "cafile": str(gw.ca_file)}
    bad_cases: list[tuple[str, dict[str, Any]]] = [
        (presentation, {**good, "issuer": "https://attest.example.cn"}),  # another issuer
        (presentation, {**good, "nonce": "another"}),  # replayed for another nonce
        (presentation, {**good, "audience": "https://bank-c.example"}),  # meant for another
        (presentation, {**good, "cafile": None}),  # the dev certificate is not publicly trusted
    ]
    jwt, first, *rest = presentation.split("~")
    forged = "~".join([jwt, first[:-2] + ("AA" if first[-2:] != "AA" else "BB"), *rest])
    bad_cases.append((forged, good))  # a tampered disclosure
    for text, arguments in bad_cases:
        with pytest.raises(Exception):  # noqa: B017 - each library raises its own
            verify_attestation(text, **arguments)
