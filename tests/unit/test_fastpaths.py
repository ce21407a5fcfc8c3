"""Every exact fast path against brute force: scikit-learn's own cross_val_predict with
LeaveOneOut, and our engine with ``fastPath: off``.

Labels must be equal, values and probabilities within 1e-8. A fast path may decline a sample
(a tie, a fold that turns rank deficient), never answer it wrongly; each case also states
how many samples the path must claim, so a path that declines everything fails.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import datasets as skd
from sklearn.base import BaseEstimator
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, WhiteKernel
from sklearn.gaussian_process.kernels import ConstantKernel as C
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, RidgeClassifier
from sklearn.model_selection import LeaveOneOut, cross_val_predict
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from loocv_operator.estimators import DEFAULT_ALLOWLIST
from loocv_operator.fastpaths import fast_path_for, find_fast_path
from loocv_operator.ledger import load_results
from loocv_operator.local import execute, prepare
from loocv_operator.results import FoldResult
from loocv_operator.spec import LOOCVRunSpec, parse_run
from loocv_operator.store import LocalStore
from loocv_operator.trainer import run_batch
from tests.segment_tools import drop_fold

TOL = 1e-8
Data = tuple[np.ndarray, np.ndarray]


@pytest.fixture(autouse=True)
def one_math_thread() -> Any:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _ties() -> Data:
    """Integer features with duplicate rows: equidistant neighbours everywhere."""
    rng = np.random.RandomState(3)
    X = rng.randint(0, 3, size=(60, 2)).astype(float)
    return X, (X.sum(axis=1) + rng.randint(0, 2, size=60) > 2).astype(int)


def _blobs() -> Data:
    X, y = skd.make_classification(
        200, 6, n_informative=4, n_redundant=0, n_classes=4, random_state=1
    )
    return X, y


def _friedman() -> Data:
    X, y = skd.make_friedman1(150, noise=0.5, random_state=0)
    return X, y


def _rare() -> Data:
    """Three classes, one with a single member: holding it out changes the fold's classes."""
    rng = np.random.RandomState(0)
    return rng.normal(size=(40, 3)), np.array([0] * 20 + [1] * 19 + [2])


DATA: dict[str, Callable[[], Data]] = {
    "iris": lambda: skd.load_iris(return_X_y=True),
    "wine": lambda: skd.load_wine(return_X_y=True),
    "breast_cancer": lambda: skd.load_breast_cancer(return_X_y=True),
    "diabetes": lambda: skd.load_diabetes(return_X_y=True),
    "friedman": _friedman,
    "blobs": _blobs,
    "ties": _ties,
    "rare": _rare,
}


@pytest.fixture(scope="module")
def data() -> dict[str, Data]:
    return {name: load() for name, load in DATA.items()}


def scaled(est: BaseEstimator) -> BaseEstimator:
    return make_pipeline(StandardScaler(), est)


