"""Issue 17 item 2: the public HTTPS face of a running gateway, fetched over real HTTPS with the
gateway's CA and checked against draft-ietf-oauth-sd-jwt-vc: JWT VC Issuer Metadata at the
well-known location the token's ``iss`` gives (``issuer``, ``jwks``; keys kept after rotation),
Type Metadata at the URL the ``vct`` is, matching ``vct#integrity``; caching (strong ``ETag``,
``Cache-Control``, 304); read-only; configuration (auto, off, insecure, public_url with a path)."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from attestgate.gateway.common.clock import Clock
from attestgate.gateway.ops.config import ConfigError, GatewayConfig
from attestgate.gateway.public.address import public_address
from attestgate.gateway.testing import LocalGateway, start_local_gateway
from attestgate.protocol.encoding import canonical_json
from attestgate.sdk import Attestation, BankClient
from tests.integration import live
from tests.integration.test_cli_first_hour import Served, _serve

Response = tuple[int, dict[str, str], bytes]


@pytest.fixture(scope="module")
def gw() -> Iterator[LocalGateway[Clock]]:
    with start_local_gateway() as gateway:
        yield gateway


def get(gw: LocalGateway[Any], url: str, method: str = "GET", **headers: str) -> Response:
    """One request over HTTPS, trusting only the gateway's CA."""
    context = ssl.create_default_context(cafile=str(gw.ca_file))
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def metadata_url(issuer: str) -> str:
    """The draft's construction: /.well-known/jwt-vc-issuer between host and path."""
    parts = urlsplit(issuer)
    return f"https://{parts.netloc}/.well-known/jwt-vc-issuer{parts.path.rstrip('/')}"


