"""Every benchmark runs at a tiny size, so that ``bench/`` does not rot between full runs.

No timing is asserted (the figures live in bench/results/); these tests check that each
benchmark does the work it claims: the baselines write the same rows, the proofs verify, the
loads complete without errors, the two SD-JWT implementations accept the same tokens.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from attestgate.audit.tree import AuditLog
from attestgate.protocol.merkle import leaf_hash, verify_inclusion
from bench import __main__ as bench_main
from bench import ab
from bench.audit_append import (
    GATEWAY_SUBMITTERS,
    connect,
    run_audit_append,
    run_bare,
    run_same_rows,
    run_sequencer,
)
from bench.audit_proofs import build_log, run_audit_proofs, time_proofs
from bench.common import Settings, percentile, write_result
from bench.crypto import CryptoCase, run_crypto
from bench.fixture import start_bench_gateway
from bench.plot import draw_latency
from bench.rpc import RpcRunner, run_latency, run_throughput
from bench.rpc_variants import run_server_variants, variant_rows

TINY = dataclasses.replace(
    Settings.quick(),
    mode="tiny",
    rpc_seconds=0.4,
    rpc_warmup=0.1,
    processes=1,
    concurrency=4,
    sweep_fractions=(0.25,),
    sweep_seconds=0.3,
    audit_threads=(4,),
    audit_units=40,
    proof_sizes=(50, 120),
    proof_samples=20,
    crypto_seconds=0.03,
    concurrency_levels=(2, 4),
    concurrency_seconds=0.3,
)


def test_settings_come_from_the_environment() -> None:
    assert Settings.from_env({}).mode == "full"
    assert Settings.from_env({"BENCH_QUICK": "0"}).mode == "full"
    assert Settings.from_env({"BENCH_QUICK": "1"}).mode == "quick"


def test_percentile_interpolates() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == pytest.approx(2.5)
    assert percentile([1.0, 2.0], 100) == 2.0
    assert percentile([5.0], 99) == 5.0


def test_quick_results_never_overwrite_the_full_ones(tmp_path: Path) -> None:
    path = write_result("x", Settings.quick(), {"value": 1}, tmp_path)
    assert path.name == "x-quick.json"
    document = json.loads(path.read_text())
    assert document["value"] == 1
    assert document["machine"]["nproc"] >= 1


def test_both_sd_jwt_implementations_verify_the_benchmarked_presentation() -> None:
    case = CryptoCase()
    ours = case.ours_verify()
    reference = case.reference_verify()
    assert dict(ours.claims) == {
        "name": "Company 7",
        "registration_status": "ACTIVE",
        "in_good_standing": True,
    }
    assert reference["registration_status"] == "ACTIVE"
    assert reference["in_good_standing"] is True
    # Equivalent tokens: the reference issuance carries as many digests as ours (decoys pinned).
    ours_payload, ref_payload = (
        json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        for token in (case.issued, case.reference_issue())
    )
    assert len(ref_payload["_sd"]) == len(ours_payload["_sd"]) == 3 + 3


def test_crypto_benchmark_reports_both_targets() -> None:
    data = run_crypto(TINY)
    assert set(data["targets"]) == {"issue_speedup", "verify_speedup"}
    assert data["results"]["verify"]["floor_us"] > 0


def test_sequencer_and_baselines_write_the_same_rows(tmp_path: Path) -> None:
    seq = run_sequencer(tmp_path / "seq.db", threads=4, units=40)
    assert seq.events == 40
    assert sum(seq.batches) == 40
    same = run_same_rows(tmp_path / "seq.db", tmp_path / "rows.db", seq.batches)
    bare = run_bare(tmp_path / "bare.db", seq.batches)
    assert same.events == bare.events == 40
    query = "SELECT idx, data, leaf_hash FROM audit_leaves ORDER BY idx"
    with connect(tmp_path / "seq.db") as a, connect(tmp_path / "rows.db") as b:
        assert a.execute(query).fetchall() == b.execute(query).fetchall()
        nodes = "SELECT level, idx, hash FROM audit_nodes ORDER BY level, idx"
        assert a.execute(nodes).fetchall() == b.execute(nodes).fetchall()
    with sqlite3.connect(tmp_path / "bare.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM bare_events").fetchone() == (40,)


def test_append_target_covers_the_gateways_submitter_counts_only(tmp_path: Path) -> None:
    # More submitters than the gateway has worker threads: reported, but not the target's level.
    settings = dataclasses.replace(TINY, audit_threads=(2, GATEWAY_SUBMITTERS + 1))
    data = run_audit_append(settings, tmp_path)
    inside, beyond = data["levels"]
    assert (inside["target_level"], beyond["target_level"]) == (True, False)
    assert isinstance(inside["holds"], bool)
    assert beyond["holds"] is None
    target = data["targets"]["sequencer_vs_same_rows"]
    assert target["min_ratio"] == inside["ratio"]
    assert target["holds"] is inside["holds"]


def test_the_proof_benchmark_builds_a_log_whose_proofs_verify(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    build_log(db, 300)
    with connect(db) as conn:
        log = AuditLog(conn)
        head = log.head()
        assert head.size == 300
        proof = log.inclusion_proof(conn, 123, 300)
        data = log.leaf(conn, 123)
    verify_inclusion(index=123, size=300, leaf_hash=leaf_hash(data), proof=proof, root=head.root)
    timings = time_proofs(db, 300, samples=5)
    assert timings["inclusion"]["p50_ms"] > 0


def test_proof_benchmark_runs_one_child_per_size(tmp_path: Path) -> None:
    data = run_audit_proofs(TINY, tmp_path)
    assert [s["entries"] for s in data["sizes"]] == [50, 120]
    assert all(s["peak_rss_mb"] > 0 for s in data["sizes"])
    assert not list(tmp_path.glob("log-*"))


def test_the_commit_comparison_refuses_a_bad_command_line() -> None:
    assert ab.main([]) == 2
    assert ab.main(["smoke", "two"]) == 2  # rounds must be a number


def test_rpc_benchmarks_drive_the_real_gateway_without_errors(tmp_path: Path) -> None:
    bench = start_bench_gateway(tmp_path / "data")
    try:
        runner = RpcRunner(bench, TINY)
        throughput = run_throughput(runner)
        for name in ("noop", "issue", "redeem"):
            result = throughput["results"][name]
            assert result["errors"] == {}, name
            assert result["completed"] > 0, name
        assert set(throughput["targets"]) == {"issue_vs_noop", "redeem_vs_noop"}
        compared = ab.line("smoke", throughput)  # bench/ab.py's line for comparing commits
        assert compared["issue_vs_noop"] > 0
        assert compared["redeem_vs_noop"] > 0
        assert len(compared["rounds"]) == len(compared["issue_per_round"]) == TINY.throughput_rounds
        variants = run_server_variants(runner)
        max_rps = {name: throughput["results"][name]["rps"] for name in ("noop", "issue")}
        latency = run_latency(runner, max_rps)
    finally:
        bench.close()
    assert latency["issue_at_half_max"]["errors"] == {}
    names = {"sync_noop", "aio_noop", "sync_issue", "aio_issue"}
    assert set(variants["results"]) == names
    for name in names:
        assert variants["results"][name]["errors"] == {}, name
        assert variants["results"][name]["completed"] > 0, name
    assert [row[0] for row in variant_rows(variants)] == [
        "sync noop", "aio noop", "sync issue", "aio issue"
    ]  # fmt: skip
    assert [p["fraction_of_max"] for p in latency["sweep"]["issue"]] == [0.25]
    assert "issue_p99_at_half_max_ms" in latency["targets"]
    plot = draw_latency(latency, tmp_path / "latency.png")
    assert plot is None or plot.stat().st_size > 0


def test_concurrency_sweep_runs_each_level_without_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench_main.main(["--only", "sweep", "--out", str(tmp_path)], settings=TINY) == 0
    data = json.loads((tmp_path / "rpc_concurrency-tiny.json").read_text())
    assert [level["concurrency"] for level in data["levels"]] == [2, 4]
    for level in data["levels"]:
        for call in ("noop", "issue"):
            assert level[call]["errors"] == {}
            assert level[call]["completed"] > 0
        assert level["issue_vs_noop"] > 0
    assert "1c. no-op and issue by calls in flight" in capsys.readouterr().out


def test_main_writes_json_and_prints_the_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench_main.main(["--only", "crypto", "--out", str(tmp_path)], settings=TINY) == 0
    written = json.loads((tmp_path / "crypto-tiny.json").read_text())
    assert written["mode"] == "tiny"
    assert "crypto.issue_speedup" in capsys.readouterr().out
