"""What only the data and the model together reveal, found before any fold runs.

A configuration error that surfaces at fit time (``penalty: l1`` with ``solver: lbfgs``)
would otherwise fail every one of N folds with the same message. One trial fit, step by step
through the pipeline, finds it once and names the field: the step that raised and, when the
message names one of the parameters the manifest set, that parameter. The target is checked
against the model's task the same way.

The trial fit is on a bounded subsample (``trial_rows``): its job is to catch configuration
errors, not to fit the data, so a planner pod needs no more memory or time than a small fit
(a fit on all rows is about what one fold costs: KernelRidge on 5000 rows would be OOM-killed
where its folds get more memory). A failure on the subsample is confirmed by a fit on all
rows before refusing: a run is refused only when the fit on all its rows fails, never because
of the subsample.
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
from .estimators import task_of
from .spec import LOOCVRunSpec, StepSpec

MAX_MESSAGE_CHARS = 400
FLOAT_CLASSES_LIMIT = 20  # more distinct float labels than this (and 10% of n): continuous
TRIAL_ROWS = 500  # the trial fit's subsample (more only to hold every class twice)
PER_CLASS = 2  # rows of each class the subsample holds, where the data has them


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


def trial_rows(y: np.ndarray, classification: bool, limit: int = TRIAL_ROWS) -> np.ndarray:
    """The rows of the trial fit, in data order, deterministic: all of them up to ``limit``;
    else, for a classifier, the first ``PER_CLASS`` rows of every class (so each class is
    present, twice where the data has two), and evenly spaced rows up to ``limit`` in all."""
    n = len(y)
    if n <= limit:
        return np.arange(n)
    rows: set[int] = set()
    labels = np.asarray(y)
    if classification and labels.ndim == 1:
        _, inverse = np.unique(labels, return_inverse=True)
        order = np.argsort(inverse, kind="stable")  # rows grouped by class, in data order
        starts = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0])
        for start, end in zip(starts, np.r_[starts[1:], n], strict=True):
            rows.update(order[start : min(end, start + PER_CLASS)].tolist())
    spaced = max(limit - len(rows), 0)
    rows.update(np.linspace(0, n - 1, spaced).round().astype(int).tolist())
    return np.array(sorted(rows))


def trial_fit(spec: LOOCVRunSpec, estimator: Any, X: np.ndarray, y: np.ndarray) -> None:
    """Fit a clone on a bounded subsample (``trial_rows``), one pipeline step at a time, and
    predict one row, so a failure names the step (``spec.model.preprocessing[0]``) or the
    model (``spec.model``). A failure on the subsample is refused only if the same fit on
    every sample fails too (the refusal is that fit's): no false refusal from subsampling."""
    rows = trial_rows(y, task_of(estimator) == "classification")
    if len(rows) == len(y):
        _fit_steps(spec, estimator, X, y)
        return
    try:
        _fit_steps(spec, estimator, X[rows], y[rows])
    except InvalidInput:
        _fit_steps(spec, estimator, X, y)


def _fit_steps(spec: LOOCVRunSpec, estimator: Any, X: np.ndarray, y: np.ndarray) -> None:
    """One fit of a clone on ``X``, ``y``; an estimator's error is an InvalidInput naming its
    field."""
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
