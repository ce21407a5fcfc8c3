"""spec.model.warmStart: each fold starts from the full-data fit, and still lands within
1e-4 of a cold fit; a warm start that would return the full-data model is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression
from sklearn.model_selection import LeaveOneOut, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from loocv_operator.datasets import load_dataset
from loocv_operator.errors import InvalidInput
from loocv_operator.estimators import DEFAULT_ALLOWLIST
from loocv_operator.ledger import load_results
from loocv_operator.local import execute, prepare
from loocv_operator.results import FoldResult
from loocv_operator.spec import DatasetSpec, parse_run
from loocv_operator.store import LocalStore

MakeDoc = Callable[..., dict[str, Any]]
SCALER = [{"estimator": "sklearn.preprocessing.StandardScaler"}]


def run(tmp_path: Path, doc: dict[str, Any], workers: int = 1) -> list[FoldResult]:
    store = LocalStore(tmp_path / "store")
    with threadpool_limits(limits=1):
        plan, runner = prepare(parse_run(doc), store, DEFAULT_ALLOWLIST)
        execute(plan, runner, store, workers)
    return sorted(load_results(store, plan.location), key=lambda r: r.samples[0].row)


@pytest.mark.parametrize(
    ("dataset", "model", "reference"),
    [
        (
            "iris",
            {
                "estimator": "sklearn.linear_model.LogisticRegression",
                "params": {"C": 100.0, "tol": 1e-8, "max_iter": 10000},
                "preprocessing": SCALER,
            },
            make_pipeline(StandardScaler(), LogisticRegression(C=100.0, tol=1e-8, max_iter=10000)),
        ),
        (
            "breast_cancer",
            {
                "estimator": "sklearn.linear_model.LogisticRegression",
                "params": {"solver": "newton-cholesky", "tol": 1e-8},
                "preprocessing": SCALER,
            },
            make_pipeline(StandardScaler(), LogisticRegression(solver="newton-cholesky", tol=1e-8)),
        ),
        (
            "diabetes",
            {"estimator": "sklearn.linear_model.Lasso", "params": {"alpha": 0.01, "tol": 1e-9}},
            Lasso(alpha=0.01, tol=1e-9),
        ),
        (
            "diabetes",
            {"estimator": "sklearn.linear_model.ElasticNet", "params": {"alpha": 0.1, "tol": 1e-9}},
            ElasticNet(alpha=0.1, tol=1e-9),
        ),
    ],
    ids=["iris-logreg-C100", "breast-cancer-newton-cholesky", "diabetes-lasso", "diabetes-enet"],
)
def test_warm_folds_stay_within_1e4_of_a_cold_fit(
    tmp_path: Path, run_doc: MakeDoc, dataset: str, model: dict[str, Any], reference: BaseEstimator
) -> None:
    # breast_cancer: a stratified subset of held-out samples keeps the test quick
    strategy = {"subset": {"stratifiedSample": 40}} if dataset == "breast_cancer" else {}
    doc = run_doc(
        dataset={"builtin": dataset},
        model={**model, "warmStart": True},
        strategy=strategy,
        execution={"fastPath": "off"},
    )
    results = run(tmp_path, doc, workers=2)
    assert {r.path for r in results} == {"warm-start"} and all(r.ok for r in results)
    data = load_dataset(DatasetSpec(builtin=dataset))
    rows = np.array([r.samples[0].row for r in results])
    method = "predict" if dataset == "diabetes" else "predict_proba"
    with threadpool_limits(limits=1):
        if strategy:  # cold fits of the same held-out rows, one by one
            cold = np.vstack(
                [
                    getattr(
                        clone(reference).fit(np.delete(data.X, i, 0), np.delete(data.y, i)), method
                    )(data.X[i : i + 1])
                    for i in rows
                ]
            )
        else:
            cold = cross_val_predict(reference, data.X, data.y, cv=LeaveOneOut(), method=method)
    if dataset == "diabetes":
        warm = np.array([r.samples[0].y_pred for r in results], dtype=float)
        assert np.abs(warm - cold).max() < 1e-4
    else:
        warm_p = np.array([r.samples[0].proba for r in results])
        assert np.abs(warm_p - cold).max() < 1e-4
        labels = np.array([r.samples[0].y_pred for r in results])
        margin = np.sort(cold, axis=1)[:, -1] - np.sort(cold, axis=1)[:, -2]
        agree = labels == np.unique(data.y)[cold.argmax(axis=1)]
        assert (agree | (margin < 2e-4)).all()  # a label may differ only at a near tie


def test_a_fold_that_loses_a_class_is_fitted_cold(tmp_path: Path, run_doc: MakeDoc) -> None:
    path = tmp_path / "d.npz"
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 3))
    y = np.array([0, 1] * 14 + [2, 0])  # class 2 has one member: its fold trains without it
    np.savez(path, X=X, y=y)
    doc = run_doc(
        dataset={"builtin": None, "uri": str(path)},
        model={
            "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"tol": 1e-10},
            "warmStart": True,
        },
    )
    results = run(tmp_path, doc)
    paths = {r.samples[0].row: r.path for r in results}
    assert paths.pop(28) == "brute-force"
    assert set(paths.values()) == {"warm-start"} and all(r.ok for r in results)


def test_off_by_default_and_the_digest_is_unchanged(run_doc: MakeDoc) -> None:
    plain = parse_run(run_doc())
    off = parse_run(
        run_doc(model={"estimator": "sklearn.naive_bayes.GaussianNB", "warmStart": False})
    )
    assert plain.spec.model.warm_start is False
    assert off.spec.digest() == plain.spec.digest()


def refusal(run_doc: MakeDoc, model: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as err:
        prepare(
            parse_run(run_doc(model={**model, "warmStart": True})),
            LocalStore("/nonexistent"),
            DEFAULT_ALLOWLIST,
        )
    return err.value


def test_default_tolerance_is_refused_with_the_reason(run_doc: MakeDoc) -> None:
    err = refusal(run_doc, {"estimator": "sklearn.linear_model.LogisticRegression"})
    assert err.where == "spec.model.params.tol"
    text = str(err)
    assert "0.0001 (scikit-learn's default)" in text
    assert "returning the full-data model" in text and "1e-08 or less" in text


def test_a_tolerance_looser_than_the_bound_is_refused(run_doc: MakeDoc) -> None:
    err = refusal(run_doc, {"estimator": "sklearn.linear_model.Lasso", "params": {"tol": 1e-8}})
    assert err.where == "spec.model.params.tol"
    assert "1e-08 is too loose" in str(err) and "1e-09 or less for Lasso," in str(err)
    logreg = {"estimator": "sklearn.linear_model.LogisticRegression"}
    err = refusal(run_doc, {**logreg, "params": {"solver": "sag", "tol": 1e-7}})
    assert "1e-08 or less for LogisticRegression with solver 'sag'," in str(err)


@pytest.mark.parametrize(
    ("model", "where", "words"),
    [
        (
            {"estimator": "sklearn.ensemble.GradientBoostingClassifier"},
            "spec.model.warmStart",
            "GradientBoostingClassifier does not qualify",
        ),
        (
            {"estimator": "sklearn.neural_network.MLPClassifier", "params": {"tol": 1e-10}},
            "spec.model.warmStart",
            "adds to the fitted model",
        ),
        (
            {
                "estimator": "sklearn.linear_model.LogisticRegression",
                "params": {"solver": "liblinear", "tol": 1e-10},
            },
            "spec.model.params.solver",
            "'liblinear' ignores warm_start",
        ),
        (
            {
                "estimator": "sklearn.linear_model.LogisticRegression",
                "params": {"solver": "saga", "tol": 1e-10},
            },
            "spec.model.params.solver",
            "'saga' stayed 4e-5 from a cold fit",
        ),
    ],
)
def test_estimators_whose_warm_start_means_something_else_are_refused(
    run_doc: MakeDoc, model: dict[str, Any], where: str, words: str
) -> None:
    err = refusal(run_doc, model)
    assert err.where == where and words in str(err)


def test_warm_start_is_a_strict_boolean(run_doc: MakeDoc) -> None:
    from loocv_operator.spec import ManifestError

    with pytest.raises(ManifestError) as err:
        parse_run(run_doc(model={"estimator": "sklearn.linear_model.Lasso", "warmStart": "yes"}))
    assert err.value.where == "spec.model.warmStart"
