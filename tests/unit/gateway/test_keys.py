"""The key ring: permissions, persistence, thumbprints, rotation with overlap."""

from __future__ import annotations

import json
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwcrypto import jwk as jwcrypto_jwk

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.common.keys import (
    DEV_ISSUER_JWKS_FILE,
    KeyFileError,
    KeyRing,
    jwk_thumbprint,
    public_jwk,
    read_private,
    write_private,
)

# RFC 8037 Appendix A.3: the thumbprint of the Ed25519 public key of Appendix A.2.
RFC8037_JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_layout_and_permissions(keyring: KeyRing, data_dir: Path) -> None:
    keys_dir = data_dir / "keys"
    assert mode(data_dir) == 0o700
    assert mode(keys_dir) == 0o700
    files = sorted(p.name for p in keys_dir.iterdir())
    assert {"attestation.json", "dev-issuer.pem", "kek.json", "note.pem", "pseudonym.key"} <= set(
        files
    )
    assert all(mode(keys_dir / name) == 0o600 for name in files), files
    assert not [name for name in files if name.endswith(".tmp")]
    jwks = json.loads((data_dir / DEV_ISSUER_JWKS_FILE).read_text())
    assert jwks == keyring.dev_issuer_jwks()
    assert "d" not in jwks["keys"][0]  # public only


def test_reopen_loads_the_same_keys(keyring: KeyRing, data_dir: Path, clock: FixedClock) -> None:
    again = KeyRing.open_or_create(data_dir, clock=clock, gateway_id="attestgate")
    assert again.current_signing_key()[0] == keyring.current_signing_key()[0]
    assert again.current_kek() == keyring.current_kek()
    assert again.pseudonym_key == keyring.pseudonym_key
    assert again.dev_issuer_key[0] == keyring.dev_issuer_key[0]
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert again.note_signer_key.public_key().public_bytes(
        *raw
    ) == keyring.note_signer_key.public_key().public_bytes(*raw)


def test_group_readable_key_file_is_refused(
    keyring: KeyRing, data_dir: Path, clock: FixedClock
) -> None:
    target = data_dir / "keys" / "note.pem"
    os.chmod(target, 0o644)
    with pytest.raises(KeyFileError) as caught:
        KeyRing.open_or_create(data_dir, clock=clock, gateway_id="attestgate")
    message = str(caught.value)
    assert str(target) in message
    assert "0644" in message
    assert "chmod 600" in message
    assert "PRIVATE KEY" not in message


def test_open_keys_dir_is_refused(keyring: KeyRing, data_dir: Path, clock: FixedClock) -> None:
    os.chmod(data_dir / "keys", 0o755)
    with pytest.raises(KeyFileError, match="chmod 700"):
        KeyRing.open_or_create(data_dir, clock=clock, gateway_id="attestgate")


def test_write_private_is_0600_even_with_a_lax_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_private(tmp_path / "secret", b"x")
    finally:
        os.umask(old)
    assert mode(tmp_path / "secret") == 0o600
    assert read_private(tmp_path / "secret") == b"x"


def test_rfc8037_thumbprint_vector() -> None:
    assert jwk_thumbprint(RFC8037_JWK) == RFC8037_THUMBPRINT


def test_ec_thumbprint_matches_an_independent_implementation() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwk = public_jwk(key)
    assert jwk_thumbprint(jwk) == jwcrypto_jwk.JWK(**jwk).thumbprint()
    ed = public_jwk(ed25519.Ed25519PrivateKey.generate().public_key())
    assert jwk_thumbprint(ed) == jwcrypto_jwk.JWK(**ed).thumbprint()


def test_signing_kid_is_the_thumbprint(keyring: KeyRing) -> None:
    kid, key = keyring.current_signing_key()
    assert kid == jwk_thumbprint(public_jwk(key.public_key()))
    (jwk,) = keyring.issuer_jwks(keyring.signing_keys()[0].created_at)["keys"]
    assert (jwk["kid"], jwk["alg"], jwk["crv"]) == (kid, "ES256", "P-256")


def test_rotation_keeps_the_old_key_published_for_the_overlap(
    data_dir: Path, clock: FixedClock
) -> None:
    ring = KeyRing.open_or_create(
        data_dir, clock=clock, gateway_id="gw", overlap=timedelta(minutes=10)
    )
    old, _ = ring.current_signing_key()
    rotated_at = clock.advance(timedelta(hours=1))
    new = ring.rotate_signing_key(rotated_at)
    assert new != old
    assert ring.current_signing_key()[0] == new

    def published(at_minutes: int) -> set[str]:
        jwks = ring.issuer_jwks(rotated_at + timedelta(minutes=at_minutes))
        return {k["kid"] for k in jwks["keys"]}

    assert published(9) == {old, new}
    assert published(10) == {new}
    infos = {i.kid: i for i in ring.signing_keys()}
    assert infos[old].retired_at == rotated_at
    assert infos[new].retired_at is None


def test_rotation_by_another_process_is_picked_up(
    keyring: KeyRing, data_dir: Path, clock: FixedClock
) -> None:
    other = KeyRing.open_or_create(data_dir, clock=clock, gateway_id="attestgate")
    new = other.rotate_signing_key(clock.advance(timedelta(seconds=1)))
    assert keyring.current_signing_key()[0] == new


def test_kek_rotation_keeps_old_keks(keyring: KeyRing, data_dir: Path, clock: FixedClock) -> None:
    old_kid, old_key = keyring.current_kek()
    new_kid = keyring.rotate_kek(clock.now())
    assert new_kid != old_kid
    assert keyring.current_kek()[0] == new_kid
    assert len(keyring.current_kek()[1]) == 32
    assert keyring.kek(old_kid) == old_key
    again = KeyRing.open_or_create(data_dir, clock=clock, gateway_id="attestgate")
    assert again.current_kek()[0] == new_kid
    assert again.kek(old_kid) == old_key
    with pytest.raises(KeyError):
        keyring.kek("kek-unknown")


def test_truncated_secret_is_refused(keyring: KeyRing, data_dir: Path, clock: FixedClock) -> None:
    write_private(data_dir / "keys" / "pseudonym.key", b"short")
    with pytest.raises(KeyFileError, match="32 bytes"):
        KeyRing.open_or_create(data_dir, clock=clock, gateway_id="attestgate")
