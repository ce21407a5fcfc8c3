"""``fastPath: approximate`` for logistic regression: labels equal brute force on our test
data, near-boundary samples are refitted exactly, and every fold says which path made it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import datasets as skd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneOut, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loocv_operator.estimators import DEFAULT_ALLOWLIST
from loocv_operator.fastpaths import fast_path_for, find_fast_path
from loocv_operator.fastpaths.approximate import ALOLogisticPath
from loocv_operator.ledger import load_results
from loocv_operator.local import execute, prepare
from loocv_operator.spec import LOOCVRunSpec, parse_run
from loocv_operator.store import LocalStore


@pytest.fixture(autouse=True)
def one_math_thread() -> Any:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def spec(mode: str) -> LOOCVRunSpec:
    return LOOCVRunSpec.model_validate(
        {
            "dataset": {"builtin": "iris"},
            "model": {"estimator": "x.Y"},
            "execution": {"fastPath": mode},
        }
    )


def _noisy() -> tuple[np.ndarray, np.ndarray]:
    X, y = skd.make_classification(300, 10, n_informative=4, flip_y=0.1, random_state=0)
    return X, y


def _iris_binary() -> tuple[np.ndarray, np.ndarray]:
    X, y = skd.load_iris(return_X_y=True)
    return X[y > 0], y[y > 0]


CASES: list[tuple[str, Any, BaseEstimator]] = [
    (
        "breast_cancer",
        lambda: skd.load_breast_cancer(return_X_y=True),
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    ),
    ("noisy", _noisy, LogisticRegression(C=0.3)),
    ("iris-versicolor-virginica", _iris_binary, LogisticRegression()),
]


@pytest.mark.parametrize(("name", "load", "estimator"), CASES, ids=[c[0] for c in CASES])
def test_labels_equal_brute_force_and_close_calls_are_refitted(
    name: str, load: Any, estimator: BaseEstimator
) -> None:
    X, y = load()
    path = find_fast_path(estimator, spec("approximate"))
    assert isinstance(path, ALOLogisticPath)
    out = path.loo(X, y, np.arange(len(y)))
    expected = cross_val_predict(estimator, X, y, cv=LeaveOneOut())
    np.testing.assert_array_equal(out.predicted[out.exact], expected[out.exact])
    assert 0 < (~out.exact).sum() < len(y) // 2  # some refits, mostly approximate
    # The approximation itself: logits close to the refitted ones where it is trusted.
    proba = cross_val_predict(estimator, X, y, cv=LeaveOneOut(), method="predict_proba")
    assert out.proba is not None
    approx = np.log(out.proba[:, 1] / out.proba[:, 0])
    exact = np.log(proba[:, 1] / proba[:, 0])
    assert np.median(np.abs(approx - exact)[out.exact]) < 0.05


def test_approximate_is_opt_in_and_exact_paths_win() -> None:
    logreg = LogisticRegression()
    assert fast_path_for(logreg, spec("auto")) is None
    assert fast_path_for(logreg, spec("approximate")) == "approximate:alo-newton"
    from sklearn.linear_model import Ridge

    assert fast_path_for(Ridge(), spec("approximate")) == "exact:ridge-hat"
    for declined in (
        LogisticRegression(l1_ratio=1.0, solver="saga"),
        LogisticRegression(solver="liblinear"),  # penalises the intercept
        LogisticRegression(class_weight="balanced"),
    ):
        assert fast_path_for(declined, spec("approximate")) is None


def test_multiclass_is_refitted_entirely() -> None:
    X, y = skd.load_iris(return_X_y=True)
    path = find_fast_path(LogisticRegression(), spec("approximate"))
    assert path is not None
    assert not path.loo(X, y, np.arange(len(y))).exact.any()


def test_engine_records_approximate_and_refitted_folds(tmp_path: Path) -> None:
    X, y = _noisy()
    data = tmp_path / "d.npz"
    np.savez(data, X=X, y=y)
    doc = {
        "apiVersion": "loocv.dev/v1alpha1",
        "kind": "LOOCVRun",
        "metadata": {"name": "alo"},
        "spec": {
            "dataset": {"uri": str(data)},
            "model": {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"C": 0.3}},
            "execution": {"fastPath": "approximate"},
        },
    }
    store = LocalStore(tmp_path / "s")
    plan, runner = prepare(parse_run(doc), store, DEFAULT_ALLOWLIST)
    execute(plan, runner, store, 2)
    results = load_results(store, plan.location)
    assert {r.path for r in results} == {"approximate:alo-newton", "brute-force"}
    approx = [r for r in results if r.path.startswith("approximate")]
    assert all(isinstance(r.extra["alo_logit_step"], float) for r in approx)
    pred = np.array([r.samples[0].y_pred for r in results])
    expected = cross_val_predict(LogisticRegression(C=0.3), X, y, cv=LeaveOneOut())
    np.testing.assert_array_equal(pred, expected)
