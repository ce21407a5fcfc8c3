"""The correctness oracle: every prediction equals scikit-learn's own brute-force LOO.

Each case builds the reference estimator directly from scikit-learn (not through our
builder) and compares with ``cross_val_predict(est, X, y, cv=LeaveOneOut())``: predictions
exactly, probabilities to 1e-12.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, LeaveOneGroupOut, LeaveOneOut, cross_val_predict
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from loocv_operator.datasets import load_dataset
from loocv_operator.estimators import DEFAULT_ALLOWLIST
from loocv_operator.ledger import load_results
from loocv_operator.local import execute, prepare
from loocv_operator.results import FoldResult
from loocv_operator.spec import DatasetSpec, parse_run
from loocv_operator.store import LocalStore


@pytest.fixture(autouse=True)
def one_math_thread() -> Any:
    """The reference runs with one BLAS thread, as our workers do: oversubscribed OpenBLAS
    threads on this shared 2-core machine make small fits ~20x slower."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


SCALER = [{"estimator": "sklearn.preprocessing.StandardScaler"}]

CASES: list[tuple[str, str, dict[str, Any], BaseEstimator]] = [
    (
        "iris",
        "sklearn.linear_model.LogisticRegression",
        {"params": {"max_iter": 1000}, "preprocessing": SCALER},
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    ),
    (
        "wine",
        "sklearn.neighbors.KNeighborsClassifier",
        {"params": {"n_neighbors": 5}, "preprocessing": SCALER},
        make_pipeline(StandardScaler(), KNeighborsClassifier(5)),
    ),
    (
        "wine",
        "sklearn.discriminant_analysis.LinearDiscriminantAnalysis",
        {},
        LinearDiscriminantAnalysis(),
    ),
    ("iris", "sklearn.naive_bayes.GaussianNB", {}, GaussianNB()),
    (
        "iris",
        "sklearn.tree.DecisionTreeClassifier",
        {"params": {"max_depth": 3}},
        DecisionTreeClassifier(max_depth=3, random_state=0),
    ),
    ("iris", "sklearn.svm.SVC", {"preprocessing": SCALER}, make_pipeline(StandardScaler(), SVC())),
    ("diabetes", "sklearn.linear_model.Ridge", {"params": {"alpha": 0.5}}, Ridge(alpha=0.5)),
    (
        "diabetes",
        "sklearn.neighbors.KNeighborsRegressor",
        {"preprocessing": [{"estimator": "sklearn.preprocessing.MinMaxScaler"}]},
        make_pipeline(MinMaxScaler(), KNeighborsRegressor()),
    ),
]


def run_locally(tmp_path: Path, spec: dict[str, Any], workers: int = 1) -> list[FoldResult]:
    """Brute force (fastPath: off): the oracle is bitwise; the fast paths are checked
    against the same oracle to 1e-8 in test_fastpaths.py."""
    spec = {**spec, "execution": {**spec.get("execution", {}), "fastPath": "off"}}
    doc = {
        "apiVersion": "loocv.dev/v1alpha1",
        "kind": "LOOCVRun",
        "metadata": {"name": "oracle"},
        "spec": spec,
    }
    store = LocalStore(tmp_path)
    plan, runner = prepare(parse_run(doc), store, DEFAULT_ALLOWLIST)
    execute(plan, runner, store, workers)
    results = load_results(store, plan.location)
    assert [r.index for r in results] == list(range(plan.n_folds))
    assert all(r.ok for r in results)
    return results


