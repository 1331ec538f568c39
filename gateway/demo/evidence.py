"""The regulator's scene and the evidence bundle of ``attestgate demo --json``.

The regulator pins the log's verifier key, takes a checkpoint at the start and one mid-demo, then
at the end proves that the final checkpoint extends the mid-demo one (RFC 9162 §2.1.4) and that
every case's redemption event is in the final tree (§2.1.3). The bundle carries all of it in
standard encodings, so that a third party can check it without attestgate code: the SD-JWTs
against ``gateway.jwks``, the signed note against ``gateway.log_vkey``, the proofs by hashing.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from attestgate.gateway.demo.cast import CaseRecord, Cast, iso, json_claims
from attestgate.gateway.demo.report import Report
from attestgate.sdk import Checkpoint, ConsistencyProof, InclusionProof, LogEntry, RegulatorClient

CHECKPOINT_WAIT = 15.0
"""Seconds to wait for the gateway to sign a checkpoint covering the entries we need."""


@dataclass(frozen=True)
class Evidence:
    """What the regulator verified at the end."""

    final: Checkpoint
    middle: Checkpoint
    consistency: ConsistencyProof
    inclusions: tuple[tuple[LogEntry, InclusionProof], ...]


def checkpoint_covering(regulator: RegulatorClient, size: int) -> Checkpoint:
    """The first verified checkpoint with at least ``size`` leaves (polls; checkpoints are
    signed every ``checkpoint_interval``)."""
    deadline = time.monotonic() + CHECKPOINT_WAIT
    while True:
        checkpoint = regulator.checkpoint()
        if checkpoint.size >= size:
            return checkpoint
        if time.monotonic() > deadline:
            raise TimeoutError(f"no checkpoint covers {size} entries after {CHECKPOINT_WAIT} s")
        time.sleep(0.05)


def verify_log(
    report: Report, cast: Cast, cases: Sequence[CaseRecord], start: Checkpoint, middle: Checkpoint
) -> Evidence | None:
    """The regulator checks the final checkpoint, consistency and every redemption's inclusion;
    ``None`` if a proof failed (the failure is reported)."""
    regulator = cast.audit
    final = checkpoint_covering(regulator, max(c.redemption.log_index for c in cases) + 1)
    root = base64.b64encode(final.root_hash).decode()  # as in the checkpoint and `audit verify`
    report.expect(True, f"final checkpoint: {final.size} entries, root {root}, its signature"
                  " verified against the pinned key")  # fmt: skip
    report.check(
        lambda: regulator.verify_consistency(start, final),
        f"append-only: the final tree extends the checkpoint of the start ({start.size} entries)",
    )
    consistency = report.check(
        lambda: regulator.verify_consistency(middle, final),
        f"... and the one taken mid-demo ({middle.size} entries)",
    )
    inclusions: list[tuple[LogEntry, InclusionProof]] = []
    for case in cases:
        index = case.redemption.log_index
        (entry,) = regulator.entries(index, index + 1)
        report.expect(
            entry.event.get("type") == "attestation.redeemed"
            and entry.event.get("objects", {}).get("attestation_jti") == case.attestation.jti,
            f"entry {index} is the {case.domain} redemption",
        )
        proof = report.check(
            partial(regulator.verify_inclusion, entry, index, final),
            f"entry {index} is in the final tree (inclusion proof)",
        )
        if proof is not None:
            inclusions.append((entry, proof))
    leaves = regulator.entries(start.size, final.size)
    owners = [cast.owner_id(role).encode() for role in ("person", "trader", "inventor", "company")]
    forbidden = [b"61234500", b"91440300TAX0001", b"440300199001011234", *owners]
    report.expect(
        not any(value in leaf.data for leaf in leaves for value in forbidden),
        f"the {len(leaves)} entries of this run name owners by pseudonym only and hold no values",
    )
    if consistency is None or len(inclusions) != len(cases):
        return None
    return Evidence(final, middle, consistency, tuple(inclusions))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _case(case: CaseRecord) -> dict[str, Any]:
    redemption = case.redemption
    return {
        "domain": case.domain,
        "purpose": case.purpose,
        "consent_id": case.consent_id,
        "attestation": case.attestation.token,
        "presentation": case.presentation,
        "kb_aud": case.kb_aud,
        "kb_nonce": case.kb_nonce,
        "disclosed": json_claims(case.attestation.claims),
        "withheld": [{"claim": w.claim, "reason": w.reason} for w in case.attestation.withheld],
        "redeemed": {
            "transaction_ref": redemption.transaction_ref,
            "redeemed_at": iso(redemption.redeemed_at),
            "log_index": redemption.log_index,
            "consumption": redemption.consumption,
            "consumed_amount": redemption.consumed_amount,
            "consumed_currency": redemption.consumed_currency,
        },
        "second_redeem": {"code": case.second_redeem[0], "reason": case.second_redeem[1]},
    }


def bundle(cast: Cast, cases: Sequence[CaseRecord], evidence: Evidence) -> dict[str, Any]:
    """The evidence bundle (issue 7 "Deliver" 2): gateway, cases, audit."""
    bank = next(iter(cast.banks.values()))
    return {
        "gateway": {
            "target": cast.stage.target,
            "issuer": cases[0].kb_aud,
            "jwks": bank.issuer_keys(),
            "log_origin": cast.audit.origin,
            "log_vkey": cast.stage.vkey(),
        },
        "cases": [_case(case) for case in cases],
        "audit": {
            "checkpoint": evidence.final.text,
            "inclusion": [
                {
                    "index": entry.index,
                    "leaf": _b64(entry.data),
                    "tree_size": proof.tree_size,
                    "hashes": [_b64(h) for h in proof.hashes],
                }
                for entry, proof in evidence.inclusions
            ],
            "consistency": {
                "old_checkpoint": evidence.middle.text,
                "new_checkpoint": evidence.final.text,
                "hashes": [_b64(h) for h in evidence.consistency.hashes],
            },
        },
    }
