"""Pooled metrics, checked against scikit-learn's own functions on the same predictions."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    confusion_matrix,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    r2_score,
)
from sklearn.model_selection import KFold, LeaveOneOut, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loocv_operator import metrics, stats
from loocv_operator.folds import Fold
from loocv_operator.metrics import (
    Aggregator,
    bootstrap_ci,
    expected_calibration_error,
    summarize,
    wilson_interval,
)
from loocv_operator.plan import Plan
from loocv_operator.results import FoldError, FoldResult, SampleResult
from loocv_operator.spec import parse_spec
from loocv_operator.store import RunLocation

EPS = float(np.finfo(np.float64).eps)


# ------------------------------------------------------------------ helpers


def cv_results(
    estimator: Any, X: np.ndarray, y: np.ndarray, cv: Any, classification: bool
) -> tuple[list[FoldResult], np.ndarray, np.ndarray | None]:
    """Fold results built from a real cross_val_predict run, losses as the trainer stores
    them; also the pooled predictions and probabilities for the sklearn oracle."""
    classes = np.unique(y)
    if classification:  # one LOO pass: LogisticRegression predicts the argmax class
        proba = cross_val_predict(estimator, X, y, cv=cv, method="predict_proba")
        predicted = classes[proba.argmax(axis=1)]
    else:
        proba = None
        predicted = cross_val_predict(estimator, X, y, cv=cv)
    results = []
    for index, (_, test) in enumerate(cv.split(X, y)):
        samples = []
        for r in test:
            if classification:
                assert proba is not None
                p = proba[r].tolist()
                loss = -math.log(max(p[int(np.searchsorted(classes, y[r]))], EPS))
                samples.append(
                    SampleResult(int(r), f"s{r}", y[r].item(), predicted[r].item(), p, loss)
                )
            else:
                loss = float((y[r] - predicted[r]) ** 2)
                samples.append(
                    SampleResult(int(r), f"s{r}", float(y[r]), float(predicted[r]), None, loss)
                )
        results.append(FoldResult(index=index, samples=samples, fit_seconds=0.01 * (index + 1)))
    return results, predicted, proba


@pytest.fixture(scope="module")
def iris_loo() -> tuple[list[FoldResult], np.ndarray, np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    results, predicted, proba = cv_results(model, X, y, LeaveOneOut(), True)
    assert proba is not None
    return results, y, predicted, proba


@pytest.fixture(scope="module")
def cancer_kfold() -> tuple[list[FoldResult], np.ndarray, np.ndarray, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    results, predicted, proba = cv_results(model, X, y, KFold(10), True)
    assert proba is not None
    return results, y, predicted, proba


@pytest.fixture(scope="module")
def diabetes_loo() -> tuple[list[FoldResult], np.ndarray, np.ndarray]:
    X, y = load_diabetes(return_X_y=True)
    results, predicted, _ = cv_results(Ridge(alpha=1.0), X, y, LeaveOneOut(), False)
    return results, y, predicted


def aggregate(
    task: str, classes: list[Any] | None, results: Sequence[FoldResult], n_folds: int = 0
) -> Aggregator:
    aggregator = Aggregator(task, classes, n_folds or len(results))
    for result in results:
        aggregator.add(result)
    return aggregator


def brute_force_ece(y_true_idx: np.ndarray, proba: np.ndarray, bins: int) -> float:
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    n = len(y_true_idx)
    for m in range(bins):
        members = []
        for i in range(n):
            confidence = float(max(proba[i]))
            inside = edges[m] < confidence <= edges[m + 1] or (m == 0 and confidence == 0.0)
            if inside:
                members.append(i)
        if not members:
            continue
        accuracy = np.mean([int(np.argmax(proba[i])) == y_true_idx[i] for i in members])
        confidence = np.mean([max(proba[i]) for i in members])
        total += abs(accuracy - confidence) * len(members) / n
    return total


def loo_result(
    index: int,
    y_true: Any,
    y_pred: Any = None,
    proba: list[float] | None = None,
    loss: float | None = None,
    error: FoldError | None = None,
    sample_id: str | None = None,
    **extra: Any,
) -> FoldResult:
    sample = SampleResult(
        row=index,
        id=sample_id or f"id{index}",
        y_true=y_true,
        y_pred=None if error else y_pred,
        proba=None if error else proba,
        loss=None if error else loss,
    )
    return FoldResult(index=index, samples=[sample], error=error, **extra)


def strict_json(summary: dict[str, Any]) -> Any:
    return json.loads(json.dumps(summary, allow_nan=False))


# ------------------------------------------------------------------ classification


def test_multiclass_loo_metrics_equal_sklearn(iris_loo: Any) -> None:
    results, y, predicted, proba = iris_loo
    classes = [0, 1, 2]
    summary = aggregate("classification", classes, results).summary()
    m = summary["metrics"]

    assert m["accuracy"] == pytest.approx(accuracy_score(y, predicted))
    correct = int((y == predicted).sum())
    assert m["accuracyCI95"] == pytest.approx(list(wilson_interval(correct, len(y))))
    assert m["logLoss"] == pytest.approx(log_loss(y, proba, labels=classes))
    assert m["brier"] == pytest.approx(brier_score_loss(y, proba, labels=classes))
    assert m["ece"] == pytest.approx(brute_force_ece(y, proba, 15))
    assert m["eceBins"] == 15
    p, r, f, s = precision_recall_fscore_support(y, predicted, labels=classes, zero_division=0)
    for k, label in enumerate(classes):
        stats = m["perClass"][str(label)]
        assert stats["precision"] == pytest.approx(p[k])
        assert stats["recall"] == pytest.approx(r[k])
        assert stats["f1"] == pytest.approx(f[k])
        assert stats["support"] == s[k]
    assert m["confusionMatrix"] == {
        "labels": classes,
        "matrix": confusion_matrix(y, predicted, labels=classes).tolist(),
    }
    losses = [s.loss for res in results for s in res.samples]
    assert m["lossMean"] == pytest.approx(np.mean(losses))
    assert m["lossStd"] == pytest.approx(np.std(losses))
    assert summary["folds"] == {
        "total": 150,
        "done": 150,
        "succeeded": 150,
        "failed": 0,
        "missing": 0,
        "notRun": 0,
        "missingIndices": [],
    }
    assert summary["samples"] == {"evaluated": 150, "failed": 0}
    assert summary["failureRate"] == 0.0
    strict_json(summary)


def test_binary_multi_sample_folds_equal_sklearn(cancer_kfold: Any) -> None:
    results, y, predicted, proba = cancer_kfold
    summary = aggregate("classification", [0, 1], results).summary()
    m = summary["metrics"]
    assert summary["folds"]["total"] == 10
    assert summary["samples"]["evaluated"] == len(y)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, predicted))
    assert m["logLoss"] == pytest.approx(log_loss(y, proba, labels=[0, 1]))
    # binary Brier: sklearn's score of the positive class (classes[1]).
    assert m["brier"] == pytest.approx(brier_score_loss(y, proba[:, 1], pos_label=1))
    assert m["ece"] == pytest.approx(brute_force_ece(y, proba, 15))
    assert m["perClass"]["1"]["recall"] == pytest.approx(
        precision_recall_fscore_support(y, predicted, labels=[0, 1], zero_division=0)[1][1]
    )


def test_string_labels_key_per_class_by_name(iris_loo: Any) -> None:
    results, y, predicted, proba = iris_loo
    names = ["setosa", "versicolor", "virginica"]
    renamed = [
        FoldResult(
            index=r.index,
            samples=[
                SampleResult(s.row, s.id, names[s.y_true], names[s.y_pred], s.proba, s.loss)
                for s in r.samples
            ],
        )
        for r in results
    ]
    m = aggregate("classification", names, renamed).summary()["metrics"]
    truth = np.array(names)[y]
    guess = np.array(names)[predicted]
    assert set(m["perClass"]) == set(names)
    assert m["accuracy"] == pytest.approx(accuracy_score(truth, guess))
    assert m["logLoss"] == pytest.approx(log_loss(truth, proba, labels=names))
    assert m["confusionMatrix"]["labels"] == names
    assert m["confusionMatrix"]["matrix"] == confusion_matrix(truth, guess, labels=names).tolist()


def test_labels_compare_by_value_and_text() -> None:
    """Floats from a CSV equal the plan's ints by value; text labels match by their text."""
    agg = Aggregator("classification", [1, 2], 3)
    agg.add(loo_result(0, 1.0, 1.0, [0.8, 0.2], 0.22))
    agg.add(loo_result(1, "2", "2", [0.1, 0.9], 0.1))
    agg.add(loo_result(2, 2, 1, [0.6, 0.4], 0.9))
    m = agg.summary()["metrics"]
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["confusionMatrix"]["matrix"] == [[1, 0], [1, 1]]
    assert set(m["perClass"]) == {"1", "2"}