# (dataset, estimator, path, minimum share of samples the path must claim)
CASES: list[tuple[str, BaseEstimator, str, float]] = [
    ("diabetes", Ridge(alpha=0.5), "exact:ridge-hat", 1.0),
    ("friedman", Ridge(alpha=2.0, solver="svd"), "exact:ridge-hat", 1.0),
    ("diabetes", LinearRegression(), "exact:ridge-hat", 1.0),
    ("friedman", Ridge(alpha=1.0, fit_intercept=False), "exact:ridge-hat", 1.0),
    ("diabetes", scaled(Ridge(alpha=3.0)), "exact:scaled-ridge-downdate", 1.0),
    ("friedman", scaled(LinearRegression()), "exact:scaled-ridge-downdate", 1.0),
    ("iris", RidgeClassifier(), "exact:ridge-classifier-hat", 1.0),
    ("breast_cancer", RidgeClassifier(alpha=0.3), "exact:ridge-classifier-hat", 1.0),
    ("wine", scaled(RidgeClassifier(alpha=2.0)), "exact:scaled-ridge-classifier", 1.0),
    ("rare", RidgeClassifier(), "exact:ridge-classifier-hat", 0.95),
    ("diabetes", KernelRidge(alpha=1.0, kernel="rbf", gamma=1.0), "exact:kernel-ridge-loo", 1.0),
    ("friedman", KernelRidge(alpha=0.5, kernel="poly", degree=2), "exact:kernel-ridge-loo", 1.0),
    (
        "friedman",
        GaussianProcessRegressor(
            kernel=C(2.0, "fixed") * RBF(1.0, "fixed") + WhiteKernel(0.5, "fixed")
        ),
        "exact:gp-loo",
        1.0,
    ),
    (
        "diabetes",
        GaussianProcessRegressor(kernel=RBF(1.0), alpha=0.1, optimizer=None, normalize_y=True),
        "exact:gp-loo",
        1.0,
    ),
    ("iris", KNeighborsClassifier(5), "exact:knn", 0.95),
    ("wine", scaled(KNeighborsClassifier(7, weights="distance")), "exact:scaled-knn", 1.0),
    ("breast_cancer", KNeighborsClassifier(4, p=1), "exact:knn", 1.0),
    ("ties", KNeighborsClassifier(3), "exact:knn", 0.2),
    ("diabetes", KNeighborsRegressor(5), "exact:knn", 1.0),
    ("diabetes", scaled(KNeighborsRegressor(3, weights="distance")), "exact:scaled-knn", 1.0),
    ("iris", GaussianNB(), "exact:gaussian-nb-downdate", 1.0),
    ("breast_cancer", GaussianNB(var_smoothing=1e-3), "exact:gaussian-nb-downdate", 1.0),
    ("rare", GaussianNB(), "exact:gaussian-nb-downdate", 1.0),
    ("wine", GaussianNB(priors=[0.2, 0.5, 0.3]), "exact:gaussian-nb-downdate", 1.0),
    ("iris", LinearDiscriminantAnalysis(), "exact:lda-downdate", 1.0),
    ("breast_cancer", LinearDiscriminantAnalysis(), "exact:lda-downdate", 1.0),
    ("blobs", LinearDiscriminantAnalysis(priors=[0.4, 0.2, 0.2, 0.2]), "exact:lda-downdate", 1.0),
]


def spec_for(**execution: Any) -> LOOCVRunSpec:
    return LOOCVRunSpec.model_validate(
        {"dataset": {"builtin": "iris"}, "model": {"estimator": "x.Y"}, "execution": execution}
    )


@pytest.mark.parametrize(
    ("dataset", "estimator", "path", "claimed"),
    CASES,
    ids=[f"{c[0]}-{c[2].split(':')[1]}-{i}" for i, c in enumerate(CASES)],
)
def test_fast_path_equals_cross_val_predict(
    data: dict[str, Data], dataset: str, estimator: BaseEstimator, path: str, claimed: float
) -> None:
    X, y = data[dataset]
    fast = find_fast_path(estimator, spec_for())
    assert fast is not None and fast.name == path
    out = fast.loo(np.asarray(X, dtype=np.float64), y, np.arange(len(y)))
    assert out.path == path
    assert out.exact.mean() >= claimed
    e = out.exact
    expected = cross_val_predict(estimator, X, y, cv=LeaveOneOut())
    if np.issubdtype(np.asarray(expected).dtype, np.floating) and out.proba is None:
        np.testing.assert_allclose(out.predicted[e], expected[e], rtol=0, atol=TOL)
    else:
        np.testing.assert_array_equal(out.predicted[e], expected[e])
    if out.proba is not None:
        expected_p = cross_val_predict(estimator, X, y, cv=LeaveOneOut(), method="predict_proba")
        assert expected_p.shape == out.proba.shape
        np.testing.assert_allclose(out.proba[e], expected_p[e], rtol=0, atol=TOL)


@pytest.mark.parametrize(
    "estimator",
    [
        GaussianProcessRegressor(),  # free hyperparameters: optimised per fold
        Ridge(solver="sag"),  # iterative, tolerance-bound
        Ridge(positive=True),
        RidgeClassifier(class_weight="balanced"),
        LinearRegression(positive=True),
        make_pipeline(MinMaxScaler(), Ridge()),  # a scaler we do not downdate
        make_pipeline(StandardScaler(), KernelRidge()),  # per-fold scaling changes K
        make_pipeline(StandardScaler(), GaussianNB()),
        LinearDiscriminantAnalysis(solver="lsqr"),
        KNeighborsClassifier(metric="cosine"),
        LogisticRegression(),
    ],
    ids=lambda e: type(e).__name__ if not hasattr(e, "steps") else "pipeline",
)
def test_no_fast_path_where_one_fit_is_not_exact(estimator: BaseEstimator) -> None:
    assert fast_path_for(estimator, spec_for()) is None


