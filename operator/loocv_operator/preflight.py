"""What only the data and the model together reveal, found before any fold runs.

A configuration error that surfaces at fit time (``penalty: l1`` with ``solver: lbfgs``)
would otherwise fail every one of N folds with the same message. One trial fit on all the
samples, step by step through the pipeline, finds it once and names the field: the step
that raised and, when the message names one of the parameters the manifest set, that
parameter. The target is checked against the model's task the same way.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from .errors import InvalidInput
from .spec import LOOCVRunSpec, StepSpec

MAX_MESSAGE_CHARS = 400
FLOAT_CLASSES_LIMIT = 20  # more distinct float labels than this (and 10% of n): continuous


def check_target(spec: LOOCVRunSpec, y: np.ndarray, task: str, model: str) -> None:
    """A classifier needs categories: a continuous target, or one where most classes hold a
    single sample, cannot be cross-validated by leaving one out (a singleton's class is absent
    from its own training fold, so it can never be predicted right)."""
    if task != "classification":
        return
    field = "spec.dataset.target" if spec.dataset.uri else "spec.dataset"
    values = np.asarray(y)
    if values.dtype.kind == "f" and not np.all(np.isfinite(values) & (values == np.round(values))):
        raise InvalidInput(
            field,
            f"the target is continuous (for instance {values[0]!r}) but {model} is a "
            "classifier; use a regressor, or a categorical target",
        )
    counts = Counter(values.tolist())
    if values.dtype.kind == "f" and len(counts) > max(FLOAT_CLASSES_LIMIT, values.size // 10):
        raise InvalidInput(
            field,
            f"the target holds {len(counts)} distinct numbers for {values.size} samples: it "
            f"looks continuous, but {model} is a classifier; use a regressor, or give "
            "integer or text class labels",
        )
    singletons = sum(1 for c in counts.values() if c == 1)
    if len(counts) > 2 and singletons * 2 > len(counts):
        raise InvalidInput(
            field,
            f"{len(counts)} classes for {values.size} samples, {singletons} of them with a "
            f"single sample: {model} can never predict a held-out singleton (its class is "
            "missing from its training fold). Is the target continuous? Use a regressor.",
        )


def singleton_classes(y: np.ndarray) -> list[Any]:
    """Classes with one sample: each is a fold that is wrong whatever the model does."""
    counts = Counter(np.asarray(y).tolist())
    return sorted((label for label, c in counts.items() if c == 1), key=str)


def _field_of(message: str, step: StepSpec, where: str) -> str:
    """The parameter the message names (the first the manifest set, in its order), else the
    step itself."""
    for name in step.params:
        if re.search(rf"\b{re.escape(name)}", message, flags=re.IGNORECASE):
            return f"{where}.params.{name}"
    return where


def _refusal(exc: Exception, step: StepSpec, where: str, n: int) -> InvalidInput:
    message = " ".join(str(exc).split())[:MAX_MESSAGE_CHARS]
    field = _field_of(message, step, where)
    return InvalidInput(
        field,
        f"{type(exc).__name__}: {message} (found by a trial fit on all {n} samples, "
        "before any fold ran)",
    )


def trial_fit(spec: LOOCVRunSpec, estimator: Any, X: np.ndarray, y: np.ndarray) -> None:
    """Fit a clone once on every sample, one pipeline step at a time, and predict one row,
    so a failure names the step (``spec.model.preprocessing[0]``) or the model
    (``spec.model``)."""
    model = clone(estimator)
    steps = [s for _, s in model.steps] if isinstance(model, Pipeline) else [model]
    specs: list[tuple[StepSpec, str]] = [
        (s, f"spec.model.preprocessing[{i}]") for i, s in enumerate(spec.model.preprocessing)
    ]
    specs.append((spec.model, "spec.model"))
    data = X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings belong to the folds' report
        for step, (step_spec, where) in zip(steps, specs, strict=True):
            try:
                if step is steps[-1]:
                    step.fit(data, y)
                    step.predict(data[:1])  # some settings fail only at predict time
                else:
                    data = step.fit_transform(data, y)
            except MemoryError:
                raise
            except Exception as exc:  # any estimator error is the configuration's
                raise _refusal(exc, step_spec, where, len(y)) from None