def test_model_without_proba_has_no_probabilistic_metrics() -> None:
    agg = Aggregator("classification", ["a", "b"], 4)
    for i, (t, p) in enumerate([("a", "a"), ("a", "b"), ("b", "b"), ("b", "b")]):
        agg.add(loo_result(i, t, p, None, float(t != p)))
    summary = agg.summary()
    m = summary["metrics"]
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["logLoss"] is None and m["brier"] is None and m["ece"] is None
    assert summary["labelNoiseCandidates"] == []
    assert summary["worstSamples"][0]["row"] == 1
    strict_json(summary)


def test_log_loss_needs_proba_for_every_sample() -> None:
    agg = Aggregator("classification", [0, 1], 2)
    agg.add(loo_result(0, 0, 0, [0.9, 0.1], 0.1))
    agg.add(loo_result(1, 1, 1, None, 0.0))
    assert agg.summary()["metrics"]["logLoss"] is None


# ------------------------------------------------------------------ regression


def test_regression_metrics_equal_sklearn(diabetes_loo: Any) -> None:
    results, y, predicted = diabetes_loo
    agg = aggregate("regression", None, results)
    summary = agg.summary()
    m = summary["metrics"]
    assert m["mae"] == pytest.approx(mean_absolute_error(y, predicted))
    assert m["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y, predicted)))
    assert m["r2"] == pytest.approx(r2_score(y, predicted))
    for key in ("mae", "rmse", "r2"):
        low, high = m[f"{key}CI95"]
        assert low < m[key] < high
    # the same resamples as bootstrap_ci with the same seed
    errors = np.abs(predicted - y)
    assert m["maeCI95"] == pytest.approx(list(bootstrap_ci(errors, statistic=np.mean)), rel=1e-9)

    def r2(a: np.ndarray, b: np.ndarray) -> float:
        return float(r2_score(a, b))

    assert m["r2CI95"] == pytest.approx(list(bootstrap_ci(y, predicted, statistic=r2)), rel=1e-6)
    assert "accuracy" not in m
    assert summary["labelNoiseCandidates"] == []
    assert agg.summary() == summary  # seeded: deterministic
    strict_json(summary)


def test_large_regression_intervals_track_the_exact_bootstrap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=3000)
    predicted = y + rng.normal(scale=0.5, size=3000)
    exact = stats.regression_cis(y, predicted, 1000, 0)
    monkeypatch.setattr(stats, "BOOTSTRAP_EXACT_MAX", 100)
    approximate = stats.regression_cis(y, predicted, 1000, 0)
    for key in ("mae", "rmse", "r2"):
        width = exact[key][1] - exact[key][0]
        assert approximate[key][0] == pytest.approx(exact[key][0], abs=0.1 * width)
        assert approximate[key][1] == pytest.approx(exact[key][1], abs=0.1 * width)


