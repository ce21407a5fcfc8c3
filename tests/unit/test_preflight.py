"""The planner's trial fit: bounded to a subsample, refusing only what a fit on all rows
refuses, naming the field as before."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsRegressor

from loocv_operator.errors import InvalidInput
from loocv_operator.estimators import build_estimator
from loocv_operator.preflight import PER_CLASS, TRIAL_ROWS, trial_fit, trial_rows
from loocv_operator.spec import LOOCVRunSpec, parse_spec


def run_spec(model: dict[str, Any]) -> LOOCVRunSpec:
    return parse_spec({"dataset": {"builtin": "iris"}, "model": model})


def regression_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.random((n, 3))
    return x, x.sum(axis=1) + rng.normal(0, 0.1, n)


def fitted_rows(monkeypatch: pytest.MonkeyPatch, cls: type) -> list[int]:
    """The number of rows of every ``cls.fit`` call from now on."""
    seen: list[int] = []
    original = cls.fit

    def spy(self: Any, X: Any, y: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(len(X))
        return original(self, X, y, *args, **kwargs)

    monkeypatch.setattr(cls, "fit", spy)
    return seen


def test_small_data_is_fitted_whole() -> None:
    assert trial_rows(np.zeros(TRIAL_ROWS), classification=False).tolist() == list(
        range(TRIAL_ROWS)
    )


def test_a_regression_subsample_is_evenly_spaced_first_and_last_rows_included() -> None:
    rows = trial_rows(np.zeros(5001), classification=False)
    assert len(rows) == TRIAL_ROWS and rows[0] == 0 and rows[-1] == 5000
    gaps = np.diff(rows)
    assert gaps.min() >= 9 and gaps.max() <= 11  # 5000 / 499 ≈ 10
    assert trial_rows(np.zeros(5001), classification=False).tolist() == rows.tolist()


def test_a_classification_subsample_holds_every_class_twice_where_it_can() -> None:
    y = np.array(["common"] * 5000 + ["rare", "rare", "rare"] + ["lone"] + ["common"] * 996)
    rows = trial_rows(y, classification=True)
    labels = y[rows].tolist()
    assert labels.count("rare") >= PER_CLASS and labels.count("lone") == 1
    assert {5000, 5001, 5003} <= set(rows.tolist())  # the first rows of the rare classes
    assert len(rows) <= TRIAL_ROWS and rows.tolist() == sorted(set(rows.tolist()))


def test_the_trial_fit_on_big_data_fits_only_the_subsample(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = fitted_rows(monkeypatch, Ridge)
    X, y = regression_data(4000)
    spec = run_spec({"estimator": "sklearn.linear_model.Ridge"})
    trial_fit(spec, build_estimator(spec.model, ["sklearn"]), X, y)
    assert seen == [TRIAL_ROWS]


def test_a_failure_of_the_subsample_only_is_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """600 neighbours: more than the subsample's rows, fewer than the data's."""
    seen = fitted_rows(monkeypatch, KNeighborsRegressor)
    X, y = regression_data(1000)
    spec = run_spec(
        {"estimator": "sklearn.neighbors.KNeighborsRegressor", "params": {"n_neighbors": 600}}
    )
    trial_fit(spec, build_estimator(spec.model, ["sklearn"]), X, y)  # no refusal
    assert seen == [TRIAL_ROWS, 1000]  # it failed on the subsample, passed on all rows


def test_a_failure_of_all_rows_is_refused_naming_the_parameter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = fitted_rows(monkeypatch, LogisticRegression)
    rng = np.random.default_rng(2)
    X, y = rng.random((2000, 3)), np.array(["a", "b"] * 1000)
    spec = run_spec(
        {
            "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"penalty": "l1", "solver": "lbfgs"},
        }
    )
    with pytest.raises(InvalidInput) as refused:
        trial_fit(spec, build_estimator(spec.model, ["sklearn"]), X, y)
    assert refused.value.where == "spec.model.params.penalty"
    assert "found by a trial fit on all 2000 samples, before any fold ran" in str(refused.value)
    first, confirmed = seen  # the subsample's failure, confirmed on every row
    assert first <= TRIAL_ROWS and confirmed == 2000


def test_a_preprocessing_failure_names_its_step() -> None:
    X, y = regression_data(1000)
    spec = run_spec(
        {
            "estimator": "sklearn.linear_model.Ridge",
            "preprocessing": [
                {"estimator": "sklearn.decomposition.PCA", "params": {"n_components": 10}}
            ],
        }
    )
    with pytest.raises(InvalidInput) as refused:
        trial_fit(spec, build_estimator(spec.model, ["sklearn"]), X, y)
    assert refused.value.where == "spec.model.preprocessing[0].params.n_components"
    assert "on all 1000 samples" in str(refused.value)