def test_fast_path_off_and_other_strategies_force_brute_force() -> None:
    assert fast_path_for(Ridge(), spec_for()) == "exact:ridge-hat"
    assert fast_path_for(Ridge(), spec_for(fastPath="off")) is None
    kfold = LOOCVRunSpec.model_validate(
        {
            "dataset": {"builtin": "iris"},
            "model": {"estimator": "x.Y"},
            "strategy": {"type": "KFold", "k": 5},
        }
    )
    assert fast_path_for(Ridge(), kfold) is None


def test_leverage_one_falls_back() -> None:
    """Row 0 alone has a nonzero last feature: without it least squares is rank deficient
    (h_00 = 1), so the hat identity does not hold and the row must be fitted."""
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.normal(size=(30, 2)), np.eye(30)[0]])
    y = rng.normal(size=30)
    fast = find_fast_path(LinearRegression(), spec_for())
    assert fast is not None
    out = fast.loo(X, y, np.arange(30))
    assert not out.exact[0] and out.exact[1:].all()
    expected = cross_val_predict(LinearRegression(), X, y, cv=LeaveOneOut())
    np.testing.assert_allclose(out.predicted[1:], expected[1:], rtol=0, atol=TOL)


def test_singleton_class_falls_back_for_ridge_classifier(data: dict[str, Data]) -> None:
    X, y = data["rare"]
    fast = find_fast_path(RidgeClassifier(), spec_for())
    assert fast is not None
    out = fast.loo(X, y, np.arange(len(y)))
    assert not out.exact[39] and out.exact[:39].all()


def test_knn_ties_are_declined_not_guessed(data: dict[str, Data]) -> None:
    X, y = data["ties"]
    fast = find_fast_path(KNeighborsClassifier(3), spec_for())
    assert fast is not None
    out = fast.loo(X, y, np.arange(len(y)))
    assert 0 < out.exact.sum() < len(y)


def test_knn_leaves_out_the_row_not_its_duplicates() -> None:
    """Rows 0 and 1 are identical; without row 0 its nearest neighbour is row 1 (distance 0),
    which decides a 1-NN prediction."""
    X = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [5.2, 5.1], [9.0, 0.0]])
    y = np.array([7.0, 3.0, 1.0, 2.0, 4.0])
    fast = find_fast_path(KNeighborsRegressor(1), spec_for())
    assert fast is not None
    out = fast.loo(X, y, np.arange(5))
    assert out.exact[0] and out.predicted[0] == 3.0 and out.predicted[1] == 7.0
    expected = cross_val_predict(KNeighborsRegressor(1), X, y, cv=LeaveOneOut())
    np.testing.assert_array_equal(out.predicted[out.exact], expected[out.exact])


# --- through the engine: auto vs off, same store records -------------------------------


def run(tmp_path: Path, spec: dict[str, Any], workers: int = 1) -> list[FoldResult]:
    doc = {"apiVersion": "loocv.dev/v1alpha1", "kind": "LOOCVRun", "metadata": {"name": "fp"}}
    store = LocalStore(tmp_path)
    plan, runner = prepare(parse_run({**doc, "spec": spec}), store, DEFAULT_ALLOWLIST)
    execute(plan, runner, store, workers)
    results = load_results(store, plan.location)
    assert [r.index for r in results] == list(range(plan.n_folds))
    return results


def npz(tmp_path: Path, X: np.ndarray, y: np.ndarray) -> str:
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=y)
    return str(path)


ENGINE_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("diabetes", {"estimator": "sklearn.linear_model.Ridge", "params": {"alpha": 0.5}}, {}),
    (
        "wine",
        {
            "estimator": "sklearn.neighbors.KNeighborsClassifier",
            "preprocessing": [{"estimator": "sklearn.preprocessing.StandardScaler"}],
        },
        {},
    ),
    (
        "iris",
        {"estimator": "sklearn.naive_bayes.GaussianNB"},
        {"subset": {"stratifiedSample": 30, "seed": 2}},
    ),
    (
        "ties",
        {"estimator": "sklearn.neighbors.KNeighborsClassifier", "params": {"n_neighbors": 3}},
        {},
    ),
    ("wine", {"estimator": "sklearn.discriminant_analysis.LinearDiscriminantAnalysis"}, {}),
]


