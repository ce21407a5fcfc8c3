"""The quality gate: every threshold passes and fails with its reason; it fails closed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from loocv_operator.gate import GateVerdict, evaluate_gate
from loocv_operator.metrics import Aggregator
from loocv_operator.results import FoldError, FoldResult, SampleResult
from loocv_operator.spec import GateSpec


def gate(**fields: Any) -> GateSpec:
    """A GateSpec from manifest spelling, validated like a real manifest."""
    return GateSpec.model_validate(fields)


def classification_summary(**metric_overrides: Any) -> dict[str, Any]:
    metrics = {
        "accuracy": 0.912,
        "accuracyCI95": [0.88, 0.94],
        "logLoss": 0.25,
        "brier": 0.07,
        "ece": 0.03,
        "eceBins": 15,
        "perClass": {
            "benign": {"precision": 0.95, "recall": 0.97, "f1": 0.96, "support": 357},
            "malignant": {"precision": 0.93, "recall": 0.71, "f1": 0.8, "support": 212},
        },
        "confusionMatrix": {"labels": ["benign", "malignant"], "matrix": [[346, 11], [61, 151]]},
        "lossMean": 0.25,
        "lossStd": 0.4,
    }
    metrics.update(metric_overrides)
    return {
        "task": "classification",
        "folds": {"total": 569, "done": 569, "succeeded": 567, "failed": 2, "missing": 0},
        "samples": {"evaluated": 567, "failed": 2},
        "failureRate": 2 / 569,
        "metrics": metrics,
    }


def regression_summary(**metric_overrides: Any) -> dict[str, Any]:
    metrics = {
        "mae": 43.2,
        "maeCI95": [40.0, 46.0],
        "rmse": 54.1,
        "rmseCI95": [50.0, 58.0],
        "r2": 0.49,
        "r2CI95": [0.4, 0.55],
        "lossMean": 2900.0,
        "lossStd": 3000.0,
    }
    metrics.update(metric_overrides)
    return {
        "task": "regression",
        "folds": {"total": 442, "done": 442, "succeeded": 442, "failed": 0, "missing": 0},
        "samples": {"evaluated": 442, "failed": 0},
        "failureRate": 0.0,
        "metrics": metrics,
    }


def test_no_gate_passes_unevaluated() -> None:
    verdict = evaluate_gate(None, classification_summary())
    assert verdict == GateVerdict(passed=True, failures=[], evaluated=False)


def test_an_empty_gate_is_refused() -> None:
    """It would pass everything while the status said "GatePassed": not a gate."""
    with pytest.raises(ValidationError, match="an empty gate passes everything"):
        gate()


CASES = [
    # (gate fields, summary, passing bound, failing bound, expected reason)
    (
        "accuracy",
        classification_summary(),
        {"min": 0.9},
        {"min": 0.95},
        "accuracy 0.912 < min 0.95",
    ),
    ("logLoss", classification_summary(), {"max": 0.3}, {"max": 0.2}, "log loss 0.25 > max 0.2"),
    ("brier", classification_summary(), {"max": 0.1}, {"max": 0.05}, "brier score 0.07 > max 0.05"),
    ("ece", classification_summary(), {"max": 0.05}, {"max": 0.02}, "ece 0.03 > max 0.02"),
    ("mae", regression_summary(), {"max": 50}, {"max": 40}, "mae 43.2 > max 40"),
    ("rmse", regression_summary(), {"max": 60}, {"max": 50}, "rmse 54.1 > max 50"),
    ("r2", regression_summary(), {"min": 0.4}, {"min": 0.5}, "r2 0.49 < min 0.5"),
    ("failedFolds", classification_summary(), {"max": 2}, {"max": 0}, "failed folds 2 > max 0"),
    (
        "failureRate",
        classification_summary(),
        {"max": 0.01},
        {"max": 0.001},
        "failure rate 0.00351 > max 0.001",
    ),
]


@pytest.mark.parametrize(
    ("field", "summary", "ok", "breach", "reason"), CASES, ids=[c[0] for c in CASES]
)
def test_each_threshold_passes_and_fails(
    field: str,
    summary: dict[str, Any],
    ok: dict[str, Any],
    breach: dict[str, Any],
    reason: str,
) -> None:
    assert evaluate_gate(gate(**{field: ok}), summary) == GateVerdict(True, [], True)
    verdict = evaluate_gate(gate(**{field: breach}), summary)
    assert not verdict.passed and verdict.evaluated
    assert verdict.failures == [reason]


def test_bounds_are_inclusive() -> None:
    summary = classification_summary(accuracy=0.95, logLoss=0.2)
    assert evaluate_gate(gate(accuracy={"min": 0.95}, logLoss={"max": 0.2}), summary).passed
    assert evaluate_gate(gate(failedFolds={"max": 2}), summary).passed


def test_class_recall_names_every_class_below_the_bound() -> None:
    summary = classification_summary()
    assert evaluate_gate(gate(classRecall={"min": 0.7}), summary).passed
    verdict = evaluate_gate(gate(classRecall={"min": 0.8}), summary)
    assert verdict.failures == ["recall of class 'malignant' 0.71 < min 0.8"]
    verdict = evaluate_gate(gate(classRecall={"min": 0.99}), summary)
    assert verdict.failures == [
        "recall of class 'benign' 0.97 < min 0.99",
        "recall of class 'malignant' 0.71 < min 0.99",
    ]


def test_class_without_held_out_samples_is_not_judged() -> None:
    """A subset run holding out malignant samples only has no benign recall to judge."""
    per_class = {
        "benign": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
        "malignant": {"precision": 1.0, "recall": 0.9, "f1": 0.95, "support": 40},
    }
    assert evaluate_gate(
        gate(classRecall={"min": 0.8}), classification_summary(perClass=per_class)
    ).passed


def test_breaches_are_all_listed_in_field_order() -> None:
    verdict = evaluate_gate(
        gate(
            accuracy={"min": 0.95},
            classRecall={"min": 0.8},
            ece={"max": 0.01},
            failedFolds={"max": 0},
        ),
        classification_summary(),
    )
    assert verdict.failures == [
        "accuracy 0.912 < min 0.95",
        "recall of class 'malignant' 0.71 < min 0.8",
        "ece 0.03 > max 0.01",
        "failed folds 2 > max 0",
    ]


def test_value_shows_enough_digits_to_see_the_breach() -> None:
    verdict = evaluate_gate(gate(accuracy={"min": 0.95}), classification_summary(accuracy=0.94999))
    assert verdict.failures == ["accuracy 0.94999 < min 0.95"]


def test_missing_probabilities_fail_with_a_reason() -> None:
    summary = classification_summary(logLoss=None, brier=None, ece=None)
    verdict = evaluate_gate(gate(logLoss={"max": 0.3}, brier={"max": 0.1}), summary)
    assert not verdict.passed
    assert len(verdict.failures) == 2
    assert all("unavailable" in f and "predict_proba" in f for f in verdict.failures)
    assert verdict.failures[0].startswith("log loss")


def test_no_successful_fold_fails_every_metric_threshold() -> None:
    aggregator = Aggregator("classification", [0, 1], 2)
    for i in range(2):
        aggregator.add(
            FoldResult(
                index=i,
                samples=[SampleResult(row=i, id=str(i), y_true=0)],
                error=FoldError("ValueError", "boom"),
            )
        )
    verdict = evaluate_gate(
        gate(accuracy={"min": 0.5}, classRecall={"min": 0.5}, failureRate={"max": 1.0}),
        aggregator.summary(),
    )
    assert verdict.failures == [
        "accuracy unavailable: no fold succeeded",
        "class recall unavailable: no fold succeeded",
    ]


def test_threshold_for_the_other_task_fails() -> None:
    verdict = evaluate_gate(gate(mae={"max": 10}), classification_summary())
    assert verdict.failures == [
        "mae unavailable: it applies to regression runs, this run is classification"
    ]
    verdict = evaluate_gate(
        gate(accuracy={"min": 0.5}, classRecall={"min": 0.5}), regression_summary()
    )
    assert len(verdict.failures) == 2 and not verdict.passed


def test_r2_unavailable_reason() -> None:
    summary = regression_summary(r2=None, r2CI95=None)
    summary["samples"]["evaluated"] = 1
    verdict = evaluate_gate(gate(r2={"min": 0.1}), summary)
    assert verdict.failures == ["r2 unavailable: undefined for fewer than 2 evaluated samples"]


def test_failed_folds_against_a_real_aggregate() -> None:
    aggregator = Aggregator("regression", None, 3)
    aggregator.add(FoldResult(0, [SampleResult(0, "a", 1.0, 1.5, None, 0.25)]))
    aggregator.add(FoldResult(1, [SampleResult(1, "b", 2.0)], error=FoldError("E", "x")))
    summary = aggregator.summary()
    verdict = evaluate_gate(
        gate(failedFolds={"max": 0}, failureRate={"max": 0.25}, mae={"max": 1.0}), summary
    )
    assert verdict.failures == [
        "results incomplete: 1 of 3 folds has no computed result (folds 2) > max 0",
        "failed folds 1 > max 0",
        "failure rate 0.5 > max 0.25",
    ]
    assert verdict.incomplete and verdict.reason == "ResultsIncomplete"
