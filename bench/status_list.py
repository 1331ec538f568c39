"""Benchmark 6: Token Status List publication at 10^6 attestations, and the SDK's cached check.

Publication: one SQLite database (migrated like a gateway's) holding one list of 2^20 entries
of which 10^6 are attestations, in three mixes of statuses (few redeemed; a tenth; the steady
state of single-use attestations: nearly all redeemed). One publication of the list is what
``StatusPublisher.publish`` does per list: read its chunks (``status_store.load_list``),
compress, sign the Status List Token (ES256). Timed as the median of rounds; its size is the
compressed ``lst`` against the information content of the bit array (its entropy: entries times
the Shannon entropy of the status frequencies). Targets: publish < 100 ms, size <= 2x.
Also (information): the default configuration, the same 10^6 attestations in 8 lists of 2^17.

Status check: ``attestgate.sdk.status.StatusLists.lookup`` of random entries from a cached,
verified list (what ``BankClient.verify(check_status=True)`` adds per attestation while the
list is fresh). Target < 5 us per check.
"""

from __future__ import annotations

import math
import random
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.persistence import status_store
from attestgate.gateway.persistence.migrate import migrate
from attestgate.gateway.persistence.storage import connect
from attestgate.protocol.jose import Jwks
from attestgate.protocol.status_list import Status, StatusList, StatusReference, compress
from attestgate.protocol.status_list import sign_status_list_token as sign
from attestgate.sdk.status import StatusLists
from bench.common import Settings, progress, verdict

ATTESTATIONS = 10**6
LIST_SIZE = 1 << 20
DEFAULT_LIST_SIZE = 1 << 17
PUBLISH_TARGET_MS = 100.0
SIZE_TARGET = 2.0
CHECK_TARGET_US = 5.0
ROUNDS = 5
ISSUER = "https://issuer.example"
MIXES = {  # share of the attestations: INVALID, SUSPENDED (the rest VALID)
    "1% redeemed": (0.01, 0.001),
    "10% redeemed": (0.10, 0.01),
    "99% redeemed": (0.99, 0.001),
}


def _packed(size: int, attestations: int, invalid: float, suspended: float) -> StatusList:
    rng = random.Random(17)
    lst = StatusList.new(size, 2)
    taken = rng.sample(range(size), attestations)
    n_invalid, n_suspended = int(attestations * invalid), int(attestations * suspended)
    for idx in taken[:n_invalid]:
        lst.set(idx, Status.INVALID)
    for idx in taken[n_invalid : n_invalid + n_suspended]:
        lst.set(idx, Status.SUSPENDED)
    return lst


def _information_bytes(lst: StatusList) -> float:
    counts = Counter(lst.to_bytes())  # per byte first: cheaper than per entry
    per_entry: Counter[int] = Counter()
    for byte, n in counts.items():
        for shift in range(0, 8, lst.bits):
            per_entry[(byte >> shift) & 3] += n
    total = sum(per_entry.values())
    entropy = -sum(n / total * math.log2(n / total) for n in per_entry.values())
    return total * entropy / 8


