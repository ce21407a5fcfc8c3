"""report.html as a reader sees it: what ran, the gate against the values achieved, names
instead of codes, baselines, curves, intervals, readable numbers, warnings."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from html import unescape
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import LeaveOneOut, cross_val_predict

from loocv_operator.folds import Fold
from loocv_operator.gate import evaluate_gate
from loocv_operator.metrics import summarize
from loocv_operator.plan import Plan
from loocv_operator.report import report_html
from loocv_operator.results import FoldError, FoldResult, SampleResult
from loocv_operator.spec import parse_spec
from loocv_operator.store import RunLocation
from tests.unit import test_report as _runs

diabetes_run = _runs.diabetes_run
iris_run = _runs.iris_run


def text_of(page: str) -> str:
    """The visible text, roughly: tags removed, entities decoded, spaces squeezed."""
    body = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body)))


def binary_plan(
    n: int, gate: dict[str, Any] | None = None, strategy: dict[str, Any] | None = None
) -> Plan:
    spec = parse_spec(
        {
            "dataset": {"builtin": "breast_cancer"},
            "model": {
                "estimator": "sklearn.discriminant_analysis.LinearDiscriminantAnalysis",
                "params": {"solver": "lsqr", "shrinkage": 0.1},
                "preprocessing": [{"estimator": "sklearn.preprocessing.StandardScaler"}],
            },
            "strategy": strategy or {"type": "LeaveOneOut"},
            "gate": gate or {"accuracy": {"min": 0.99}, "classRecall": {"min": 0.9}},
        }
    )
    return Plan(
        location=RunLocation("ml", "bc", "uid-1"),
        spec=spec,
        spec_digest=spec.digest(),
        dataset_digest="cd" * 32,
        n_samples=n,
        task="classification",
        classes=[0, 1],
        folds=[Fold(i, (i,)) for i in range(n)],
        batches=[list(range(n))],
    )


@pytest.fixture(scope="module")
def bc() -> tuple[Plan, list[FoldResult]]:
    X, y = load_breast_cancer(return_X_y=True)
    model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=0.1)
    proba = cross_val_predict(model, X, y, cv=LeaveOneOut(), method="predict_proba")
    results = [
        FoldResult(
            index=i,
            samples=[
                SampleResult(
                    row=i,
                    id=str(i),
                    y_true=int(y[i]),
                    y_pred=int(np.argmax(proba[i])),
                    proba=proba[i].tolist(),
                    loss=-math.log(max(proba[i][y[i]], 1e-16)),
                )
            ],
        )
        for i in range(len(y))
    ]
    return binary_plan(len(y)), results


def page_of(plan: Plan, results: list[FoldResult], summary: dict[str, Any] | None = None) -> str:
    summary = summary or summarize(plan, results)
    return report_html(plan, summary, evaluate_gate(plan.spec.gate, summary), results)


def test_header_names_the_pipeline_its_parameters_and_the_data(bc: Any) -> None:
    page = text_of(page_of(*bc))
    assert "StandardScaler() → LinearDiscriminantAnalysis(solver='lsqr', shrinkage=0.1)" in page
    assert "dataset builtin breast_cancer" in page and "569 samples" in page
    assert "classes malignant (0), benign (1)" in page


def test_subset_is_named_in_the_header(bc: Any) -> None:
    _plan, results = bc
    subset = binary_plan(569, strategy={"type": "LeaveOneOut", "subset": {"labels": [0]}})
    page = text_of(page_of(subset, results))
    assert "of a subset: the samples labelled 0 (each fold trains on every other sample)" in page


def test_gate_shows_each_threshold_against_the_value_achieved(bc: Any) -> None:
    page = text_of(page_of(*bc))
    assert "Gate FAILED" in page
    accuracy = re.search(r"accuracy ≥ 0\.99 (0\.\d+) breached", page)
    assert accuracy is not None and float(accuracy.group(1)) < 0.99
    recall = re.search(
        r"recall of every class \(lowest: malignant \(0\)\) ≥ 0\.9 (0\.\d+) breached", page
    )
    assert recall is not None and float(recall.group(1)) < 0.9
    loose = binary_plan(569, gate={"accuracy": {"min": 0.5}})
    assert re.search(r"accuracy ≥ 0\.5 0\.\d+ met", text_of(page_of(loose, bc[1])))


def test_classes_by_name_with_recall_intervals_and_a_baseline(bc: Any) -> None:
    page = text_of(page_of(*bc))
    row = re.search(r"malignant \(0\) 212 (0\.\d+) (0\.\d+) to (0\.\d+)", page)
    assert row is not None
    recall, low, high = map(float, row.groups())
    assert low < recall < high
    majority = re.search(r"accuracy (0\.\d+) (0\.\d+) to (0\.\d+) (0\.\d+)", page)
    assert majority is not None and float(majority.group(4)) == pytest.approx(357 / 569, abs=2e-3)
    assert "Baseline: majority class / class priors" in page


def test_binary_runs_get_roc_and_pr_curves_and_both_eces(bc: Any) -> None:
    raw = page_of(*bc)
    page = text_of(raw)
    assert "ROC curve, positive class benign (1)" in raw
    assert "Precision-recall curve, positive class benign (1)" in raw
    assert re.search(r"ROC AUC 0\.9\d+ 0\.5 ", page)
    assert "ECE, 15 equal-width bins (gate)" in page and "ECE, 15 equal-mass bins" in page


def test_reliability_counts_are_on_a_log_axis_with_the_count_written(bc: Any) -> None:
    raw = page_of(*bc)
    assert "Samples per confidence bin (log scale)" in raw
    assert ">samples (log)<" in raw
    # the crowded top bin and a sparse one both carry their count as text
    counts = [int(c) for c in re.findall(r'font-size="9" text-anchor="middle"[^>]*>(\d+)<', raw)]
    assert max(counts) > 300 and min(counts) < 10


def test_confusion_matrix_appears_once(bc: Any) -> None:
    raw = page_of(*bc)
    assert raw.count('class="cm"') == 1
    assert "Confusion matrix" in raw


def test_no_loss_histogram_for_zero_one_losses(bc: Any) -> None:
    plan, results = bc
    hard = [
        FoldResult(
            index=r.index,
            samples=[
                SampleResult(
                    row=s.row,
                    id=s.id,
                    y_true=s.y_true,
                    y_pred=s.y_pred,
                    loss=float(s.y_true != s.y_pred),
                )
                for s in r.samples
            ],
        )
        for r in results
    ]
    raw = page_of(plan, hard)
    assert "Per-sample loss" not in raw and "no class probabilities" in raw


def test_worst_samples_show_probabilities_not_the_row_twice(bc: Any) -> None:
    page = text_of(page_of(*bc))
    section = page.split("Worst samples", 1)[1].split("Label-noise", 1)[0]
    assert "sample true predicted loss P(true) P(predicted)" in section
    assert " row " not in section  # ids are the row numbers here: shown once


def test_regression_numbers_are_short(diabetes_run: Any) -> None:
    plan, results = diabetes_run
    page = text_of(page_of(plan, results))
    section = page.split("Worst samples", 1)[1]
    assert not re.search(r"\d\.\d{7,}", section), "a float printed with too many digits"
    assert "mean predictor" in page


def test_spec_is_collapsed_tables_sortable_versions_listed(bc: Any) -> None:
    raw = page_of(*bc)
    assert "<details><summary>spec (JSON)</summary>" in raw
    assert 'class="sortable"' in raw and "table.sortable" in raw
    assert re.search(
        r"report written with python 3\.\d+\.\d+, loocv-operator [\d.]+, scikit-learn", raw
    )
    assert raw.count("How to read this:") >= 8


def test_failed_and_missing_folds_raise_a_banner_and_empty_classes_show_na(bc: Any) -> None:
    plan, results = bc
    kept = [r for r in results if r.samples[0].y_true == 1][:50]
    kept.append(
        FoldResult(
            index=0,
            samples=[SampleResult(row=0, id="0", y_true=0)],
            error=FoldError("ValueError", "bad row"),
        )
    )
    summary = summarize(plan, kept)
    summary["folds"]["missingIndices"] = [1, 2, 3]
    page = text_of(page_of(plan, kept, summary))
    assert "Incomplete results." in page and "1 fold failed" in page
    assert f"{569 - 51} folds have no result: folds 1, 2, 3…" in page
    assert re.search(r"malignant \(0\) 0 n/a n/a n/a n/a", page)


def test_report_imports_neither_matplotlib_nor_sklearn() -> None:
    code = (
        "import sys, loocv_operator.report; "
        "print(sorted(m for m in ('matplotlib', 'sklearn', 'scipy') if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "[]"


def test_a_below_chance_majority_baseline_is_explained(iris_run: Any) -> None:
    plan, results = iris_run
    page = text_of(page_of(plan, results))
    assert "1 fold has no result" in page
    assert "The majority baseline is below chance" in page
