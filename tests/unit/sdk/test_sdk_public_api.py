"""The SDK's public surface changes only on purpose (httpx style): ``__all__`` is pinned, every
name resolves, no generated protobuf type leaks into a public signature, results are frozen."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
import typing
from datetime import date, timedelta
from pathlib import Path

import pytest

import attestgate
import attestgate.errors
from attestgate import sdk
from attestgate.sdk import errors as sdk_errors
from attestgate.sdk import types
from attestgate.sdk._internal import convert, inputs

REPO = Path(__file__).resolve().parents[3]

PUBLIC_API = [
    "ActivityEntry",
    "AssetEvent",
    "AsyncBankClient",
    "AsyncOwnerClient",
    "AsyncProviderClient",
    "AsyncRegulatorClient",
    "Attestation",
    "AttestationState",
    "AttestgateError",
    "BankClient",
    "Checkpoint",
    "Consent",
    "ConsentEvent",
    "ConsentId",
    "ConsentReceipt",
    "ConsentRequest",
    "ConsentRequestId",
    "ConsentRequestState",
    "ConsentState",
    "ConsistencyProof",
    "ErasureReceipt",
    "FxRatesReceipt",
    "HolderKey",
    "HolderKeySigner",
    "InclusionProof",
    "Jti",
    "LogEntry",
    "LogMonitor",
    "LogVerificationError",
    "OwnerClient",
    "ProviderClient",
    "RecordReceipt",
    "Redemption",
    "RegulatorClient",
    "Release",
    "SplitViewError",
    "TlsConfig",
    "Withheld",
    "WitnessPolicy",
    "WitnessPolicyError",
    "export_receipt",
    "verify_consent_receipt",
    "verify_receipt",
]

CLIENT_METHODS = {
    "OwnerClient": {
        "approve", "reject", "pause", "resume", "revoke", "list_consents", "pending_requests",
        "activity", "get_consent",
    },
    "ProviderClient": {"put_record", "put_fx_rates", "erase_subject"},
    "BankClient": {
        "request_consent", "get_consent", "list_consents", "watch_consent_events", "issue",
        "verify", "redeem", "get_attestation", "issuer_keys",
    },
    "RegulatorClient": {
        "checkpoint", "entries", "inclusion_proof", "consistency_proof", "verify_inclusion",
        "verify_consistency", "watch_checkpoints", "open_checkpoint",
    },
}  # fmt: skip


def test_all_is_pinned() -> None:
    assert sorted(sdk.__all__) == PUBLIC_API
    assert sdk.__all__ == sorted(sdk.__all__)


@pytest.mark.parametrize("name", PUBLIC_API)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(sdk, name) is not None
    assert name in dir(sdk)


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError):
        _ = sdk.NoSuchThing
    with pytest.raises(AttributeError):
        _ = attestgate.NoSuchThing


def test_the_top_level_re_exports_the_sdk_and_its_errors() -> None:
    """``from attestgate import BankClient, ..., errors``: the objects of ``attestgate.sdk``."""
    assert attestgate.__all__ == sorted([*PUBLIC_API, "errors"])
    for name in PUBLIC_API:
        assert getattr(attestgate, name) is getattr(sdk, name), name
        assert name in dir(attestgate)
    assert attestgate.errors.__all__ == sdk_errors.__all__
    for name in sdk_errors.__all__:
        assert getattr(attestgate.errors, name) is getattr(sdk_errors, name), name


@pytest.mark.parametrize("client", sorted(CLIENT_METHODS))
def test_client_methods_and_keyword_only_constructor(client: str) -> None:
    cls = getattr(sdk, client)
    public = {n for n, _ in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")}
    assert CLIENT_METHODS[client] <= public
    parameters = list(inspect.signature(cls.__init__).parameters.values())
    assert [p.name for p in parameters[:2]] == ["self", "target"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters[2:])
    assert "token" in {p.name for p in parameters}
    # target may be left out when the caller passes an open channel (an in-process gateway)
    assert parameters[1].default is None
    assert inspect.signature(cls.__init__).parameters["channel"].default is None


SYNC_ASYNC = ["BankClient", "OwnerClient", "ProviderClient", "RegulatorClient"]
NO_IO = {"open_checkpoint"}  # offline methods stay plain methods on the async clients


def _public_members(cls: type) -> dict[str, object]:
    found: dict[str, object] = {}
    for klass in reversed(cls.__mro__[:-1]):  # base classes first, overridden by subclasses
        found.update({n: m for n, m in vars(klass).items() if not n.startswith("_")})
    return found


def _parameters(
    function: object, *, skip: frozenset[str] = frozenset()
) -> list[tuple[object, ...]]:
    signature = inspect.signature(function)  # type: ignore[arg-type]
    return [
        (p.name, p.kind, p.default, p.annotation)
        for p in signature.parameters.values()
        if p.name not in skip
    ]


@pytest.mark.parametrize("name", SYNC_ASYNC)
def test_async_client_has_the_sync_surface(name: str) -> None:
    sync_cls, async_cls = getattr(sdk, name), getattr(sdk, "Async" + name)
    sync_members, async_members = _public_members(sync_cls), _public_members(async_cls)
    assert set(sync_members) == set(async_members)
    for member, sync_member in sync_members.items():
        async_member = async_members[member]
        if isinstance(sync_member, property):
            assert isinstance(async_member, property), member
            continue
        assert _parameters(sync_member) == _parameters(async_member), member
        is_async = inspect.iscoroutinefunction(async_member) or inspect.isasyncgenfunction(
            async_member
        )
        assert is_async is (member not in NO_IO), member
    # The same constructor; only the channel type differs: grpc.aio.Channel for the async twin.
    channel = frozenset({"channel"})
    assert _parameters(sync_cls.__init__, skip=channel) == _parameters(
        async_cls.__init__, skip=channel
    )
    sync_init, async_init = (
        inspect.signature(c.__init__).parameters for c in (sync_cls, async_cls)
    )
    assert sync_init["channel"].annotation == "grpc.Channel | None"
    assert async_init["channel"].annotation == "grpc.aio.Channel | None"
    assert "retry" in inspect.signature(sync_cls.__init__).parameters


def _annotation_texts() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for name in PUBLIC_API:
        value = getattr(sdk, name)
        members = [value]
        if inspect.isclass(value):
            members += [
                m for n, m in vars(value).items() if not n.startswith("_") or n == "__init__"
            ]
        for member in members:
            target = member.fget if isinstance(member, property) else member
            if callable(target):
                try:
                    hints = typing.get_type_hints(target)
                except TypeError:
                    continue
                found.extend(
                    (f"{name}.{getattr(target, '__name__', '?')}", str(h)) for h in hints.values()
                )
    return found


def test_no_generated_type_in_a_public_signature() -> None:
    texts = _annotation_texts()
    assert len(texts) > 50  # the walk really saw the clients' signatures
    leaks = [(where, text) for where, text in texts if "_pb2" in text or "attestgate.v1" in text]
    assert leaks == []


@pytest.mark.parametrize(
    "cls", [getattr(types, n) for n in types.__all__ if dataclasses.is_dataclass(getattr(types, n))]
)
def test_results_are_frozen_dataclasses(cls: type) -> None:
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen


def test_importing_reasons_does_not_import_grpc() -> None:
    # consent/ and audit/ import the reasons and the Merkle and note helpers and must stay free of
    # grpc (docs/architecture.md), and so must the package root they all sit under.
    code = (
        "import sys, attestgate, attestgate.sdk.reasons, attestgate.protocol.merkle, "
        "attestgate.consent.policy, attestgate.audit.tree; print('grpc' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=REPO,
    )
    assert out.stdout.strip() == "False"


def test_resource_names_accept_bare_ids_and_names() -> None:
    assert convert.resource_name("consents", "cs_1") == "consents/cs_1"
    assert convert.resource_name("consents", "consents/cs_1") == "consents/cs_1"
    for bad in ("", "consents/", "consents/a/b", "other/x/y"):
        with pytest.raises(ValueError):
            convert.resource_name("consents", bad)


def test_values_round_trip_and_refuse_floats() -> None:
    for value in ("USD", 5_000_000, True, date(2027, 6, 1)):
        assert convert.from_value(inputs.params({"v": value})["v"]) == value
    assert inputs.params({"v": True})["v"].WhichOneof("kind") == "bool_value"
    with pytest.raises(sdk_errors.InvalidInput, match="must be an integer"):
        inputs.params({"value": 1.5})
    with pytest.raises(ValueError):
        convert.duration(timedelta(seconds=-1))
