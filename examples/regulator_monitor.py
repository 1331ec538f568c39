#!/usr/bin/env python3
"""Follow an attestgate audit log as a regulator, without trusting the operator.

Each round fetches the latest checkpoint, verifies its signature against the pinned verifier key,
proves that it extends the last one verified (kept in --state-file: split-view detection), and
verifies and prints every new entry (event type, decision, reason; never personal values). The
gateway signs a checkpoint at most once per checkpoint_interval (1 s by default), so the newest
events show up in the round after.

    python examples/regulator_monitor.py --vkey "$(attestgate audit vkey --data-dir .attestgate)" \\
        --ca .attestgate/tls/ca.pem   # token in $REGULATOR_TOKEN

The state file defaults to $XDG_STATE_HOME/attestgate/regulator-monitor.state
(~/.local/state/...): keep it, it is what a forked log is detected against.

Exit codes: 0 (stopped, or --once done), 1 the log failed verification, 2 usage error.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from pathlib import Path

from attestgate.sdk import (
    Checkpoint,
    LogMonitor,
    LogVerificationError,
    RegulatorClient,
    TlsConfig,
    errors,
)


def default_state_file() -> Path:
    """$XDG_STATE_HOME/attestgate/regulator-monitor.state (XDG Base Directory: state data)."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "attestgate" / "regulator-monitor.state"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default=os.environ.get("ATTESTGATE_TARGET", "127.0.0.1:50051"))
    parser.add_argument(
        "--ca",
        type=Path,
        default=os.environ.get("ATTESTGATE_CA"),
        help="CA certificate of the gateway (default: system roots)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("REGULATOR_TOKEN"),
        help="bearer token with role regulator (default: $REGULATOR_TOKEN)",
    )
    parser.add_argument(
        "--vkey",
        default=os.environ.get("ATTESTGATE_VKEY"),
        help="the log's verifier key, obtained out of band ($ATTESTGATE_VKEY)",
    )
    parser.add_argument(
        "--state-file",
        type=Path,
        default=default_state_file(),
        help="where the last verified checkpoint is kept (default: %(default)s)",
    )
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between rounds")
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    args = parser.parse_args(argv)
    if not args.token or not args.vkey:
        parser.error("pass --token and --vkey (or set REGULATOR_TOKEN and ATTESTGATE_VKEY)")
    return args


def check_round(regulator: RegulatorClient, monitor: LogMonitor) -> Checkpoint:
    """Verify the newest checkpoint against the stored one; print and verify the new entries."""
    previous = monitor.last_verified()
    latest = monitor.update()  # raises SplitViewError if the log was rewritten
    start = 0 if previous is None else previous.size
    for entry in regulator.entries(start, latest.size):
        regulator.verify_inclusion(entry, entry.index, latest)
        event = entry.event
        reason = f" ({event['reason']})" if event.get("reason") else ""
        print(
            f"  {entry.index:>6} {event.get('time')} {event.get('type')}: "
            f"{event.get('decision')}{reason} by {event.get('actor_role')}"
        )
    root = base64.b64encode(latest.root_hash).decode()  # as in the checkpoint and `audit verify`
    print(f"checkpoint {latest.size} entries, root {root}, verified")
    return latest


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tls = TlsConfig(ca_file=args.ca) if args.ca else None
    args.state_file.parent.mkdir(parents=True, exist_ok=True)
    with RegulatorClient(args.target, token=args.token, vkey=args.vkey, tls=tls) as regulator:
        monitor = LogMonitor(regulator, args.state_file)
        while True:
            try:
                check_round(regulator, monitor)
            except LogVerificationError as exc:
                print(f"THE LOG FAILED VERIFICATION: {exc}", file=sys.stderr)
                return 1
            except errors.Unavailable as exc:
                print(f"gateway unreachable ({exc.code}); retrying", file=sys.stderr)
            if args.once:
                return 0
            try:
                time.sleep(args.interval)
            except KeyboardInterrupt:
                return 0


if __name__ == "__main__":
    sys.exit(main())
