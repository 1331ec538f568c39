"""Step-by-step output of ``attestgate demo`` and the tally of its expectations.

Each expectation is checked and printed as ``[ok]`` or ``[FAIL]``; the demo exits 0 only if none
failed. ``refused`` runs a call that must be refused with a given reason and returns the SDK error
(or ``None`` after printing the failure if the call succeeded or failed otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TextIO, TypeVar

from attestgate.sdk.errors import AttestgateError

T = TypeVar("T")


class Report:
    """Prints steps, actions and checked expectations to ``out``; counts the failures."""

    def __init__(self, out: TextIO, *, steps: int) -> None:
        self._out = out
        self._steps = steps
        self._step = 0
        self.passed = 0
        self.failed: list[str] = []

    def _print(self, text: str) -> None:
        print(text, file=self._out, flush=True)

    def title(self, text: str) -> None:
        """The banner line."""
        self._print(text)

    def step(self, title: str) -> None:
        """Start the next numbered step."""
        self._step += 1
        self._print(f"\n[{self._step}/{self._steps}] {title}")

    def say(self, text: str) -> None:
        """What a party does (not checked)."""
        self._print(f"      {text}")

    def expect(self, holds: bool, text: str, *, detail: str = "") -> bool:
        """Check one expectation and print it; returns whether it held."""
        if holds:
            self.passed += 1
            self._print(f"  [ok] {text}")
        else:
            self.failed.append(text)
            self._print(f"  [FAIL] {text}" + (f": {detail}" if detail else ""))
        return holds

    def check(self, call: Callable[[], T], text: str) -> T | None:
        """Expect ``call`` (a verification) to pass; its result, or ``None`` if it raised."""
        try:
            result = call()
        except AttestgateError as exc:
            self.expect(False, text, detail=f"{type(exc).__name__}: {exc}")
            return None
        self.expect(True, text)
        return result

    def refused(self, call: Callable[[], Any], reason: str, text: str) -> AttestgateError | None:
        """Expect ``call`` to be refused with ``reason``; the error when it was."""
        try:
            outcome = call()
        except AttestgateError as exc:
            held = self.expect(
                str(exc.reason) == reason,
                f"{text}: {exc.code} {exc.reason}",
                detail=f"expected {reason}",
            )
            return exc if held else None
        self.expect(False, text, detail=f"expected {reason}, but it succeeded: {outcome!r}")
        return None

    def crashed(self, error: BaseException) -> None:
        """An unexpected error ended the demo early."""
        self.failed.append(f"unexpected {type(error).__name__}")
        self._print(f"  [FAIL] the demo stopped: {type(error).__name__}: {error}")

    def summary(self) -> int:
        """Print the tally; the exit code (0 only if every expectation held)."""
        if self.failed:
            self._print(
                f"\n{len(self.failed)} of {self.passed + len(self.failed)} expectations FAILED:"
            )
            for text in self.failed:
                self._print(f"  - {text}")
            return 1
        self._print(f"\nall {self.passed} expectations held")
        return 0


def money(minor: int, currency: str) -> str:
    """``35617000, "CNY"`` -> ``"356,170.00 CNY"`` (two minor digits: CNY, USD)."""
    return f"{minor // 100:,}.{minor % 100:02d} {currency}"