def test_single_regression_sample_has_no_r2() -> None:
    agg = Aggregator("regression", None, 1)
    agg.add(loo_result(0, 3.0, 2.5, None, 0.25))
    m = agg.summary()["metrics"]
    assert m["mae"] == pytest.approx(0.5)
    assert m["r2"] is None and m["r2CI95"] is None
    assert m["maeCI95"] == pytest.approx([0.5, 0.5])


# ------------------------------------------------------------------ counting


def test_each_fold_counted_once_even_when_added_twice(iris_loo: Any) -> None:
    results, *_ = iris_loo
    once = aggregate("classification", [0, 1, 2], results).summary()
    twice = aggregate("classification", [0, 1, 2], [*results, *results], n_folds=150)
    assert twice.n_done == 150
    assert twice.summary() == once


def test_later_result_replaces_earlier() -> None:
    agg = Aggregator("classification", [0, 1], 2)
    agg.add(loo_result(0, 0, error=FoldError("MemoryError", "oom")))
    agg.add(loo_result(1, 1, 1, [0.2, 0.8], 0.22))
    assert agg.summary()["folds"]["failed"] == 1
    agg.add(loo_result(0, 0, 1, [0.3, 0.7], 1.2, path="fast"))
    summary = agg.summary()
    assert summary["folds"] == {
        "total": 2,
        "done": 2,
        "succeeded": 2,
        "failed": 0,
        "missing": 0,
        "notRun": 0,
        "missingIndices": [],
    }
    assert summary["failures"] == [] and summary["failureTypes"] == {}
    assert summary["paths"] == {"brute-force": 1, "fast": 1}
    assert summary["metrics"]["accuracy"] == pytest.approx(0.5)


