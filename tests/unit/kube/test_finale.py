"""report.json's gate read back is the verdict it was written from."""

from __future__ import annotations

import json

import pytest

from loocv_operator.gate import GateVerdict
from loocv_operator.kube.finale import verdict_of
from loocv_operator.report import build_report


@pytest.mark.parametrize(
    "verdict",
    [
        GateVerdict(True),
        GateVerdict(True, evaluated=False),
        GateVerdict(False, ["accuracy 0.5 < min 0.9"]),
        GateVerdict(False, ["3 folds missing"], incomplete=True),
        GateVerdict(False, ["worse than baseline"], reason_override="WorseThanBaseline"),
    ],
)
def test_the_verdict_survives_report_json(verdict: GateVerdict) -> None:
    from tests.unit.test_report import make_plan

    plan = make_plan("classification", [0, 1], 2, "breast_cancer")
    summary = {"folds": {"done": 2, "succeeded": 2}}
    gate = json.loads(json.dumps(build_report(plan, summary, verdict)))["gate"]
    back = verdict_of(gate)
    assert (back.passed, back.evaluated, back.failures, back.reason) == (
        verdict.passed,
        verdict.evaluated,
        verdict.failures,
        verdict.reason,
    )