def _store(db: Path, lists: list[StatusList]) -> None:
    conn = connect(db)
    now = datetime.now(UTC)
    migrate(conn, now=now)
    conn.execute("BEGIN")
    for list_id, lst in enumerate(lists, start=1):
        conn.execute(
            "INSERT INTO status_lists (list_id, bits, size, allocated, created_at) "
            "VALUES (?, 2, ?, ?, ?)",
            (list_id, lst.size, lst.size, now.isoformat()),
        )
        data, step = lst.to_bytes(), status_store.CHUNK_BYTES
        rows = [
            (list_id, start // step, data[start : start + step])
            for start in range(0, len(data), step)
            if any(data[start : start + step])
        ]
        conn.executemany("INSERT INTO status_chunks (list_id, chunk, bits) VALUES (?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.close()


def _publish_ms(
    db: Path, list_ids: list[int], key: ec.EllipticCurvePrivateKey
) -> tuple[float, str]:
    conn = connect(db)
    times, token = [], ""
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for list_id in list_ids:
            lst = status_store.load_list(conn, list_id)
            assert lst is not None
            token = sign(
                key, kid="k", uri=f"{ISSUER}/status-lists/{list_id}", iat=0, status_list=lst
            )
        times.append((time.perf_counter() - start) * 1000)
    conn.close()
    return statistics.median(times), token


def run_publication(work: Path, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """Publish one 2^20 list of 10^6 attestations per mix (and the 8-list default, as info)."""
    results: dict[str, Any] = {}
    for name, (invalid, suspended) in MIXES.items():
        progress(f"status_list: publication, {name}")
        lst = _packed(LIST_SIZE, ATTESTATIONS, invalid, suspended)
        db = work / f"status-{len(results)}.db"
        _store(db, [lst])
        ms, token = _publish_ms(db, [1], key)
        lst_bytes = len(compress(lst.to_bytes()))
        info = _information_bytes(lst)
        per_list = DEFAULT_LIST_SIZE * ATTESTATIONS // LIST_SIZE
        parts = [_packed(DEFAULT_LIST_SIZE, per_list, invalid, suspended) for _ in range(8)]
        db8 = work / f"status8-{len(results)}.db"
        _store(db8, parts)
        ms8, _ = _publish_ms(db8, list(range(1, 9)), key)
        results[name] = {
            "publish_ms": round(ms, 1),
            "token_bytes": len(token),
            "lst_bytes": lst_bytes,
            "information_bytes": round(info),
            "size_ratio": round(lst_bytes / info, 2),
            "default_8_lists_publish_ms": round(ms8, 1),
            "holds": ms < PUBLISH_TARGET_MS and lst_bytes <= SIZE_TARGET * info,
        }
    return results


def run_check(settings: Settings, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """Microseconds per ``StatusLists.lookup`` from a cached list of 2^17 entries."""
    progress("status_list: SDK status check from a cached list")
    uri = f"{ISSUER}/status-lists/1"
    lst = _packed(DEFAULT_LIST_SIZE, DEFAULT_LIST_SIZE // 2, 0.5, 0.01)
    now = int(time.time())
    token = sign(
        key, kid="k", uri=uri, iat=now, ttl=3600, exp=now + 7200, status_list=lst, iss=ISSUER
    )
    jwks = Jwks({"k": key.public_key()})
    cache = StatusLists(lambda _uri: token)
    cache.put(token, uri=uri, jwks=jwks, issuer=ISSUER)
    refs = [StatusReference(uri, random.randrange(lst.size)) for _ in range(1000)]
    loops = 50 if settings.mode == "full" else 10
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(loops):
            for ref in refs:
                cache.lookup(ref, jwks=jwks, issuer=ISSUER)
        times.append((time.perf_counter() - start) / (loops * len(refs)) * 1e6)
    us = statistics.median(times)
    return {"check_us": round(us, 2), "holds": us < CHECK_TARGET_US}


def run_status_list(settings: Settings) -> dict[str, Any]:
    """Benchmark 6: publication per mix, and the cached status check."""
    key = ec.generate_private_key(ec.SECP256R1())
    with tempfile.TemporaryDirectory(prefix="attestgate-status-") as tmp:
        publication = run_publication(Path(tmp), key)
    check = run_check(settings, key)
    worst = max(r["publish_ms"] for r in publication.values())
    worst_ratio = max(r["size_ratio"] for r in publication.values())
    return {
        "settings": {"attestations": ATTESTATIONS, "list_size": LIST_SIZE, "rounds": ROUNDS},
        "publication": publication,
        "check": check,
        "targets": {
            "publish_ms": {
                "value": worst,
                "target": f"< {PUBLISH_TARGET_MS:.0f} ms",
                "holds": worst < PUBLISH_TARGET_MS,
            },
            "size_ratio": {
                "value": worst_ratio,
                "target": f"<= {SIZE_TARGET}x information",
                "holds": worst_ratio <= SIZE_TARGET,
            },
            "check_us": {
                "value": check["check_us"],
                "target": f"< {CHECK_TARGET_US} us",
                "holds": check["holds"],
            },
        },
    }


def status_rows(data: dict[str, Any]) -> list[list[object]]:
    """Table rows: mix, publish ms, token bytes, lst bytes, information bytes, ratio, 8 lists."""
    rows: list[list[object]] = []
    for name, r in data["publication"].items():
        rows.append(
            [
                name,
                r["publish_ms"],
                r["token_bytes"],
                r["lst_bytes"],
                r["information_bytes"],
                f"{r['size_ratio']}x ({verdict(r['holds'])})",
                r["default_8_lists_publish_ms"],
            ]
        )
    check = data["check"]
    rows.append(["SDK check (us)", check["check_us"], "", "", "", verdict(check["holds"]), ""])
    return rows
