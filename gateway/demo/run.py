"""``attestgate demo``: every party plays its part through the SDK, every expectation checked.

Steps: the providers upload; income -> FX purchase; a warehouse receipt pledged (a second bank's
pledge refused); a patent pledge loan; a counterparty check of a company in closure; the
assets' lifecycle (releases, a second pledge, a transfer, the receipt's verified history); the
regulator verifies the log. With ``json_out`` the step-by-step text goes to ``out`` (stderr) and
the evidence bundle to ``json_out``. Exit code 0 only if every expectation held.
"""

from __future__ import annotations

import json
from typing import TextIO

from attestgate.gateway.demo import assets, lifecycle, scenes, witnesses
from attestgate.gateway.demo.cast import CaseRecord, Cast
from attestgate.gateway.demo.evidence import bundle, checkpoint_covering, verify_log
from attestgate.gateway.demo.report import Report
from attestgate.gateway.demo.stage import Stage
from attestgate.sdk.errors import AttestgateError

STEPS = 8


def play(stage: Stage, *, out: TextIO, json_out: TextIO | None = None) -> int:
    """Run the demo on ``stage``; the exit code."""
    report = Report(out, steps=STEPS)
    report.title("attestgate demo: four domains, four providers, two banks, one regulator")
    report.say(f"on {stage.where}")
    report.say(f"target {stage.target}, trusting the CA {stage.tls.ca_file}")
    cast = Cast.assemble(stage)
    try:
        document = _scenes(report, cast)
    except (AttestgateError, TimeoutError) as exc:
        report.crashed(exc)
        document = None
    finally:
        cast.close()
    code = report.summary()
    if json_out is not None and document is not None:
        json.dump(document, json_out, indent=2, sort_keys=False)
        json_out.write("\n")
        json_out.flush()
    return code


def _scenes(report: Report, cast: Cast) -> dict[str, object] | None:
    regulator = cast.audit
    start = regulator.checkpoint()
    report.step("Providers upload signed records")
    report.say(f"the regulator pins the log key and notes the start: {start.size} entries")
    scenes.upload(report, cast)
    report.step("Income -> FX purchase (overseas professional, bank-a)")
    cases: list[CaseRecord] = [scenes.income(report, cast)]
    middle = checkpoint_covering(regulator, cases[0].redemption.log_index + 1)
    report.say(f"the regulator takes a checkpoint mid-demo: {middle.size} entries")
    report.step("Warehouse receipt pledge financing (two banks, one receipt)")
    cases.append(assets.warehouse(report, cast))
    report.step("Patent pledge loan (bank-b)")
    cases.append(assets.patent(report, cast))
    report.step("Counterparty check of a company in closure (bank-a)")
    cases.append(assets.company(report, cast))
    report.step("Asset lifecycle: loans repaid and released, a second pledge, a sale, provenance")
    lifecycle.lifecycle(report, cast, cases[1], cases[2])
    report.step("The regulator verifies the log")
    evidence = verify_log(report, cast, cases, start, middle)
    witnesses.scene(report, cast)
    return None if evidence is None else bundle(cast, cases, evidence)