def pooled(results: list[FoldResult]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    samples = sorted((s for r in results for s in r.samples), key=lambda s: s.row)
    rows = np.array([s.row for s in samples])
    pred = np.array([s.y_pred for s in samples])
    proba = np.array([s.proba for s in samples]) if samples[0].proba is not None else None
    return rows, pred, proba


@pytest.mark.parametrize(
    ("dataset", "estimator", "extra", "reference"),
    CASES,
    ids=[f"{c[0]}-{c[1].rsplit('.', 1)[1]}" for c in CASES],
)
def test_local_run_equals_cross_val_predict(
    tmp_path: Path, dataset: str, estimator: str, extra: dict[str, Any], reference: BaseEstimator
) -> None:
    results = run_locally(
        tmp_path, {"dataset": {"builtin": dataset}, "model": {"estimator": estimator, **extra}}
    )
    data = load_dataset(DatasetSpec(builtin=dataset))
    rows, pred, proba = pooled(results)
    assert rows.tolist() == list(range(data.n_samples))
    expected = cross_val_predict(reference, data.X, data.y, cv=LeaveOneOut())
    np.testing.assert_array_equal(pred, expected)
    if hasattr(reference, "predict_proba") and proba is not None:
        expected_proba = cross_val_predict(
            reference, data.X, data.y, cv=LeaveOneOut(), method="predict_proba"
        )
        np.testing.assert_allclose(proba, expected_proba, rtol=0, atol=1e-12)
    elif isinstance(reference, SVC) or "SVC" in estimator:
        assert proba is None


def test_process_pool_gives_the_same_predictions(tmp_path: Path) -> None:
    spec = {
        "dataset": {"builtin": "iris"},
        "model": {
            "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"max_iter": 1000},
            "preprocessing": SCALER,
        },
    }
    _, serial, serial_p = pooled(run_locally(tmp_path / "a", spec, workers=1))
    _, parallel, parallel_p = pooled(run_locally(tmp_path / "b", spec, workers=2))
    np.testing.assert_array_equal(serial, parallel)
    np.testing.assert_array_equal(serial_p, parallel_p)


def test_singleton_class_gets_zero_probability_like_sklearn(tmp_path: Path) -> None:
    """Holding out the only member of a class: the fold's model never saw it; the probability
    column for it is 0, exactly as cross_val_predict fills it."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 3))
    y = np.array([0] * 15 + [1] * 14 + [2])
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=y)
    results = run_locally(
        tmp_path / "s",
        {"dataset": {"uri": str(path)}, "model": {"estimator": "sklearn.naive_bayes.GaussianNB"}},
    )
    _, pred, proba = pooled(results)
    np.testing.assert_array_equal(pred, cross_val_predict(GaussianNB(), X, y, cv=LeaveOneOut()))
    expected = cross_val_predict(GaussianNB(), X, y, cv=LeaveOneOut(), method="predict_proba")
    np.testing.assert_allclose(proba, expected, rtol=0, atol=1e-12)
    assert proba[29, 2] == 0.0


def test_kfold_equals_cross_val_predict(tmp_path: Path) -> None:
    results = run_locally(
        tmp_path,
        {
            "dataset": {"builtin": "wine"},
            "model": {
                "estimator": "sklearn.linear_model.LogisticRegression",
                "params": {"max_iter": 2000},
                "preprocessing": SCALER,
            },
            "strategy": {"type": "KFold", "k": 5, "shuffle": True},
            "execution": {"seed": 3},
        },
    )
    data = load_dataset(DatasetSpec(builtin="wine"))
    _, pred, _ = pooled(results)
    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    expected = cross_val_predict(
        reference, data.X, data.y, cv=KFold(5, shuffle=True, random_state=3)
    )
    np.testing.assert_array_equal(pred, expected)


def test_leave_one_group_out_equals_cross_val_predict(tmp_path: Path) -> None:
    rng = np.random.RandomState(1)
    X, y = rng.normal(size=(40, 4)), rng.normal(size=40)
    groups = np.repeat(np.arange(8), 5)
    path = tmp_path / "g.npz"
    np.savez(path, X=X, y=y, groups=groups)
    results = run_locally(
        tmp_path / "r",
        {
            "dataset": {"uri": str(path)},
            "model": {"estimator": "sklearn.linear_model.Ridge"},
            "strategy": {"type": "LeaveOneGroupOut"},
        },
    )
    _, pred, _ = pooled(results)
    expected = cross_val_predict(Ridge(), X, y, groups=groups, cv=LeaveOneGroupOut())
    np.testing.assert_array_equal(pred, expected)


def test_subset_equals_cross_val_predict_on_those_rows(tmp_path: Path) -> None:
    results = run_locally(
        tmp_path,
        {
            "dataset": {"builtin": "iris"},
            "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
            "strategy": {"subset": {"stratifiedSample": 15, "seed": 4}},
        },
    )
    rows, pred, _ = pooled(results)
    assert len(rows) == 15
    data = load_dataset(DatasetSpec(builtin="iris"))
    expected = cross_val_predict(GaussianNB(), data.X, data.y, cv=LeaveOneOut())
    np.testing.assert_array_equal(pred, expected[rows])
