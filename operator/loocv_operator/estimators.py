"""Building the estimator a manifest names, from an allowlist only.

A name is checked against the allowlist (allowlist.py, a string check) *before* anything is
imported, so a manifest can never make a process import a module of its choosing.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sklearn.base import BaseEstimator, is_classifier, is_regressor
from sklearn.pipeline import Pipeline

from .allowlist import DEFAULT_ALLOWLIST, allowlist_from_env, is_allowed, refusal
from .errors import InvalidInput
from .spec import ModelSpec, StepSpec

__all__ = ["DEFAULT_ALLOWLIST", "allowlist_from_env", "build_estimator", "is_allowed", "task_of"]


def resolve(name: str, field: str, allowlist: Sequence[str]) -> type[BaseEstimator]:
    if not is_allowed(name, allowlist):
        raise InvalidInput(field, refusal(name, allowlist))
    module_name, _, class_name = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise InvalidInput(field, f"no module {module_name!r}") from None
    cls = getattr(module, class_name, None)
    if not (inspect.isclass(cls) and issubclass(cls, BaseEstimator)):
        raise InvalidInput(field, f"{name!r} is not a scikit-learn estimator class")
    return cls


def _is_nested(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and "estimator" in value
        and set(value)
        <= {
            "estimator",
            "params",
        }
    )


def build_step(
    step: StepSpec | Mapping[str, Any], field: str, allowlist: Sequence[str], seed: int | None
) -> BaseEstimator:
    """One estimator; a parameter given as {estimator, params} is built the same way."""
    if isinstance(step, Mapping):
        step = StepSpec.model_validate(step)
    cls = resolve(step.estimator, f"{field}.estimator", allowlist)
    accepted = set(cls().get_params(deep=False)) if _constructible(cls) else None
    params: dict[str, Any] = {}
    for key, value in step.params.items():
        if accepted is not None and key not in accepted:
            raise InvalidInput(
                f"{field}.params.{key}",
                f"{step.estimator} has no parameter {key!r} "
                f"(it takes: {', '.join(sorted(accepted))})",
            )
        if _is_nested(value):
            value = build_step(value, f"{field}.params.{key}", allowlist, seed)
        params[key] = value
    if seed is not None and accepted is not None and "random_state" in accepted:
        params.setdefault("random_state", seed)
    try:
        estimator = cls(**params)
    except TypeError as exc:
        raise InvalidInput(f"{field}.params", str(exc)) from None
    _validate_params(estimator, f"{field}.params")
    return estimator


def _constructible(cls: type[BaseEstimator]) -> bool:
    try:
        cls()
    except TypeError:
        return False
    return True


def _validate_params(estimator: BaseEstimator, field: str) -> None:
    """Catch bad values (C=-1) now, not N times at fit time."""
    validate = getattr(estimator, "_validate_params", None)
    if validate is None:
        return
    try:
        validate()
    except (ValueError, TypeError) as exc:
        match = re.search(r"The '(\w+)' parameter", str(exc))
        where = f"{field}.{match.group(1)}" if match else field
        raise InvalidInput(where, str(exc)) from None


def build_estimator(
    model: ModelSpec, allowlist: Sequence[str], seed: int | None = None
) -> BaseEstimator:
    """The model as a fresh, unfitted estimator (a Pipeline when there is preprocessing)."""
    final = build_step(model, "spec.model", allowlist, seed)
    if model.warm_start:
        from .warmstart import check_warm_start

        check_warm_start(final)
    if not model.preprocessing:
        return final
    steps: list[tuple[str, Any]] = []
    used: set[str] = set()
    for i, step in enumerate(model.preprocessing):
        field = f"spec.model.preprocessing[{i}]"
        estimator = build_step(step, field, allowlist, seed)
        if not hasattr(estimator, "transform"):
            kind = "a classifier" if is_classifier(estimator) else "not a transformer"
            raise InvalidInput(
                f"{field}.estimator",
                f"{step.estimator} is {kind}: a preprocessing step must transform the data "
                "(it has no transform method); put the model in spec.model.estimator",
            )
        steps.append((_unique(step.name or type(estimator).__name__.lower(), used), estimator))
    steps.append((_unique(model.name or type(final).__name__.lower(), used), final))
    return Pipeline(steps)


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{name}{n}"
    used.add(candidate)
    return candidate


def task_of(estimator: BaseEstimator) -> str:
    if is_classifier(estimator):
        return "classification"
    if is_regressor(estimator):
        return "regression"
    raise InvalidInput(
        "spec.model.estimator",
        f"{type(estimator).__name__} is neither a classifier nor a regressor",
    )


def describe(estimator: BaseEstimator) -> str:
    """'StandardScaler → LogisticRegression' for a person reading a log line."""
    if isinstance(estimator, Pipeline):
        return " → ".join(type(step).__name__ for _, step in estimator.steps)
    return type(estimator).__name__
