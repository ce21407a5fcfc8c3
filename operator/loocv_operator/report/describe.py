"""What ran, in words: the pipeline with its parameters, the data, the strategy and subset,
the class names, the library versions."""

from __future__ import annotations

import platform
from importlib import metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..plan import Plan

# Class names of the builtin datasets whose targets are integers (sklearn's target_names),
# so the report says "malignant", not 0. Files with text labels already carry their names.
BUILTIN_CLASS_NAMES: dict[str, list[str]] = {
    "iris": ["setosa", "versicolor", "virginica"],
    "breast_cancer": ["malignant", "benign"],
    "wine": ["class_0", "class_1", "class_2"],
}
LIBRARIES = ("loocv-operator", "scikit-learn", "numpy", "scipy")


def class_names(plan: Plan) -> dict[str, str]:
    """str(class) -> what to show: the dataset's name for it, with the stored value."""
    classes = list(plan.classes or [])
    shown = {str(c): str(c) for c in classes}
    names = BUILTIN_CLASS_NAMES.get(plan.spec.dataset.builtin or "")
    if names and [str(c) for c in classes] == [str(i) for i in range(len(names))]:
        shown = {str(i): f"{name} ({i})" for i, name in enumerate(names)}
    return shown


def pipeline_text(plan: Plan) -> str:
    """StandardScaler() → LogisticRegression(C=1.0, max_iter=1000)"""
    from ..describe import pipeline_text as text

    return text(plan.spec.model)


def dataset_text(plan: Plan) -> str:
    data = plan.spec.dataset
    where = f"builtin {data.builtin}" if data.builtin else str(data.uri)
    extra = [f"target {data.target}"] if data.target else []
    if data.features:
        extra.append(f"{len(data.features)} features")
    return where + (f" ({', '.join(extra)})" if extra else "")


def strategy_text(plan: Plan) -> str:
    from ..describe import strategy_text as text

    return text(plan.spec.strategy)


def versions() -> dict[str, str]:
    """Versions of the libraries that wrote this report, read without importing them."""
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
