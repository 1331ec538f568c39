#!/usr/bin/env python3
"""A bank's FX purchase backed by the customer's after-tax income, through attestgate.

The bank asks the customer for consent (income / fx_purchase), waits for the decision on the
consent-event stream, obtains a single-use attestation that the income covers the amount, checks
it offline, executes the purchase (here: prints it) and redeems the attestation for that
transaction. The income itself is never disclosed to the bank.

    python examples/bank_fx_purchase.py --owner alice --amount 50000.00 --currency USD \\
        --transaction-ref fx-0001 --ca .attestgate/tls/ca.pem   # token in $BANK_TOKEN

Exit codes: 0 purchase done, 1 not covered or refused, 2 usage error, 3 no decision in time.
"""

from __future__ import annotations

import argparse
import os
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from attestgate.sdk import BankClient, ConsentRequestState, ConsentState, TlsConfig, errors


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
        default=os.environ.get("BANK_TOKEN"),
        help="bearer token with role bank (default: $BANK_TOKEN)",
    )
    parser.add_argument("--owner", required=True, help="the customer's id at the gateway")
    parser.add_argument("--record-id", help="the income record (default: the latest one)")
    parser.add_argument("--amount", required=True, help="amount to buy, e.g. 50000.00")
    parser.add_argument("--currency", default="USD", help="ISO 4217 code (default USD)")
    parser.add_argument("--transaction-ref", required=True, help="the bank's transaction id")
    parser.add_argument(
        "--wait",
        type=float,
        default=300.0,
        help="seconds to wait for the customer's decision (default 300)",
    )
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("no token: pass --token or set BANK_TOKEN")
    try:
        args.minor_units = int(Decimal(args.amount).scaleb(2).to_integral_exact())
    except (InvalidOperation, ArithmeticError):
        parser.error("--amount must be a decimal with at most two places, e.g. 50000.00")
    return args


def wait_for_decision(bank: BankClient, request_id: str, seconds: float) -> str | None:
    """The consent id once the customer approves; None if rejected, expired or out of time."""
    try:
        for event in bank.watch_consent_events(timeout=seconds):
            if event.request_id != request_id:
                continue
            if event.consent_id is not None and event.state is ConsentState.ACTIVE:
                return event.consent_id
            if event.state in (ConsentRequestState.REJECTED, ConsentRequestState.EXPIRED):
                return None
    except errors.DeadlineExceeded:
        pass
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tls = TlsConfig(ca_file=args.ca) if args.ca else None
    with BankClient(args.target, token=args.token, tls=tls) as bank:
        request = bank.request_consent(
            owner=args.owner,
            domain="income",
            purpose="fx_purchase",
            claims=["tax_year", "covers_amount"],
            record_id=args.record_id,
            # The owner approves this maximum; the attestation may test no more (fx_purchase).
            bounds={"amount": args.minor_units, "currency": args.currency},
        )
        print(f"asked {args.owner} for consent: request {request.id}, waiting for the decision")
        consent_id = wait_for_decision(bank, request.id, args.wait)
        if consent_id is None:
            print("no consent: the customer rejected, or did not decide in time")
            return 3
        params = {"amount": args.minor_units, "currency": args.currency}
        attestation = bank.issue(consent_id, params=params)
        claims = bank.verify(attestation.token)  # offline, against the gateway's published keys
        print(f"attestation {attestation.jti}: {claims}")
        if not claims.get("covers_amount"):
            print(f"refused: the income does not cover {args.amount} {args.currency}")
            return 1
        print(f"executing the purchase of {args.amount} {args.currency} ({args.transaction_ref})")
        try:
            redemption = bank.redeem(attestation, transaction_ref=args.transaction_ref)
        except errors.AttestgateError as exc:
            print(f"redemption refused: {exc.reason}")
            return 1
        print(
            f"redeemed: {redemption.consumed_amount} {redemption.consumed_currency} (minor "
            f"units) of the income consumed, audit log entry {redemption.log_index}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