def claims_of(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The issuer JWT's header and payload (unverified: the tests verify separately)."""
    header, payload = token.split("~", 1)[0].split(".")[:2]
    return tuple(
        json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        for part in (header, payload)
    )


def issue_registry_attestation(gw: LocalGateway[Any], bank: BankClient) -> Attestation:
    gw.provider("samr").put_record(
        domain="business_registration",
        subject="example-co",
        record_id="91440300MA5XXXXXX1",
        fields=live.BUSINESS_FIELDS,
    )
    request = bank.request_consent(
        owner="example-co",
        domain="business_registration",
        purpose="counterparty_check",
        claims=["name", "in_good_standing"],
    )
    consent = gw.owner("example-co").approve(request.id)
    return bank.issue(consent.id)


@pytest.fixture(scope="module")
def attestation(gw: LocalGateway[Clock]) -> Attestation:
    return issue_registry_attestation(gw, gw.bank("bank-a"))


def test_issuer_metadata_is_where_the_iss_says_and_holds_the_signing_key(
    gw: LocalGateway[Clock], attestation: Attestation
) -> None:
    header, payload = claims_of(attestation.token)
    assert payload["iss"] == gw.issuer == gw.public_url  # an HTTPS URL, no query, no fragment
    assert urlsplit(payload["iss"]).scheme == "https"
    status, headers, body = get(gw, metadata_url(payload["iss"]))
    assert status == 200
    assert headers["content-type"] == "application/json"
    metadata = json.loads(body)
    assert metadata["issuer"] == payload["iss"]
    assert "jwks_uri" not in metadata  # jwks or jwks_uri, never both
    keys = {key["kid"]: key for key in metadata["jwks"]["keys"]}
    assert header["kid"] in keys
    assert keys[header["kid"]]["kty"] == "EC"
    assert keys[header["kid"]]["crv"] == "P-256"
    assert "d" not in keys[header["kid"]]  # public keys only
    assert gw.bank("bank-b").verify(attestation.token)  # the SDK accepts the new iss


def test_responses_are_cacheable_read_only_and_safe_to_open(
    gw: LocalGateway[Clock], attestation: Attestation
) -> None:
    _, payload = claims_of(attestation.token)
    for url in (metadata_url(gw.issuer), payload["vct"]):
        status, headers, body = get(gw, url)
        assert status == 200
        assert "max-age=" in headers["cache-control"]
        etag = headers["etag"]
        assert etag.startswith('"')
        assert etag.endswith('"')
        assert headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in headers["content-security-policy"]
        assert get(gw, url) == (status, {**headers, "date": get(gw, url)[1]["date"]}, body)
        not_modified = get(gw, url, **{"If-None-Match": etag})
        assert (not_modified[0], not_modified[1]["etag"], not_modified[2]) == (304, etag, b"")
        assert get(gw, url, **{"If-None-Match": f'W/{etag}, "other"'})[0] == 304
        assert get(gw, url, **{"If-None-Match": '"other"'})[0] == 200
        assert get(gw, url, "HEAD")[0] == 200
        for method in ("POST", "PUT", "DELETE"):
            refused = get(gw, url, method)
            assert refused[0] == 405
            assert "GET" in refused[1]["allow"]
    assert get(gw, gw.public_url + "/types/income/fx_purchase/v9")[0] == 404
    assert get(gw, gw.public_url + "/")[0] == 404


def test_type_metadata_is_at_the_vct_url_and_matches_its_integrity(
    gw: LocalGateway[Clock], attestation: Attestation
) -> None:
    _, payload = claims_of(attestation.token)
    vct = payload["vct"]
    assert vct == f"{gw.issuer}/types/business_registration/counterparty_check/v1"
    status, _, body = get(gw, vct)
    assert status == 200
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert payload["vct#integrity"] == f"sha256-{digest}"
    document = json.loads(body)
    assert body == canonical_json(document)  # the fixed bytes the hash is over
    assert document["vct"] == vct
    assert document["name"]
    assert document["description"]
    assert {d["locale"] for d in document["display"]} == {"en-US", "zh-CN"}
    assert all(d["name"] for d in document["display"])
    paths = {tuple(claim["path"]): claim for claim in document["claims"]}
    # every disclosed claim is described, selectively disclosable, labelled in both locales
    for name in attestation.claims:
        claim = paths[(name,)]
        assert claim["sd"] == "always"
        assert {d["locale"] for d in claim["display"]} == {"en-US", "zh-CN"}
        assert all(d["label"] for d in claim["display"])
        assert name not in payload  # disclosed, not in clear
    # a registered claim is never described as selectively disclosable (`status`: item 1 of
    # issue 17 renames the catalog's status fields)
    reserved = {"iss", "nbf", "exp", "cnf", "vct", "vct#integrity"}
    assert not reserved & {path[0] for path in paths}


def test_every_purpose_has_type_metadata(gw: LocalGateway[Clock]) -> None:
    catalog = gw.parts.catalog
    expected = {
        f"{gw.issuer}/types/{domain.name}/{purpose}/v1"
        for domain in catalog.domains.values()
        for purpose in domain.purposes
    }
    assert len(expected) == 4
    for vct in expected:
        status, _, body = get(gw, vct)
        assert status == 200
        document = json.loads(body)
        assert document["vct"] == vct
        assert document["claims"]
        assert {d["locale"] for d in document["display"]} == {"en-US", "zh-CN"}


def test_keys_stay_published_after_rotation(
    gw: LocalGateway[Clock], attestation: Attestation
) -> None:
    header, _ = claims_of(attestation.token)
    before = get(gw, metadata_url(gw.issuer))
    new_kid = gw.keyring.rotate_signing_key(gw.parts.clock.now())
    after = get(gw, metadata_url(gw.issuer))
    kids = {key["kid"] for key in json.loads(after[2])["jwks"]["keys"]}
    assert {header["kid"], new_kid} <= kids
    assert after[1]["etag"] != before[1]["etag"]
    assert get(gw, metadata_url(gw.issuer), **{"If-None-Match": before[1]["etag"]})[0] == 200
    bank = gw.bank("bank-c")
    assert bank.verify(attestation.token)  # signed by the retired key
    fresh = issue_registry_attestation(gw, bank)
    assert claims_of(fresh.token)[0]["kid"] == new_kid
    assert bank.verify(fresh.token)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_issuer_url_with_a_path(tmp_path: Path) -> None:
    port = _free_port()
    issuer = f"https://127.0.0.1:{port}/tenant/1"
    with start_local_gateway(
        tmp_path / "gw", public=f"127.0.0.1:{port}", public_url=issuer + "/"
    ) as gw:
        assert gw.issuer == issuer  # the trailing / dropped
        attestation = issue_registry_attestation(gw, gw.bank("bank-a"))
        _, payload = claims_of(attestation.token)
        assert payload["iss"] == issuer
        status, _, body = get(gw, f"https://127.0.0.1:{port}/.well-known/jwt-vc-issuer/tenant/1")
        assert status == 200
        assert json.loads(body)["issuer"] == issuer
        assert get(gw, f"https://127.0.0.1:{port}/.well-known/jwt-vc-issuer")[0] == 404
        assert payload["vct"].startswith(issuer + "/types/")
        assert get(gw, payload["vct"])[0] == 200


def config(**changes: Any) -> GatewayConfig:
    return GatewayConfig(**{"listen": "127.0.0.1:50051", **changes})


def test_the_public_address_follows_tls_and_the_grpc_port(
    caplog: pytest.LogCaptureFixture,
) -> None:
    auto = public_address(config())
    assert caplog.records == []
    assert auto is not None
    assert (auto.host, auto.port, auto.issuer) == ("127.0.0.1", 50052, "https://127.0.0.1:50052")
    wildcard = public_address(config(listen="0.0.0.0:50051"))
    assert wildcard is not None
    assert wildcard.issuer == "https://localhost:50052"
    # reachable from elsewhere, named after localhost: the operator is told to set public_url
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "set public_url" in caplog.records[0].getMessage()
    assert public_address(config(public="off")) is None
    assert public_address(config(insecure=True)) is None  # auto: off without TLS
    named = public_address(config(public="127.0.0.1:8443", public_url="https://attest.example"))
    assert named is not None
    assert (named.port, named.issuer) == (8443, "https://attest.example")
    with pytest.raises(ConfigError, match="HTTPS only"):
        public_address(config(insecure=True, public="127.0.0.1:8443"))
    for bad in ("http://attest.example", "https://attest.example/?q=1", "https://#x", "attest"):
        with pytest.raises(ConfigError, match="public_url"):
            public_address(config(public_url=bad))
    with pytest.raises(ConfigError, match="--public"):
        public_address(config(public="nonsense"))


def test_off_keeps_the_gateway_id_as_issuer(tmp_path: Path) -> None:
    with start_local_gateway(tmp_path / "gw", public="off") as gw:
        assert gw.gateway.public is None
        assert gw.issuer == "attestgate"
        bank = gw.bank("bank-a")
        attestation = issue_registry_attestation(gw, bank)
        _, payload = claims_of(attestation.token)
        assert payload["iss"] == "attestgate"
        assert payload["vct"] == "urn:attestgate:business_registration:counterparty_check:v1"
        assert "vct#integrity" not in payload
        token = attestation.token
    # The same data dir with the public face on: the old token still verifies and redeems.
    with start_local_gateway(tmp_path / "gw") as gw:
        assert gw.issuer.startswith("https://")
        bank = gw.bank("bank-a", holder_key=bank.holder_key)
        assert bank.verify(token)
        assert bank.redeem(token, transaction_ref="tx-1").jti == attestation.jti


@pytest.fixture
def serve() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for served in started:
        served.child.kill()


def test_serve_flags(tmp_path: Path, serve: list[Served]) -> None:
    named = _serve(
        serve,
        tmp_path / "d",
        "--public",
        "127.0.0.1:0",
        "--public-url",
        "https://attest.example.test",
    )
    (line,) = [line for line in named.lines if line.startswith("issuer ")]
    issuer, _, url = line.removeprefix("issuer ").partition(": metadata at ")
    assert issuer == "https://attest.example.test"
    context = ssl.create_default_context(cafile=str(tmp_path / "d" / "tls" / "ca.pem"))
    assert url.endswith("/.well-known/jwt-vc-issuer")
    with urllib.request.urlopen(url, context=context) as response:
        assert json.loads(response.read())["issuer"] == issuer
    named.stop()
    off = _serve(serve, tmp_path / "e", "--public", "off")
    assert not [line for line in off.lines if line.startswith("issuer ")]
