"""Path traversal through names that end up near the file system: provider ids (which name
``<data_dir>/providers/<id>.pem``), the token subject and ``kid`` of an upload, record ids, paths
with ``..`` in a config file, and a key file replaced by a symlink."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.common.keys import KeyFileError, KeyRing
from attestgate.gateway.ops.cli import main
from attestgate.gateway.ops.config import load_config
from attestgate.protocol.reasons import Reason
from attestgate.sdk import ProviderClient, errors
from tests.integration import live
from tests.security.world import World

TRAVERSALS = ["../../x", "../x", "..", "x/../../y", "/etc/x", ".x", "X", "x\x00y", "..\\x"]


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize("provider_id", TRAVERSALS)
def test_provider_ids_cannot_name_a_path(
    tmp_path: Path, provider_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "a" / "b" / "data"
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    before = sorted(tmp_path.rglob("*"))
    assert main(["providers", "add", "--data-dir", str(data_dir), provider_id, str(key_file)]) == 2
    assert "provider id must match" in capsys.readouterr().err
    created = sorted(set(tmp_path.rglob("*")) - set(before))
    assert not [p for p in created if p.suffix == ".pem"], created


def test_an_upload_cannot_borrow_a_key_file_outside_the_registry(world: World) -> None:
    """The attacker plants its public key where a traversing id would find it, then uploads as
    provider ``../planted`` (token subject and JWS ``kid``)."""
    attacker = ec.generate_private_key(ec.SECP256R1())
    data_dir = world.gw.config.data_dir
    (data_dir / "planted.pem").write_bytes(_pem(attacker))
    (data_dir / "providers" / "sub").mkdir()
    (data_dir / "providers" / "sub" / "x.pem").write_bytes(_pem(attacker))
    before = world.snapshot()
    for provider_id in ("../planted", "sub/x", "../keys/note"):
        client = ProviderClient(
            world.gw.target,
            token=world.gw.token("provider", provider_id),
            signing_key=attacker,
            tls=world.gw.tls,
            clock=world.gw.clock.now,
            provider_id=provider_id,
        )
        try:
            with pytest.raises(errors.PermissionDenied) as caught:
                client.put_record(
                    domain="income", subject="alice", record_id="inc-evil",
                    fields=live.INCOME_FIELDS,
                )  # fmt: skip
        finally:
            client.close()
        assert caught.value.reason == Reason.UNKNOWN_PROVIDER, provider_id
    assert world.snapshot() == before


@pytest.mark.parametrize("record_id", ["../../etc/passwd", "a/b", "..\\..\\x\x00"])
def test_record_ids_with_separators_are_refused(world: World, record_id: str) -> None:
    provider = world.gw.provider("tax-bureau")
    before = world.snapshot()
    with pytest.raises(errors.InvalidArgument):
        provider.put_record(
            domain="income", subject="alice", record_id=record_id, fields=live.INCOME_FIELDS
        )
    assert world.snapshot() == before


def test_config_paths_with_dots_resolve_against_the_file_and_stay_put(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir = tmp_path / "etc" / "attestgate"
    conf_dir.mkdir(parents=True)
    (conf_dir / "config.toml").write_text(
        'data_dir = "../../var/./lib/../lib/attestgate"\n'
        'tls_cert = "../certs/../certs/server.pem"\ntls_key = "../certs/server.key"\n'
        '[[issuers]]\nissuer = "idp"\njwks_file = "../../idp/../idp/jwks.json"\n'
    )
    config = load_config(conf_dir / "config.toml")
    assert config.data_dir == tmp_path / "var" / "lib" / "attestgate"
    assert config.tls_cert == tmp_path / "etc" / "certs" / "server.pem"
    assert config.issuers[0].jwks_file == tmp_path / "idp" / "jwks.json"
    assert ".." not in config.data_dir.parts
    monkeypatch.chdir(tmp_path / "etc")  # a later chdir cannot redirect them
    assert config.data_dir.is_absolute()
    assert config.db == str(tmp_path / "var" / "lib" / "attestgate" / "attestgate.db")


def test_a_symlinked_key_file_is_held_to_its_target(tmp_path: Path, clock: FixedClock) -> None:
    """A symlink to a private file is fine (secret mounts are symlinks); a symlink whose target
    others can read is refused like that file would be."""
    data_dir = tmp_path / "data"
    KeyRing.open_or_create(data_dir, clock=clock, gateway_id="attestgate")
    note = data_dir / "keys" / "note.pem"
    elsewhere = tmp_path / "mounted" / "note.pem"
    elsewhere.parent.mkdir()
    shutil.move(note, elsewhere)
    os.symlink(elsewhere, note)
    reopened = KeyRing.open_or_create(data_dir, clock=clock, gateway_id="attestgate")
    assert reopened.note_signer_key is not None
    elsewhere.chmod(0o644)
    with pytest.raises(KeyFileError, match="accessible by group/others"):
        KeyRing.open_or_create(
            data_dir, clock=clock, gateway_id="attestgate", overlap=timedelta(minutes=1)
        )
