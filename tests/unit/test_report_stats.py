"""The report's own statistics, against scikit-learn as the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.metrics import (
    average_precision_score,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.model_selection import LeaveOneOut, cross_val_predict

from loocv_operator.metrics import expected_calibration_error, wilson_interval
from loocv_operator.report import stats


@pytest.fixture(scope="module")
def scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 300).astype(bool)
    score = np.clip(truth * 0.3 + rng.normal(0.4, 0.25, 300), 0, 1).round(2)  # with ties
    return truth, score


def test_roc_matches_sklearn(scores: tuple[np.ndarray, np.ndarray]) -> None:
    truth, score = scores
    curve = stats.roc_curve(truth, score)
    assert curve is not None
    assert curve.area == pytest.approx(roc_auc_score(truth, score), abs=1e-12)
    fpr, tpr, _ = roc_curve(truth, score, drop_intermediate=False)
    np.testing.assert_allclose(curve.x, fpr)
    np.testing.assert_allclose(curve.y, tpr)
    assert stats.roc_curve(np.ones(4, bool), np.arange(4.0)) is None


def test_average_precision_matches_sklearn(scores: tuple[np.ndarray, np.ndarray]) -> None:
    truth, score = scores
    curve = stats.pr_curve(truth, score)
    assert curve is not None
    assert curve.area == pytest.approx(average_precision_score(truth, score), abs=1e-12)


def test_equal_mass_ece_uses_bins_of_equal_counts() -> None:
    # 4 samples, 2 bins of 2: confidences .6,.6 (1 right) and .9,.9 (2 right)
    proba = np.array([[0.6, 0.4], [0.4, 0.6], [0.9, 0.1], [0.1, 0.9]])
    truth = np.array([0, 0, 0, 1])
    ece = stats.ece_equal_mass(truth, proba, bins=2)
    assert ece == pytest.approx((abs(0.5 - 0.6) * 2 + abs(1.0 - 0.9) * 2) / 4)
    # with as many bins as samples it is the mean |correct - confidence|, unlike equal width
    many = stats.ece_equal_mass(truth, proba, bins=15)
    assert many == pytest.approx(np.mean([0.4, 0.6, 0.1, 0.1]))
    assert many != pytest.approx(expected_calibration_error(truth, proba, 15))


def test_class_recall_with_wilson_interval_and_empty_class() -> None:
    truth = np.array([0, 0, 0, 1, 1])
    predicted = np.array([0, 0, 1, 1, 1])
    a, b, c = stats.class_recalls(["a", "b", "c"], truth, predicted)
    assert (a.support, a.correct, a.recall) == (3, 2, pytest.approx(2 / 3))
    assert (a.low, a.high) == wilson_interval(2, 3)
    assert b.recall == 1.0 and b.high == 1.0 and 0 < b.low < 1  # type: ignore[operator]
    assert c.support == 0 and c.recall is None and c.low is None  # shown n/a, not 0


def test_classification_baseline_is_a_leave_one_out_majority_and_prior() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    base = stats.classification_baseline(y.astype(np.int64), 2)
    assert base is not None
    majority = cross_val_predict(DummyClassifier(strategy="most_frequent"), X, y, cv=LeaveOneOut())
    assert base.values["accuracy"] == pytest.approx(np.mean(majority == y), abs=1e-12)
    prior = cross_val_predict(
        DummyClassifier(strategy="prior"), X, y, cv=LeaveOneOut(), method="predict_proba"
    )
    assert base.values["logLoss"] == pytest.approx(log_loss(y, prior), abs=1e-12)


def test_regression_baseline_is_the_leave_one_out_mean() -> None:
    X, y = load_diabetes(return_X_y=True)
    base = stats.regression_baseline(y)
    assert base is not None
    mean = cross_val_predict(DummyRegressor(), X, y, cv=LeaveOneOut())
    assert base.values["mae"] == pytest.approx(mean_absolute_error(y, mean), abs=1e-9)
    assert base.values["r2"] == pytest.approx(r2_score(y, mean), abs=1e-12)
    assert base.values["r2"] < 0  # the LOO mean predictor is slightly worse than the mean
