from __future__ import annotations

import sys

import pytest
from sklearn.ensemble import BaggingClassifier
from sklearn.pipeline import Pipeline

from loocv_operator.errors import InvalidInput
from loocv_operator.estimators import (
    allowlist_from_env,
    build_estimator,
    is_allowed,
    task_of,
)
from loocv_operator.spec import ModelSpec

SKLEARN = ("sklearn",)


def model(**fields: object) -> ModelSpec:
    return ModelSpec.model_validate(fields)


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("sklearn.linear_model.LogisticRegression", True),
        ("sklearnx.Thing", False),
        ("os.system", False),
        ("sklearn.utils._testing.Foo", False),
        ("sklearn", False),
        ("builtins.eval", False),
    ],
)
def test_allowlist(name: str, allowed: bool) -> None:
    assert is_allowed(name, SKLEARN) is allowed


def test_refused_before_import(monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest naming a module outside the allowlist never gets it imported."""
    monkeypatch.delitem(sys.modules, "antigravity", raising=False)
    with pytest.raises(InvalidInput) as err:
        build_estimator(model(estimator="antigravity.Fly"), SKLEARN)
    assert err.value.where == "spec.model.estimator"
    assert "not allowed" in err.value.message
    assert "antigravity" not in sys.modules


def test_admin_extends_allowlist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOCV_ESTIMATOR_ALLOWLIST", "xgboost, lightgbm.")
    assert allowlist_from_env(["mypkg"]) == ("sklearn", "xgboost", "lightgbm", "mypkg")


def test_not_an_estimator() -> None:
    with pytest.raises(InvalidInput, match="not a scikit-learn estimator"):
        build_estimator(model(estimator="sklearn.metrics.accuracy_score"), SKLEARN)


def test_unknown_module() -> None:
    with pytest.raises(InvalidInput, match=r"no module 'sklearn\.nonexistent'"):
        build_estimator(model(estimator="sklearn.nonexistent.Model"), SKLEARN)


def test_unknown_param_is_named() -> None:
    with pytest.raises(InvalidInput) as err:
        build_estimator(
            model(estimator="sklearn.linear_model.LogisticRegression", params={"Cee": 1}), SKLEARN
        )
    assert err.value.where == "spec.model.params.Cee"


def test_bad_param_value_is_named() -> None:
    with pytest.raises(InvalidInput) as err:
        build_estimator(
            model(estimator="sklearn.linear_model.LogisticRegression", params={"C": -1.0}),
            SKLEARN,
        )
    assert err.value.where == "spec.model.params.C"


def test_bad_preprocessing_step_is_named() -> None:
    with pytest.raises(InvalidInput) as err:
        build_estimator(
            model(
                estimator="sklearn.svm.SVC",
                preprocessing=[
                    {
                        "estimator": "sklearn.preprocessing.StandardScaler",
                        "params": {"with_man": False},
                    }
                ],
            ),
            SKLEARN,
        )
    assert err.value.where == "spec.model.preprocessing[0].params.with_man"


def test_pipeline_and_seed() -> None:
    est = build_estimator(
        model(
            estimator="sklearn.ensemble.RandomForestClassifier",
            params={"n_estimators": 5},
            preprocessing=[
                {"estimator": "sklearn.preprocessing.StandardScaler"},
                {"estimator": "sklearn.preprocessing.StandardScaler"},
            ],
        ),
        SKLEARN,
        seed=11,
    )
    assert isinstance(est, Pipeline)
    assert [name for name, _ in est.steps] == [
        "standardscaler",
        "standardscaler2",
        "randomforestclassifier",
    ]
    assert est.steps[-1][1].random_state == 11
    assert task_of(est) == "classification"


def test_explicit_random_state_wins() -> None:
    est = build_estimator(
        model(estimator="sklearn.tree.DecisionTreeRegressor", params={"random_state": 3}),
        SKLEARN,
        seed=11,
    )
    assert est.random_state == 3 and task_of(est) == "regression"


def test_nested_estimator_params_are_allowlisted() -> None:
    est = build_estimator(
        model(
            estimator="sklearn.ensemble.BaggingClassifier",
            params={
                "estimator": {
                    "estimator": "sklearn.tree.DecisionTreeClassifier",
                    "params": {"max_depth": 2},
                },
                "n_estimators": 3,
            },
        ),
        SKLEARN,
    )
    assert isinstance(est, BaggingClassifier) and est.estimator.max_depth == 2
    with pytest.raises(InvalidInput) as err:
        build_estimator(
            model(
                estimator="sklearn.ensemble.BaggingClassifier",
                params={"estimator": {"estimator": "subprocess.Popen"}},
            ),
            SKLEARN,
        )
    assert err.value.where == "spec.model.params.estimator.estimator"


def test_transformer_alone_is_neither_task() -> None:
    with pytest.raises(InvalidInput, match="neither a classifier nor a regressor"):
        task_of(build_estimator(model(estimator="sklearn.preprocessing.StandardScaler"), SKLEARN))
