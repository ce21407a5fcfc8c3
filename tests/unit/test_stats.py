"""The numpy metrics replace sklearn.metrics bit for bit (the summaries' figures are
unchanged), and the typed summary's serialized form round-trips exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as sk

from loocv_operator import stats
from loocv_operator.aggregator import Aggregator
from loocv_operator.results import FoldError, FoldResult, SampleResult
from loocv_operator.summary import RunSummary


@pytest.mark.parametrize("n", [1, 2, 3, 10, 569, 4097])
def test_regression_metrics_equal_sklearn_exactly(n: int) -> None:
    rng = np.random.default_rng(n)
    truth = rng.normal(size=n) * 50
    predicted = truth + rng.normal(size=n)
    assert stats.mean_absolute_error(truth, predicted) == sk.mean_absolute_error(truth, predicted)
    assert stats.mean_squared_error(truth, predicted) == sk.mean_squared_error(truth, predicted)
    if n >= 2:
        assert stats.r2_score(truth, predicted) == sk.r2_score(truth, predicted)
        constant = np.full(n, 3.0)
        assert stats.r2_score(constant, predicted) == sk.r2_score(constant, predicted)
        assert stats.r2_score(truth, truth) == sk.r2_score(truth, truth)


@pytest.mark.parametrize(("n", "k"), [(1, 2), (50, 2), (569, 2), (150, 3), (1797, 10)])
def test_classification_metrics_equal_sklearn_exactly(n: int, k: int) -> None:
    rng = np.random.default_rng(n + k)
    proba = rng.dirichlet(np.ones(k), size=n)
    proba[0] = np.eye(k)[0]  # a 0 and a 1: the clipping to [eps, 1 - eps]
    truth = rng.integers(0, k, size=n)
    predicted = np.where(rng.random(n) < 0.8, truth, rng.integers(0, k, size=n))
    labels = list(range(k))
    assert stats.log_loss(truth, proba) == sk.log_loss(truth, proba, labels=labels)
    matrix = np.bincount(truth * k + predicted, minlength=k * k).reshape(k, k)
    assert (matrix == sk.confusion_matrix(truth, predicted, labels=labels)).all()
    scores = stats.class_scores(np.diag(matrix), matrix.sum(axis=0), matrix.sum(axis=1))
    p, r, f, s = sk.precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    assert (scores.precision == p).all() and (scores.recall == r).all()
    assert (scores.f1 == f).all() and (scores.support == s).all()


def test_the_serialized_summary_round_trips_byte_for_byte() -> None:
    """kube/ and report.json hold the dict form; reading it back changes nothing."""
    classes = ["a", "b", "c"]
    rng = np.random.default_rng(0)
    aggregator = Aggregator("classification", classes, 40)
    for i in range(38):
        if i % 9 == 4:
            aggregator.add(
                FoldResult(i, [SampleResult(i, f"s{i}", "a")], error=FoldError("E", "m"))
            )
            continue
        p = rng.dirichlet([1, 1, 1]).tolist()
        sample = SampleResult(i, f"s{i}", classes[i % 3], classes[int(np.argmax(p))], p, 0.5 + i)
        aggregator.add(FoldResult(i, [sample], 0.1, 0.01))
    regression = Aggregator("regression", None, 5)
    for i in range(5):
        regression.add(FoldResult(i, [SampleResult(i, str(i), float(i), i + 0.5, None, 0.25)]))
    for summary in (aggregator.summary(), regression.summary()):
        again = RunSummary.from_dict(json.loads(json.dumps(summary))).to_dict()
        assert json.dumps(again) == json.dumps(summary)
