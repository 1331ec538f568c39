"""protocol.merkle against RFC 6962 vectors (transparency-dev/merkle) and a naive reference."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from attestgate.protocol.merkle import (
    EMPTY_ROOT,
    MAX_PROOF_LENGTH,
    ProofError,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from tests.unit.audit import merkle_reference as ref

VECTORS = Path(__file__).parents[2] / "vectors" / "merkle"
CONSTANTS: dict[str, Any] = json.loads((VECTORS / "verify_test_constants.json").read_text())
CASES: dict[str, list[dict[str, Any]]] = json.loads((VECTORS / "testdata_cases.json").read_text())
LEAVES = [bytes.fromhex(h) for h in CONSTANTS["leaves"]]
ROOTS = [bytes.fromhex(h) for h in CONSTANTS["roots"]]
SOME_HASH = bytes.fromhex(CONSTANTS["some_hash"])


def _hexes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def _b64s(values: list[str] | None) -> list[bytes]:
    return [base64.b64decode(v) for v in values or []]


def _flip(proof: list[bytes], position: int, mask: int = 8) -> list[bytes]:
    changed = list(proof)
    changed[position] = bytes([changed[position][0] ^ mask]) + changed[position][1:]
    return changed


class TestHashing:
    """RFC 9162 §2.1.1."""

    def test_empty_root_is_sha256_of_nothing(self) -> None:
        assert EMPTY_ROOT.hex() == CONSTANTS["empty_tree_hash"]

    def test_domain_separated_hashes(self) -> None:
        assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
        assert (
            node_hash(b"a" * 32, b"b" * 32)
            == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
        )

    @pytest.mark.parametrize("size", range(1, 9))
    def test_roots_of_go_vectors(self, size: int) -> None:
        assert ref.mth(LEAVES[:size]) == ROOTS[size - 1]


class TestGoConstants:
    """proof/verify_test.go: known-good proofs verify, the Go corruptions do not."""

    @pytest.mark.parametrize("vector", CONSTANTS["inclusion_proofs"][1:])
    def test_inclusion(self, vector: dict[str, Any]) -> None:
        index, size, proof = vector["leaf"] - 1, vector["size"], _hexes(vector["proof"])
        hashed, root = leaf_hash(LEAVES[index]), ROOTS[size - 1]
        assert root_from_inclusion_proof(index, size, hashed, proof) == root
        verify_inclusion(index=index, size=size, leaf_hash=hashed, proof=proof, root=root)
        assert ref.path(index, LEAVES[:size]) == proof
        probes: list[tuple[int, int, bytes, list[bytes], bytes]] = [
            (index + 1, size, hashed, proof, root),
            (index ^ 2, size, hashed, proof, root),
            (index, size * 2, hashed, proof, root),
            (index, size, leaf_hash(b"WrongLeaf"), proof, root),
            (index, size, hashed, proof, EMPTY_ROOT),
            (index, size, hashed, proof, SOME_HASH),
            (index, size, hashed, [*proof, root], root),
            (index, size, hashed, [root, *proof], root),
        ]
        if index > 0:
            probes.append((index - 1, size, hashed, proof, root))
        if size > 1:
            probes.append((index, size // 2, hashed, proof, root))
        probes += [(index, size, hashed, _flip(proof, i), root) for i in range(len(proof))]
        if proof:
            probes.append((index, size, hashed, proof[:-1], root))
        if len(proof) > 1:
            probes.append((index, size, hashed, [proof[0], SOME_HASH, *proof[1:]], root))
        for p_index, p_size, p_leaf, p_proof, p_root in probes:
            with pytest.raises(ProofError):
                verify_inclusion(
                    index=p_index, size=p_size, leaf_hash=p_leaf, proof=p_proof, root=p_root
                )

    @pytest.mark.parametrize("vector", CONSTANTS["consistency_proofs"])
    def test_consistency(self, vector: dict[str, Any]) -> None:
        old, new, proof = vector["size1"], vector["size2"], _hexes(vector["proof"])
        old_root, new_root = ROOTS[old - 1], ROOTS[new - 1]
        verify_consistency(
            old_size=old, new_size=new, old_root=old_root, new_root=new_root, proof=proof
        )
        if not proof:
            return
        assert ref.proof(old, LEAVES[:new]) == proof
        probes = [
            (old - 1, new, old_root, new_root, proof),
            (old + 1, new, old_root, new_root, proof),
            (old ^ 2, new, old_root, new_root, proof),
            (old, new * 2, old_root, new_root, proof),
            (old, new // 2, old_root, new_root, proof),
            (old, new, SOME_HASH, new_root, proof),
            (old, new, old_root, SOME_HASH, proof),
            (old, new, new_root, old_root, proof),
            (old, new, old_root, new_root, []),
            (old, new, old_root, new_root, [*proof, old_root]),
            (old, new, old_root, new_root, [*proof, new_root]),
            (old, new, old_root, new_root, [old_root, *proof]),
            (old, new, old_root, new_root, [new_root, *proof]),
            (old, new, old_root, new_root, [proof[0], *proof]),
            (old, new, old_root, new_root, proof[:-1]),
        ]
        probes += [(old, new, old_root, new_root, _flip(proof, i, 16)) for i in range(len(proof))]
        for p_old, p_new, p_old_root, p_new_root, p_proof in probes:
            with pytest.raises(ProofError):
                verify_consistency(
                    old_size=p_old,
                    new_size=p_new,
                    old_root=p_old_root,
                    new_root=p_new_root,
                    proof=p_proof,
                )


def _case_id(entry: dict[str, Any]) -> str:
    return str(entry["source"]["path"])


class TestTestdataFiles:
    """testdata/{inclusion,consistency}/*.json: wantErr decides."""

    @pytest.mark.parametrize("entry", CASES["inclusion"], ids=_case_id)
    def test_inclusion(self, entry: dict[str, Any]) -> None:
        case = entry["case"]
        args = {
            "index": case["leafIdx"],
            "size": case["treeSize"],
            "leaf_hash": base64.b64decode(case["leafHash"]),
            "proof": _b64s(case["proof"]),
            "root": base64.b64decode(case["root"]),
        }
        if case["wantErr"]:
            with pytest.raises(ProofError):
                verify_inclusion(**args)
        else:
            verify_inclusion(**args)

    @pytest.mark.parametrize("entry", CASES["consistency"], ids=_case_id)
    def test_consistency(self, entry: dict[str, Any]) -> None:
        case = entry["case"]
        args = {
            "old_size": case["size1"],
            "new_size": case["size2"],
            "old_root": base64.b64decode(case["root1"]),
            "new_root": base64.b64decode(case["root2"]),
            "proof": _b64s(case["proof"]),
        }
        if case["wantErr"]:
            with pytest.raises(ProofError):
                verify_consistency(**args)
        else:
            verify_consistency(**args)


ALL_LEAVES = ref.sample_leaves(64)
ALL_ROOTS = [ref.mth(ALL_LEAVES[:n]) for n in range(65)]


class TestAgainstReference:
    """Every (index, size) and (old, new) up to 64: reference proofs verify, flipped bits fail."""

    @pytest.mark.parametrize("size", range(1, 65))
    def test_inclusion(self, size: int) -> None:
        for index in range(size):
            proof = ref.path(index, ALL_LEAVES[:size])
            hashed = leaf_hash(ALL_LEAVES[index])
            verify_inclusion(
                index=index, size=size, leaf_hash=hashed, proof=proof, root=ALL_ROOTS[size]
            )
            for position in range(len(proof)):
                with pytest.raises(ProofError):
                    verify_inclusion(
                        index=index,
                        size=size,
                        leaf_hash=hashed,
                        proof=_flip(proof, position, 1),
                        root=ALL_ROOTS[size],
                    )

    @pytest.mark.parametrize("new", range(1, 65))
    def test_consistency(self, new: int) -> None:
        for old in range(1, new):
            proof = ref.proof(old, ALL_LEAVES[:new])
            roots = {"old_root": ALL_ROOTS[old], "new_root": ALL_ROOTS[new]}
            verify_consistency(old_size=old, new_size=new, proof=proof, **roots)
            for position in range(len(proof)):
                with pytest.raises(ProofError):
                    verify_consistency(
                        old_size=old, new_size=new, proof=_flip(proof, position, 1), **roots
                    )


class TestTrivialConsistency:
    def test_from_empty_tree(self) -> None:
        verify_consistency(
            old_size=0, new_size=5, old_root=EMPTY_ROOT, new_root=SOME_HASH, proof=[]
        )
        with pytest.raises(ProofError, match="empty tree"):
            verify_consistency(
                old_size=0, new_size=5, old_root=SOME_HASH, new_root=SOME_HASH, proof=[]
            )

    def test_same_size(self) -> None:
        verify_consistency(old_size=3, new_size=3, old_root=SOME_HASH, new_root=SOME_HASH, proof=[])
        with pytest.raises(ProofError):
            verify_consistency(
                old_size=3, new_size=3, old_root=SOME_HASH, new_root=EMPTY_ROOT, proof=[]
            )
        with pytest.raises(ProofError, match="must be empty"):
            verify_consistency(
                old_size=3, new_size=3, old_root=SOME_HASH, new_root=SOME_HASH, proof=[SOME_HASH]
            )

    def test_shrinking_tree(self) -> None:
        with pytest.raises(ProofError, match="larger than"):
            verify_consistency(
                old_size=2, new_size=1, old_root=SOME_HASH, new_root=SOME_HASH, proof=[]
            )


class TestBoundsAndMessages:
    def test_mismatch_names_expected_and_computed_root_not_the_proof(self) -> None:
        proof = ref.path(5, LEAVES)
        with pytest.raises(ProofError) as caught:
            verify_inclusion(
                index=5, size=8, leaf_hash=leaf_hash(LEAVES[5]), proof=proof, root=SOME_HASH
            )
        message = str(caught.value)
        assert SOME_HASH.hex() in message
        assert ROOTS[7].hex() in message
        assert all(p.hex() not in message for p in proof)

    @pytest.mark.parametrize(
        ("index", "size"), [(0, 0), (1, 1), (-1, 4), (0, 2**63), (2**63, 2**63 + 1), (True, 2)]
    )
    def test_index_and_size_bounds(self, index: int, size: int) -> None:
        with pytest.raises(ProofError):
            root_from_inclusion_proof(index, size, SOME_HASH, [])

    def test_hash_lengths(self) -> None:
        with pytest.raises(ProofError, match="leaf hash"):
            verify_inclusion(index=0, size=1, leaf_hash=b"", proof=[], root=SOME_HASH)
        with pytest.raises(ProofError, match="root"):
            verify_inclusion(index=0, size=1, leaf_hash=SOME_HASH, proof=[], root=SOME_HASH[:31])
        with pytest.raises(ProofError, match=r"proof\[1\]"):
            verify_inclusion(
                index=0, size=4, leaf_hash=SOME_HASH, proof=[SOME_HASH, b"x"], root=SOME_HASH
            )

    def test_proof_length_bound(self) -> None:
        too_long = [SOME_HASH] * (MAX_PROOF_LENGTH + 1)
        with pytest.raises(ProofError, match="at most 64"):
            root_from_inclusion_proof(0, 2**62, SOME_HASH, too_long)
        with pytest.raises(ProofError, match="at most 64"):
            verify_consistency(
                old_size=1, new_size=2**62, old_root=SOME_HASH, new_root=SOME_HASH, proof=too_long
            )

    def test_largest_tree_accepts_a_full_length_proof(self) -> None:
        size = 2**63 - 1
        proof = [SOME_HASH] * 63
        assert len(root_from_inclusion_proof(0, size, SOME_HASH, proof)) == 32

    def test_single_entry(self) -> None:
        hashed = leaf_hash(b"data")
        verify_inclusion(index=0, size=1, leaf_hash=hashed, proof=[], root=hashed)
        with pytest.raises(ProofError):
            verify_inclusion(index=0, size=1, leaf_hash=hashed, proof=[], root=EMPTY_ROOT)
