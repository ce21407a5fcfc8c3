"""The run's artifacts: predictions.csv, report.json, report.html, and writing them."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import Ridge
from sklearn.model_selection import LeaveOneOut, cross_val_predict

from loocv_operator.folds import Fold
from loocv_operator.gate import GateVerdict, evaluate_gate
from loocv_operator.metrics import summarize
from loocv_operator.plan import Plan
from loocv_operator.report import (
    REPORT_SCHEMA_VERSION,
    build_report,
    predictions_csv,
    report_html,
    write_report,
)
from loocv_operator.results import FoldError, FoldResult, SampleResult
from loocv_operator.spec import parse_spec
from loocv_operator.store import LocalStore, RunLocation

NAMES = ["setosa", "versicolor", "virginica"]
EVIL_ID = "<script>alert('x')</script>"
EVIL_MESSAGE = 'bad value, "quoted"\nsecond line <b>bold</b>'


def make_plan(task: str, classes: list[Any] | None, n: int, builtin: str) -> Plan:
    estimator = (
        "sklearn.discriminant_analysis.LinearDiscriminantAnalysis"
        if task == "classification"
        else "sklearn.linear_model.Ridge"
    )
    spec = parse_spec(
        {
            "dataset": {"builtin": builtin},
            "model": {"estimator": estimator},
            "gate": {"accuracy": {"min": 0.99}} if task == "classification" else None,
        }
    )
    return Plan(
        location=RunLocation("team-a", "my-run", "uid-123"),
        spec=spec,
        spec_digest=spec.digest(),
        dataset_digest="ab" * 32,
        n_samples=n,
        task=task,
        classes=classes,
        folds=[Fold(i, (i,)) for i in range(n)],
        batches=[list(range(n))],
    )


@pytest.fixture(scope="module")
def iris_run() -> tuple[Plan, list[FoldResult]]:
    """Iris LOO with string labels; fold 3 failed, fold 5 missing, fold 7 has an evil id."""
    X, y = load_iris(return_X_y=True)
    proba = cross_val_predict(
        LinearDiscriminantAnalysis(), X, y, cv=LeaveOneOut(), method="predict_proba"
    )
    results = []
    for i in range(len(y)):
        if i == 5:
            continue
        sample_id = EVIL_ID if i == 7 else f"flower-{i}"
        if i == 3:
            sample = SampleResult(row=i, id=sample_id, y_true=NAMES[y[i]])
            results.append(
                FoldResult(index=i, samples=[sample], error=FoldError("ValueError", EVIL_MESSAGE))
            )
            continue
        p = proba[i].tolist()
        sample = SampleResult(
            row=i,
            id=sample_id,
            y_true=NAMES[y[i]],
            y_pred=NAMES[int(np.argmax(p))],
            proba=p,
            loss=-math.log(max(p[y[i]], 1e-16)),
        )
        results.append(
            FoldResult(index=i, samples=[sample], fit_seconds=0.002, predict_seconds=0.001)
        )
    results.reverse()  # arrival order is not row order
    return make_plan("classification", NAMES, len(y), "iris"), results


@pytest.fixture(scope="module")
def diabetes_run() -> tuple[Plan, list[FoldResult]]:
    X, y = load_diabetes(return_X_y=True)
    predicted = cross_val_predict(Ridge(), X, y, cv=LeaveOneOut())
    results = [
        FoldResult(
            index=i,
            samples=[
                SampleResult(
                    row=i,
                    id=str(i),
                    y_true=float(y[i]),
                    y_pred=float(predicted[i]),
                    loss=float((y[i] - predicted[i]) ** 2),
                )
            ],
            path="ridge-hat",
        )
        for i in range(len(y))
    ]
    return make_plan("regression", None, len(y), "diabetes"), results


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def charts_in(page: str) -> list[str]:
    """The <title> of every inline SVG chart."""
    return re.findall(r'<svg class="chart"[^>]*><title>([^<]*)</title>', page)


# ------------------------------------------------------------------ predictions.csv


def test_predictions_csv_one_row_per_sample(iris_run: Any) -> None:
    plan, results = iris_run
    text = predictions_csv(plan, results + results[:10])  # duplicates count once
    rows = parse_csv(text)
    assert list(rows[0]) == [
        "row",
        "id",
        "fold",
        "y_true",
        "y_pred",
        "correct",
        "proba_setosa",
        "proba_versicolor",
        "proba_virginica",
        "loss",
        "fit_seconds",
        "status",
        "error_type",
        "error_message",
    ]
    assert len(rows) == 149  # fold 5 has no result: no row
    assert [int(r["row"]) for r in rows] == sorted(i for i in range(150) if i != 5)
    by_row = {int(r["row"]): r for r in rows}
    failed = by_row[3]
    assert failed["status"] == "failed" and failed["error_type"] == "ValueError"
    assert failed["error_message"] == EVIL_MESSAGE  # commas, quotes and newline survive
    assert failed["y_pred"] == "" and failed["proba_setosa"] == "" and failed["loss"] == ""
    assert by_row[7]["id"] == EVIL_ID
    ok = by_row[0]
    assert ok["status"] == "ok" and ok["y_true"] == "setosa" and ok["correct"] == "1"
    proba = [float(ok[f"proba_{name}"]) for name in NAMES]
    assert sum(proba) == pytest.approx(1.0)
    assert float(ok["loss"]) == pytest.approx(-math.log(proba[0]))
    wrong = [r for r in rows if r["status"] == "ok" and r["y_true"] != r["y_pred"]]
    assert wrong and all(r["correct"] == "0" for r in wrong)


def test_predictions_csv_floats_round_trip(iris_run: Any) -> None:
    plan, results = iris_run
    rows = {int(r["row"]): r for r in parse_csv(predictions_csv(plan, results))}
    for result in results:
        sample = result.samples[0]
        if sample.proba is not None:
            assert float(rows[sample.row]["proba_virginica"]) == sample.proba[2]


def test_predictions_csv_regression(diabetes_run: Any) -> None:
    plan, results = diabetes_run
    rows = parse_csv(predictions_csv(plan, results))
    assert list(rows[0]) == [
        "row",
        "id",
        "fold",
        "y_true",
        "y_pred",
        "error",
        "loss",
        "fit_seconds",
        "status",
        "error_type",
        "error_message",
    ]
    assert len(rows) == 442
    first = rows[0]
    assert float(first["error"]) == pytest.approx(float(first["y_pred"]) - float(first["y_true"]))
    assert float(first["loss"]) == pytest.approx(float(first["error"]) ** 2)


def test_predictions_csv_without_probabilities_has_no_proba_columns() -> None:
    plan = make_plan("classification", [0, 1], 2, "breast_cancer")
    results = [
        FoldResult(i, [SampleResult(i, str(i), i, 0, None, float(i != 0))]) for i in range(2)
    ]
    rows = parse_csv(predictions_csv(plan, results))
    assert not any(key.startswith("proba_") for key in rows[0])
    assert [r["correct"] for r in rows] == ["1", "0"]


# ------------------------------------------------------------------ report.json


def test_report_json(iris_run: Any) -> None:
    plan, results = iris_run
    summary = summarize(plan, results)
    verdict = evaluate_gate(plan.spec.gate, summary)
    report = json.loads(json.dumps(build_report(plan, summary, verdict), allow_nan=False))
    assert report["schemaVersion"] == REPORT_SCHEMA_VERSION == 1
    assert report["run"] == {"namespace": "team-a", "name": "my-run", "uid": "uid-123"}
    assert report["spec"]["dataset"] == {"builtin": "iris"}
    assert report["specDigest"] == plan.spec_digest
    assert report["datasetDigest"] == plan.dataset_digest
    assert report["task"] == "classification" and report["classes"] == NAMES
    assert report["summary"]["folds"]["missing"] == 1
    assert report["summary"]["folds"]["failed"] == 1
    assert report["gate"] == {
        "passed": False,
        "evaluated": True,
        "failures": verdict.failures,
        "reason": "ResultsIncomplete",  # the GatePassed condition's, for the operator to copy
        "incomplete": True,
    }
    assert report["trainerVersions"] == [results[0].trainer_version]
    assert report["generatedAt"].endswith("Z")


# ------------------------------------------------------------------ report.html


def test_report_html_classification(iris_run: Any) -> None:
    plan, results = iris_run
    summary = summarize(plan, results)
    verdict = evaluate_gate(plan.spec.gate, summary)
    page = report_html(plan, summary, verdict, results)
    assert page.startswith("<!DOCTYPE html>")
    assert "Gate FAILED" in page
    assert "accuracy 0.9" in page and "&lt; min 0.99" in page
    # three classes: no ROC; the reliability diagram (two panels) and the log-loss histogram
    assert charts_in(page) == [
        "Reliability diagram",
        "Samples per confidence bin (log scale)",
        "Per-sample log loss",
    ]
    assert page.count("<script") == 1 and "<script src" not in page  # ours, inline
    assert EVIL_ID not in page
    assert "<b>bold</b>" not in page  # the failure message is escaped
    assert "second line &lt;b&gt;bold&lt;/b&gt;" in page
    assert "ValueError" in page and "Label-noise candidates" in page
    assert "versicolor" in page
    assert "http://" not in page and "https://" not in page  # nothing fetched from a server


def test_report_html_worst_sample_with_evil_id(iris_run: Any) -> None:
    plan, results = iris_run
    evil = FoldResult(
        index=7,
        samples=[
            SampleResult(
                row=7,
                id=EVIL_ID,
                y_true="setosa",
                y_pred="virginica",
                proba=[0.0, 0.01, 0.99],
                loss=30.0,
            )
        ],
    )
    results = [*results, evil]
    summary = summarize(plan, results)
    assert summary["worstSamples"][0]["id"] == EVIL_ID
    page = report_html(plan, summary, evaluate_gate(None, summary), results)
    assert EVIL_ID not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "not evaluated" in page


def test_report_html_regression(diabetes_run: Any) -> None:
    plan, results = diabetes_run
    summary = summarize(plan, results)
    page = report_html(plan, summary, GateVerdict(True, [], True), results)
    assert "Gate PASSED" in page
    assert charts_in(page) == ["Predicted vs true", "Residuals", "Per-sample squared error"]
    assert "R²" in page and "Confusion matrix" not in page


def test_report_html_with_no_results() -> None:
    plan = make_plan("classification", ["$a", "b"], 3, "iris")
    summary = summarize(plan, [])
    page = report_html(plan, summary, evaluate_gate(plan.spec.gate, summary), [])
    assert "No evaluated samples yet" in page
    assert "accuracy unavailable" in page


def test_importing_report_does_not_import_matplotlib() -> None:
    code = "import sys, loocv_operator.report; print('matplotlib' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "False"


# ------------------------------------------------------------------ write_report


def test_write_report_to_a_local_store(tmp_path: Path, iris_run: Any) -> None:
    plan, results = iris_run
    store = LocalStore(tmp_path)
    summary = summarize(plan, results)
    verdict = evaluate_gate(plan.spec.gate, summary)
    written = write_report(store, plan, results, summary, verdict)
    assert set(written) == {"report.json", "predictions.csv", "report.html"}
    for name, uri in written.items():
        key = plan.location.artifact(name)
        assert key == f"team-a/my-run/uid-123/{name}"
        assert store.exists(key)
        assert uri == store.uri(key) and Path(uri).is_file()
    report = json.loads(store.get(plan.location.artifact("report.json")))
    assert report["schemaVersion"] == 1 and report["gate"]["passed"] is False
    rows = parse_csv(store.get(plan.location.artifact("predictions.csv")).decode())
    assert len(rows) == 149
    assert b"Gate FAILED" in store.get(plan.location.artifact("report.html"))
