"""Exact leave-one-out from one fit, where the model family allows it (design §7).

``find_fast_path`` picks the shortcut for an estimator (or None: brute force); the trainer
asks it for a batch's held-out rows and fits, by brute force, every fold the shortcut does
not claim. ``fast_path_for`` tells the operator (before any data is read) whether a run will
take a fast path, so it can plan the run as one batch instead of fanning it out.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..spec import LOOCVRunSpec
from .base import FastPath, LooPredictions, split_pipeline

if TYPE_CHECKING:
    from sklearn.preprocessing import StandardScaler

Matcher = Callable[[Any, "StandardScaler | None"], FastPath | None]
# Each shortcut matches exact scikit-learn classes (type(final) is Ridge…), so the final
# step's package says which module can match it; only that one is imported (importing every
# family's sklearn modules cost each run ~0.2 s).
FAMILIES: tuple[tuple[str, str], ...] = (
    ("sklearn.linear_model.", "linear"),
    ("sklearn.kernel_ridge", "kernel"),
    ("sklearn.gaussian_process.", "kernel"),
    ("sklearn.neighbors.", "neighbors"),
    ("sklearn.naive_bayes", "bayes"),
    ("sklearn.discriminant_analysis", "discriminant"),
)


def matchers_for(final: Any) -> list[Matcher]:
    """The matchers that can claim this final estimator (by its class's module)."""
    module = type(final).__module__ + "."
    names = dict.fromkeys(name for prefix, name in FAMILIES if module.startswith(prefix))
    return [importlib.import_module(f"{__name__}.{name}").match for name in names]


def find_fast_path(estimator: Any, spec: LOOCVRunSpec) -> FastPath | None:
    """The exact shortcut for this run, or None. Only LeaveOneOut folds (with or without a
    subset) hold out one row each and train on all the others, which the shortcuts assume;
    ``fastPath: off`` forces brute force. ``approximate`` takes an exact path where there is
    one, else approximate LOO where that applies (fastpaths/approximate.py)."""
    if spec.execution.fast_path == "disabled" or spec.strategy.type != "LeaveOneOut":
        return None
    parts = split_pipeline(estimator)
    if parts is None:
        return None
    scaler, final = parts
    for matcher in matchers_for(final):
        path = matcher(final, scaler)
        if path is not None:
            return path
    if spec.execution.fast_path == "approximate":
        from .approximate import match as approximate

        return approximate(final, scaler)
    return None


def fast_path_for(estimator: Any, spec: LOOCVRunSpec) -> str | None:
    """The path name a run will record (e.g. "exact:ridge-hat"), or None for brute force.

    Data-dependent exceptions (a tie, a leverage near 1) still fall back per fold inside the
    trainer, so a run planned as one batch stays correct; it just runs those folds there.
    """
    path = find_fast_path(estimator, spec)
    return path.name if path is not None else None


__all__ = ["FastPath", "LooPredictions", "fast_path_for", "find_fast_path"]