def test_many_replacements_compact_without_changing_the_summary() -> None:
    rng = np.random.default_rng(7)
    n = 3000
    results = []
    for i in range(n):
        p = float(rng.uniform())
        y = int(rng.integers(2))
        results.append(
            loo_result(i, y, int(p > 0.5), [1 - p, p], -math.log(max([1 - p, p][y], EPS)))
        )
    fresh = aggregate("classification", [0, 1], results)
    churned = aggregate("classification", [0, 1], results)
    for _ in range(3):
        for result in results:
            churned.add(result)
    assert churned._dead < n  # compacted at least once
    assert churned.summary() == fresh.summary()
    assert churned.pooled().ids == fresh.pooled().ids


def test_failed_folds_are_counted_and_excluded_from_metrics() -> None:
    agg = Aggregator("classification", [0, 1], 5)
    agg.add(loo_result(0, 0, 0, [0.9, 0.1], 0.105))
    agg.add(loo_result(1, 1, 1, [0.4, 0.6], 0.51))
    agg.add(loo_result(4, 1, error=FoldError("ValueError", "bad, sample\nhere")))
    agg.add(loo_result(2, 0, error=FoldError("LinAlgError", "singular")))
    summary = agg.summary()
    assert summary["folds"] == {
        "total": 5,
        "done": 4,
        "succeeded": 2,
        "failed": 2,
        "missing": 1,
        "notRun": 0,
        "missingIndices": [3],
    }
    assert summary["samples"] == {"evaluated": 2, "failed": 2}
    assert summary["failureRate"] == pytest.approx(0.5)
    assert summary["metrics"]["accuracy"] == 1.0
    assert summary["metrics"]["logLoss"] == pytest.approx(
        log_loss([0, 1], [[0.9, 0.1], [0.4, 0.6]])
    )
    assert summary["failures"] == [
        {"fold": 2, "ids": ["id2"], "type": "LinAlgError", "message": "singular"},
        {"fold": 4, "ids": ["id4"], "type": "ValueError", "message": "bad, sample\nhere"},
    ]
    assert summary["failureTypes"] == {"LinAlgError": 1, "ValueError": 1}
    assert all(w["row"] in (0, 1) for w in summary["worstSamples"])


def test_failures_are_bounded() -> None:
    agg = Aggregator("regression", None, 30)
    for i in reversed(range(30)):
        samples = [SampleResult(row=i * 20 + k, id=f"r{i}-{k}", y_true=1.0) for k in range(20)]
        agg.add(FoldResult(index=i, samples=samples, error=FoldError("OSError", "disk")))
    summary = agg.summary()
    assert [f["fold"] for f in summary["failures"]] == list(range(20))
    assert all(len(f["ids"]) == metrics.MAX_FAILURE_IDS for f in summary["failures"])
    assert summary["samples"]["failed"] == 600
    assert summary["failureRate"] == 1.0
    assert summary["metrics"]["mae"] is None
    strict_json(summary)


