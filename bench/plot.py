"""Benchmark 5's picture: latency p50 and p99 against offered load, IssueAttestation vs no-op.

Needs matplotlib (the ``bench`` extra, ``pip install -e '.[bench]'``; ``make bench`` installs
it). Without it the JSON is still written and the plot is skipped with a message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import progress


def draw_latency(latency: dict[str, Any], path: Path) -> Path | None:
    """Draw ``latency["sweep"]`` (from ``bench.rpc.run_latency``) to ``path``; None if no
    matplotlib."""
    try:
        # Optional dependency (the ``bench`` extra): imported only when a plot is drawn.
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")  # files only, no display
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        progress("matplotlib is missing (pip install -e '.[bench]'): plot skipped")
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=False)
    titles = {"issue": "IssueAttestation (real gateway)", "noop": "no-op (same server stack)"}
    for ax, name in zip(axes, ("issue", "noop"), strict=True):
        points = latency["sweep"][name]
        offered = [p["offered_rps"] for p in points]
        ax.plot(offered, [p["p50_ms"] for p in points], "o-", label="p50")
        ax.plot(offered, [p["p99_ms"] for p in points], "s--", label="p99")
        ax.axvline(latency["max_rps"][name], color="grey", linestyle=":", label="closed-loop max")
        if name == "issue":
            ax.axhline(20.0, color="red", linewidth=0.8, linestyle=":", label="p99 target 20 ms")
        ax.set_yscale("log")
        ax.set_xlabel("offered load (req/s, open loop)")
        ax.set_ylabel("latency (ms, from scheduled start)")
        ax.set_title(titles[name])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("attestgate: latency against offered load (TLS, bearer auth, 2 client processes)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