@pytest.mark.parametrize(("dataset", "model", "strategy"), ENGINE_CASES, ids=lambda v: str(v)[:20])
def test_engine_fast_path_equals_brute_force(
    tmp_path: Path,
    data: dict[str, Data],
    dataset: str,
    model: dict[str, Any],
    strategy: dict[str, Any],
) -> None:
    X, y = data[dataset]
    source = {"uri": npz(tmp_path, X, y)}
    base = {"dataset": source, "model": model, "strategy": strategy}
    fast = run(tmp_path / "auto", base, workers=2)
    brute = run(tmp_path / "off", {**base, "execution": {"fastPath": "off"}})
    assert {r.path for r in brute} == {"brute-force"}
    paths = {r.path for r in fast}
    assert any(p.startswith("exact:") for p in paths)
    for f, b in zip(fast, brute, strict=True):
        assert f.ok and b.ok and f.index == b.index
        (fs,), (bs,) = f.samples, b.samples
        assert (fs.row, fs.id, fs.y_true) == (bs.row, bs.id, bs.y_true)
        if isinstance(bs.y_pred, float):
            assert abs(fs.y_pred - bs.y_pred) <= TOL  # type: ignore[operator]
        else:
            assert fs.y_pred == bs.y_pred and type(fs.y_pred) is type(bs.y_pred)
        if bs.proba is not None:
            np.testing.assert_allclose(fs.proba, bs.proba, rtol=0, atol=TOL)
        else:
            assert fs.proba is None
        assert fs.loss is not None and bs.loss is not None
        assert abs(fs.loss - bs.loss) <= 1e-6 * max(1.0, abs(bs.loss))
    expected = cross_val_predict(
        GaussianNB() if "naive" in model["estimator"] else _sk(model), X, y, cv=LeaveOneOut()
    )
    rows = [r.samples[0].row for r in fast]
    got = np.array([r.samples[0].y_pred for r in fast])
    if np.issubdtype(expected.dtype, np.floating):
        np.testing.assert_allclose(got, expected[rows], rtol=0, atol=TOL)
    else:
        np.testing.assert_array_equal(got, expected[rows])


def _sk(model: dict[str, Any]) -> BaseEstimator:
    from loocv_operator.estimators import build_estimator
    from loocv_operator.spec import ModelSpec

    return build_estimator(ModelSpec.model_validate(model), DEFAULT_ALLOWLIST)


def test_mixed_batch_records_both_paths(tmp_path: Path, data: dict[str, Data]) -> None:
    """Ties send some folds to brute force inside the same batch; each records its path."""
    X, y = data["ties"]
    spec = {
        "dataset": {"uri": npz(tmp_path, X, y)},
        "model": {
            "estimator": "sklearn.neighbors.KNeighborsClassifier",
            "params": {"n_neighbors": 3},
        },
    }
    paths = {r.path for r in run(tmp_path / "r", spec)}
    assert paths == {"exact:knn", "brute-force"}


def test_run_batch_keeps_its_contract_with_a_fast_path(tmp_path: Path) -> None:
    doc = {
        "apiVersion": "loocv.dev/v1alpha1",
        "kind": "LOOCVRun",
        "metadata": {"name": "fp"},
        "spec": {
            "dataset": {"builtin": "diabetes"},
            "model": {"estimator": "sklearn.linear_model.Ridge"},
            "execution": {"foldsPerJob": 100},
        },
    }
    store = LocalStore(tmp_path)
    plan, runner = prepare(parse_run(doc), store, DEFAULT_ALLOWLIST)
    assert runner.fast is not None
    first = run_batch(runner, 1, store)
    assert (first.computed, first.skipped, first.failed) == (100, 0, 0)
    stored = load_results(store, plan.location)
    assert [r.index for r in stored] == list(range(100, 200))
    assert {r.path for r in stored} == {"exact:ridge-hat"}
    drop_fold(store.root, plan.location, 150)
    again = run_batch(runner, 1, store)
    assert (again.computed, again.skipped) == (1, 99)


def test_a_failing_fast_path_falls_back_to_brute_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = {
        "apiVersion": "loocv.dev/v1alpha1",
        "kind": "LOOCVRun",
        "metadata": {"name": "fp"},
        "spec": {
            "dataset": {"builtin": "iris"},
            "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
            "execution": {"foldsPerJob": 150},
        },
    }
    store = LocalStore(tmp_path)
    plan, runner = prepare(parse_run(doc), store, DEFAULT_ALLOWLIST)
    assert runner.fast is not None

    def broken(*_: Any) -> Any:
        raise FloatingPointError("boom")

    monkeypatch.setattr(runner.fast, "loo", broken)
    assert run_batch(runner, 0, store).computed == 150
    stored = load_results(store, plan.location)
    assert {r.path for r in stored} == {"brute-force"} and all(r.ok for r in stored)