def test_empty_aggregator_gives_none_and_valid_json() -> None:
    for task, classes in (("classification", ["x", "y", "z"]), ("regression", None)):
        summary = Aggregator(task, classes, 12).summary()
        strict_json(summary)
        assert summary["folds"] == {
            "total": 12,
            "done": 0,
            "succeeded": 0,
            "failed": 0,
            "missing": 12,
            "notRun": 0,
            "missingIndices": list(range(12)),
        }
        assert summary["failureRate"] == 0.0
        m = summary["metrics"]
        keys = (
            ["accuracy", "accuracyCI95", "logLoss", "brier", "ece"]
            if classes
            else [
                "mae",
                "maeCI95",
                "rmse",
                "rmseCI95",
                "r2",
                "r2CI95",
            ]
        )
        assert all(m[k] is None for k in [*keys, "lossMean", "lossStd"])
        assert summary["worstSamples"] == [] and summary["failures"] == []
        assert summary["timing"] == {
            "fitSecondsMedian": None,
            "predictSecondsMedian": None,
            "fitSecondsTotal": 0.0,
        }


def test_non_finite_values_never_reach_the_summary() -> None:
    agg = Aggregator("regression", None, 2)
    agg.add(loo_result(0, 1.0, float("nan"), None, float("nan")))
    agg.add(loo_result(1, 2.0, float("inf"), None, float("inf")))
    summary = strict_json(agg.summary())
    assert summary["metrics"]["mae"] is None
    assert summary["metrics"]["lossMean"] is None


def test_out_of_plan_fold_is_ignored() -> None:
    agg = Aggregator("regression", None, 2)
    agg.add(loo_result(5, 1.0, 1.0, None, 0.0))
    assert agg.n_done == 0
    assert agg.summary()["folds"]["missing"] == 2


# ------------------------------------------------------------------ per-sample lists


def test_worst_samples_highest_loss_first_ties_by_row() -> None:
    agg = Aggregator("regression", None, 15)
    losses = [0.5, 3.0, 1.0, 3.0, 0.1, 2.0, 3.0, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 0.05]
    for i, loss in enumerate(losses):
        agg.add(loo_result(14 - i, 0.0, math.sqrt(loss), None, loss))
    worst = agg.summary()["worstSamples"]
    assert len(worst) == 10
    assert [w["loss"] for w in worst][:4] == [3.0, 3.0, 3.0, 2.0]
    assert [w["row"] for w in worst][:3] == sorted(w["row"] for w in worst[:3])
    assert set(worst[0]) == {"id", "row", "loss", "yTrue", "yPred"}


def test_label_noise_candidates() -> None:
    agg = Aggregator("classification", ["cat", "dog"], 30)
    for i in range(30):
        if i < 25:  # confidently wrong; some exactly at the 0.9 threshold
            p_dog = 0.9 if i % 5 == 0 else 0.99 - i * 0.001
            agg.add(loo_result(i, "cat", "dog", [1 - p_dog, p_dog], -math.log(1 - p_dog)))
        else:
            agg.add(loo_result(i, "cat", "cat", [0.95, 0.05], 0.05))
    agg.add(loo_result(29, "dog", "cat", [0.85, 0.15], 1.9))  # wrong, not confident
    noise = agg.summary()["labelNoiseCandidates"]
    assert len(noise) == 20
    confidences = [c["confidence"] for c in noise]
    assert confidences == sorted(confidences, reverse=True)
    assert all(c["confidence"] >= 0.9 and c["yTrue"] == "cat" for c in noise)
    assert 29 not in [c["row"] for c in noise]
    assert set(noise[0]) == {"id", "row", "yTrue", "yPred", "confidence"}


def test_timing_and_paths() -> None:
    agg = Aggregator("regression", None, 3)
    agg.add(loo_result(0, 1.0, 1.0, None, 0.0, fit_seconds=1.0, predict_seconds=0.1))
    agg.add(
        loo_result(1, 1.0, 1.0, None, 0.0, fit_seconds=3.0, predict_seconds=0.3, path="ridge-hat")
    )
    agg.add(loo_result(2, 1.0, error=FoldError("E", "x"), fit_seconds=10.0))
    summary = agg.summary()
    assert summary["timing"] == {
        "fitSecondsMedian": 2.0,
        "predictSecondsMedian": pytest.approx(0.2),
        "fitSecondsTotal": 14.0,
    }
    assert summary["paths"] == {"brute-force": 2, "ridge-hat": 1}


