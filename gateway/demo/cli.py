"""The ``attestgate demo`` subcommand: arguments, stage set-up and tear-down."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from attestgate.gateway.demo.run import play
from attestgate.gateway.demo.stage import Stage, StageError, local_stage, remote_stage

DESCRIPTION = """\
Play all four domains end to end through the SDK, as real parties: the tax bureau, a warehouse,
the IP center and the registry upload signed records; owners approve; two banks obtain, verify
and redeem attestations; a regulator verifies the log. Every expectation is checked; the exit
code is 0 only if all held. Without --target the demo starts a gateway of its own on a temporary
data dir (removed afterwards).

With --target it leaves its traces on that gateway, which nothing removes: it registers four
providers in the data dir (tax-bureau-XXXXXX with the tax_bureau and FX roles, qh-warehouse-XXXXXX,
ip-center-XXXXXX, samr-XXXXXX; XXXXXX is the run's random suffix), uploads their records, and its FX
table (pboc-demo-XXXXXX, USD 7.1234) becomes the gateway's latest, which FX-purchase attestations
use from then on; its consents, attestations and audit events stay (the audit log is append-only).
Point it at a gateway for trying things out, not at one whose FX rates matter. Remove the providers
afterwards with `attestgate providers revoke ID --role ROLE` (see `attestgate providers list`)."""


def add_demo_command(sub: Any) -> None:
    """Add ``demo`` to the ``attestgate`` subcommands."""
    p = sub.add_parser(
        "demo",
        help="play all four domains end to end and check every expectation",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the evidence bundle (one JSON document) on stdout; the steps go to stderr",
    )
    p.add_argument(
        "--target",
        metavar="HOST:PORT",
        help="use this running gateway instead of starting one (needs --data-dir); registers four "
        "providers there and makes the demo's FX table its latest (see above)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        help="with --target: that gateway's data dir, for dev-issuer tokens, provider keys "
        "and the log's verifier key",
    )
    p.add_argument(
        "--ca",
        type=Path,
        help="with --target: CA certificate to trust (default <data-dir>/tls/ca.pem)",
    )
    p.set_defaults(func=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    """Set up the stage, play, tear down; the exit code (2 for a usage error)."""
    if args.target is None and (args.data_dir is not None or args.ca is not None):
        print("attestgate: --data-dir and --ca go with --target", file=sys.stderr)
        return 2
    if args.target is not None and args.data_dir is None:
        print("attestgate: --target needs --data-dir (the token source)", file=sys.stderr)
        return 2
    try:
        stage: Stage = (
            local_stage()
            if args.target is None
            else remote_stage(args.target, args.data_dir, args.ca)
        )
    except StageError as exc:
        print(f"attestgate: {exc}", file=sys.stderr)
        return 2
    try:
        if args.json:
            return play(stage, out=sys.stderr, json_out=sys.stdout)
        return play(stage, out=sys.stdout)
    finally:
        stage.close()
