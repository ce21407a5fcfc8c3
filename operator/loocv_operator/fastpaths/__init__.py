"""Exact leave-one-out from one fit, where the model family allows it (design §7).

``find_fast_path`` picks the shortcut for an estimator (or None: brute force); the trainer
asks it for a batch's held-out rows and fits, by brute force, every fold the shortcut does
not claim. ``fast_path_for`` tells the operator (before any data is read) whether a run will
take a fast path, so it can plan the run as one batch instead of fanning it out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sklearn.preprocessing import StandardScaler

from ..spec import LOOCVRunSpec
from . import bayes, discriminant, kernel, linear, neighbors
from .base import FastPath, LooPredictions, split_pipeline

Matcher = Callable[[Any, StandardScaler | None], FastPath | None]
MATCHERS: tuple[Matcher, ...] = (
    linear.match,
    kernel.match,
    neighbors.match,
    bayes.match,
    discriminant.match,
)


def find_fast_path(estimator: Any, spec: LOOCVRunSpec) -> FastPath | None:
    """The exact shortcut for this run, or None. Only LeaveOneOut folds (with or without a
    subset) hold out one row each and train on all the others, which the shortcuts assume;
    ``fastPath: off`` forces brute force. ``approximate`` takes an exact path where there is
    one, else approximate LOO where that applies (approximate.py)."""
    if spec.execution.fast_path == "disabled" or spec.strategy.type != "LeaveOneOut":
        return None
    parts = split_pipeline(estimator)
    if parts is None:
        return None
    scaler, final = parts
    for matcher in MATCHERS:
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