def test_summarize_uses_the_plan(iris_loo: Any) -> None:
    results, *_ = iris_loo
    spec = parse_spec(
        {
            "dataset": {"builtin": "iris"},
            "model": {"estimator": "sklearn.linear_model.LogisticRegression"},
        }
    )
    plan = Plan(
        location=RunLocation("ns", "iris", "uid"),
        spec=spec,
        spec_digest=spec.digest(),
        dataset_digest="0" * 64,
        n_samples=150,
        task="classification",
        classes=[0, 1, 2],
        folds=[Fold(i, (i,)) for i in range(150)],
        batches=[list(range(150))],
    )
    assert summarize(plan, results) == aggregate("classification", [0, 1, 2], results).summary()


def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        Aggregator("clustering", None, 1)
    with pytest.raises(ValueError):
        Aggregator("classification", None, 1)


# ------------------------------------------------------------------ statistics


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(1 - high)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_ece_matches_brute_force_including_bin_edges() -> None:
    rng = np.random.default_rng(11)
    proba = rng.dirichlet([0.5, 0.5, 0.5], size=400)
    # confidences exactly on bin edges: 1/3, 0.4 (= 6/15), 0.6, 1.0
    proba[:4] = [[1 / 3, 1 / 3, 1 / 3], [0.4, 0.3, 0.3], [0.2, 0.6, 0.2], [0.0, 0.0, 1.0]]
    y = rng.integers(0, 3, size=400)
    for bins in (1, 10, 15):
        assert expected_calibration_error(y, proba, bins) == pytest.approx(
            brute_force_ece(y, proba, bins), abs=1e-12
        )
    perfect = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(np.array([0, 1]), perfect) == 0.0


def test_bootstrap_ci_is_seeded_and_sensible() -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(loc=10.0, scale=2.0, size=400)
    first = bootstrap_ci(values, statistic=np.mean)
    assert first == bootstrap_ci(values, statistic=np.mean)
    assert first != bootstrap_ci(values, statistic=np.mean, seed=1)
    half_width = 1.96 * values.std() / math.sqrt(len(values))
    assert first[0] == pytest.approx(values.mean() - half_width, abs=0.05)
    assert first[1] == pytest.approx(values.mean() + half_width, abs=0.05)
    narrow = bootstrap_ci(values, statistic=np.mean, level=0.5)
    assert first[0] < narrow[0] < narrow[1] < first[1]
    with pytest.raises(ValueError):
        bootstrap_ci(np.array([]), statistic=np.mean)


def test_malformed_probabilities_are_ignored_not_fatal() -> None:
    """A hand-edited result must not crash the operator's aggregation loop."""
    agg = Aggregator("classification", [0, 1], 2)
    agg.add(loo_result(0, 0, 0, [None, "x"], "oops"))  # type: ignore[list-item, arg-type]
    agg.add(loo_result(1, 1, 1, [0.1, 0.9], 0.1))
    summary = strict_json(agg.summary())
    assert summary["metrics"]["accuracy"] == 1.0
    assert summary["metrics"]["logLoss"] is None


def test_undefined_per_class_figures_are_none_not_zero() -> None:
    """A subset that holds out class 2 only: classes 0 and 1 have no recall, and a class
    never predicted has no precision; the summary says None (the terminal: n/a)."""
    agg = Aggregator("classification", [0, 1, 2], 3)
    agg.add(FoldResult(0, [SampleResult(0, "a", 2, 2, None, 0.0)]))
    agg.add(FoldResult(1, [SampleResult(1, "b", 2, 2, None, 0.0)]))
    agg.add(FoldResult(2, [SampleResult(2, "c", 2, 1, None, 1.0)]))
    per_class = agg.summary()["metrics"]["perClass"]
    assert per_class["0"] == {"precision": None, "recall": None, "f1": None, "support": 0}
    assert per_class["1"]["precision"] == 0.0 and per_class["1"]["recall"] is None
    assert per_class["2"]["recall"] == pytest.approx(2 / 3) and per_class["2"]["precision"] == 1.0
