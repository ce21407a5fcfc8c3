"""report.json's gate read back is the verdict it was written from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loocv_operator.gate import GateVerdict
from loocv_operator.kube.finale import read_report, verdict_of
from loocv_operator.report import build_report
from loocv_operator.store import LocalStore
from loocv_operator.usage import Usage


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


def test_a_report_over_fewer_folds_than_computed_is_not_read_and_its_usage_is(
    tmp_path: Path,
) -> None:
    """A run its budget stopped wrote a report over the folds it had; reopened by a raised
    budget, that report is not the end of the run that now has more."""
    from tests.unit.test_report import make_plan

    plan = make_plan("classification", [0, 1], 2, "breast_cancer")
    store = LocalStore(tmp_path)
    summary = {"folds": {"total": 5, "done": 2, "succeeded": 2}}
    usage = Usage(executor="cluster", core_seconds=12.5, pods_started=1)
    document = build_report(plan, summary, GateVerdict(True), usage)
    store.put(plan.location.artifact("report.json"), json.dumps(document).encode())
    report = read_report(store, plan, computed=2)
    assert report is not None and report.usage == usage.to_json()
    assert read_report(store, plan, computed=3) is None
