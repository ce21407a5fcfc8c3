"""Incomplete results never pass: a fold whose stored result is missing, unreadable or
truncated counts as missing, the summary and report.json say which, and a gate fails with
reason ResultsIncomplete unless the manifest allows missing folds explicitly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loocv_operator.cli import main
from loocv_operator.gate import evaluate_gate
from loocv_operator.metrics import Aggregator
from loocv_operator.plan import Plan
from loocv_operator.results import NOT_RUN_PATH, FoldError, FoldResult, SampleResult
from loocv_operator.spec import GateSpec
from tests.segment_tools import drop_fold, truncate_segment

MakeDoc = Callable[..., dict[str, Any]]
WriteDoc = Callable[[dict[str, Any]], Path]


def run_dir(out: Path) -> Path:
    (plan,) = out.glob("*/*/*/plan.json")
    return plan.parent


@pytest.fixture
def damaged_run(
    tmp_path: Path, run_doc: MakeDoc, manifest_file: WriteDoc, capsys: pytest.CaptureFixture[str]
) -> Callable[[dict[str, Any] | None], Path]:
    """A finished local iris run (brute force, small segments), then fold 7 taken out of its
    segment and the segment holding fold 42 truncated (its folds: 42, 43, 44)."""

    def make(gate: dict[str, Any] | None) -> Path:
        execution = {"fastPath": "disabled"}
        doc = run_doc(gate=gate, execution=execution) if gate else run_doc(execution=execution)
        out = tmp_path / "out"
        argv = ["run", str(manifest_file(doc)), "--local", "--out", str(out), "--workers", "2"]
        assert main(argv) in (0, 3)
        capsys.readouterr()
        directory = run_dir(out)
        plan = Plan.from_json((directory / "plan.json").read_bytes())
        root = directory.parents[2]
        drop_fold(root, plan.location, 7)
        assert truncate_segment(root, plan.location, 42) == [42, 43, 44]
        return directory

    return make


def test_report_over_deleted_and_truncated_folds_fails_the_gate(
    damaged_run: Callable[[dict[str, Any] | None], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    directory = damaged_run({"accuracy": {"min": 0.5}})
    assert main(["report", str(directory)]) == 3
    out, err = capsys.readouterr()
    assert "146/150 done, 0 failed, 4 missing" in out
    assert "results incomplete: 4 of 150 folds have no computed result (folds 7, 42, 43, 44)" in out
    assert "WARNING" in out and "gate failed" in err
    report = json.loads((directory / "report.json").read_text())
    assert report["summary"]["folds"]["missing"] == 4
    assert report["summary"]["folds"]["missingIndices"] == [7, 42, 43, 44]
    assert report["gate"]["passed"] is False
    assert report["outcome"] == {
        "state": "gate-failed",
        "exitCode": 3,
        "message": report["outcome"]["message"],
    }


def test_missing_folds_allowed_explicitly_pass(
    damaged_run: Callable[[dict[str, Any] | None], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    directory = damaged_run({"accuracy": {"min": 0.5}, "missingFolds": {"max": 4}})
    assert main(["report", str(directory)]) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out
    assert "WARNING" in out and "4 missing" in out  # still said, even when allowed


def test_without_a_gate_incomplete_results_are_still_said(
    damaged_run: Callable[[dict[str, Any] | None], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    directory = damaged_run(None)
    assert main(["report", str(directory)]) == 0
    out = capsys.readouterr().out
    assert "results incomplete" in out and "gate         none" in out


def test_a_rerun_recomputes_the_damaged_folds(
    tmp_path: Path, run_doc: MakeDoc, manifest_file: WriteDoc, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = run_doc(gate={"accuracy": {"min": 0.5}}, execution={"fastPath": "disabled"})
    path = manifest_file(doc)
    out = tmp_path / "out"
    argv = ["run", str(path), "--local", "--out", str(out), "--workers", "2"]
    assert main(argv) == 0
    directory = run_dir(out)
    plan = Plan.from_json((directory / "plan.json").read_bytes())
    lost = truncate_segment(directory.parents[2], plan.location, 3)
    capsys.readouterr()
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert f"resumed: {150 - len(lost)} folds were already stored" in captured.err
    assert "150/150 done" in captured.out


def test_a_changed_gate_reuses_the_stored_folds(
    tmp_path: Path, run_doc: MakeDoc, manifest_file: WriteDoc, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    first = manifest_file(run_doc(gate={"accuracy": {"min": 0.5}}), "a.yaml")
    assert main(["run", str(first), "--local", "--out", str(out)]) == 0
    capsys.readouterr()
    changed = run_doc(
        gate={"accuracy": {"min": 0.99}}, execution={"foldsPerJob": 7, "maxConcurrentJobs": 2}
    )
    assert main(["run", str(manifest_file(changed, "b.yaml")), "--local", "--out", str(out)]) == 3
    printed = capsys.readouterr().out
    assert "reused       150 folds stored by an earlier run" in printed
    assert len(list(out.glob("*/*/*/plan.json"))) == 1  # the same directory
    # ...but another model is another key
    other = run_doc(model={"estimator": "sklearn.linear_model.RidgeClassifier"})
    assert main(["run", str(manifest_file(other, "c.yaml")), "--local", "--out", str(out)]) == 0
    assert len(list(out.glob("*/*/*/plan.json"))) == 2


def sample(row: int, y_pred: int | None = 0) -> SampleResult:
    return SampleResult(row, str(row), 0, y_pred, None, 0.0)


def test_folds_the_operator_never_ran_count_as_missing() -> None:
    agg = Aggregator("classification", [0, 1], 4)
    agg.add(FoldResult(0, [sample(0)]))
    agg.add(FoldResult(1, [sample(1, None)], error=FoldError("ValueError", "bad row")))
    agg.add(
        FoldResult(
            2, [sample(2, None)], error=FoldError("RetriesExhausted", "x"), path=NOT_RUN_PATH
        )
    )
    folds = agg.summary()["folds"]
    assert folds == {
        "total": 4,
        "done": 2,
        "succeeded": 1,
        "failed": 1,
        "missing": 2,
        "notRun": 1,
        "missingIndices": [2, 3],
    }
    verdict = evaluate_gate(GateSpec.model_validate({"failedFolds": {"max": 5}}), agg.summary())
    assert not verdict.passed and verdict.reason == "ResultsIncomplete"
    assert "1 never ran" in verdict.failures[0]
