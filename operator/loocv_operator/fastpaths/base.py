"""What every exact fast path shares: its result type, the pipeline shapes it accepts, the
per-fold StandardScaler downdate, and the near-tie tests that send a sample to brute force.

A fast path computes, from one pass over the full data, what each leave-one-out fold's model
would predict for its held-out sample. It is only allowed to claim a sample when the answer
is the fold model's answer up to floating point; wherever that cannot be shown for a sample
(a tie, a leverage near 1, a feature that turns constant without the sample), it marks the
sample not exact and the trainer fits that fold by brute force.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]
EPS = float(np.finfo(np.float64).eps)
# A decision (argmax, sign, k-th neighbour) is trusted only when its margin exceeds this many
# rounding units of the quantities compared; brute force and the fast path both round, and a
# closer call could come out either way.
TIE_ULPS = 1e6
# Largest condition number of a linear system a fast path solves in place of sklearn's own
# solve: beyond it the two answers may differ by more than ~1e-9 relative.
MAX_CONDITION = 1e6


@dataclass(frozen=True)
class LooPredictions:
    """Leave-one-out predictions for ``rows``; ``exact[k]`` False means "fit this fold"."""

    rows: NDArray[np.intp]
    predicted: NDArray[Any]
    proba: Floats | None
    exact: Bools
    path: str
    # Per-row numbers worth keeping with each fold's result (e.g. an approximation's step).
    detail: dict[str, Floats] | None = None


class FastPath(ABC):
    """One closed-form LOO for one estimator family (and the scaler before it, if any)."""

    name: str = "exact"

    @abstractmethod
    def loo(self, X: Floats, y: NDArray[Any], rows: NDArray[np.intp]) -> LooPredictions:
        """Each row's prediction by the model fitted on every other row."""


def split_pipeline(estimator: Any) -> tuple[StandardScaler | None, Any] | None:
    """(scaler, final) for a bare estimator or a Pipeline of at most one StandardScaler and a
    final estimator; None for any other shape (fast paths do not know it)."""
    if not isinstance(estimator, Pipeline):
        return None, estimator
    steps = [step for _, step in estimator.steps if step not in (None, "passthrough")]
    if len(steps) == 1:
        return None, steps[0]
    if len(steps) == 2 and type(steps[0]) is StandardScaler:
        return steps[0], steps[1]
    return None


@dataclass(frozen=True)
class FoldScaling:
    """The StandardScaler each fold fits: mean and scale without the held-out row."""

    mean: Floats  # (m, p)
    scale: Floats  # (m, p)
    exact: Bools  # (m,) False: a feature is (near) constant without the row, or ambiguous


def _direct_var(column: Floats, row: int) -> tuple[float, float]:
    rest = np.delete(column, row)
    return float(rest.mean()), float(rest.var())


def fold_moments(X: Floats, rows: NDArray[np.intp]) -> tuple[Floats, Floats]:
    """Per-fold column means and (population) variances without each row, by downdating the
    full-data sums; a downdate that cancels too much is recomputed directly."""
    n = X.shape[0]
    mean = X.mean(axis=0)
    m2 = ((X - mean) ** 2).sum(axis=0)
    d = X[rows] - mean
    fold_mean = mean - d / (n - 1)
    fold_m2 = m2 - d * d * (n / (n - 1))
    # Cancellation: the downdate loses ~eps * m2 absolutely; recompute where that is large.
    bad = fold_m2 < 1e-4 * m2
    for k, f in zip(*np.nonzero(bad), strict=True):
        fold_mean[k, f], var = _direct_var(X[:, f], int(rows[k]))
        fold_m2[k, f] = var * (n - 1)
    return fold_mean, np.maximum(fold_m2, 0.0) / (n - 1)


def fold_scaling(scaler: StandardScaler, X: Floats, rows: NDArray[np.intp]) -> FoldScaling:
    """What ``scaler.fit(X without row)`` learns, for each row; near-constant features (where
    sklearn switches the scale to 1 by a threshold) are not claimed."""
    n, p = X.shape
    mean, var = fold_moments(X, rows)
    exact = np.ones(len(rows), dtype=bool)
    if scaler.with_std:
        bound = (n - 1) * EPS * var + ((n - 1) * mean * EPS) ** 2
        # A column constant in the whole data is constant in every fold: sklearn scales it
        # by 1 there, and so do we. Nearly constant (or constant only without the row) is a
        # threshold call sklearn makes on its own rounding: not claimed.
        constant = (X[0] == X).all(axis=0)
        near = (var <= 1e3 * bound + 1e3 * np.finfo(np.float64).tiny) & ~constant
        exact &= ~near.any(axis=1)
        scale = np.sqrt(var)
        scale[:, constant] = 1.0
        scale[scale == 0] = 1.0
    else:
        scale = np.ones((len(rows), p))
    if not scaler.with_mean:
        mean = np.zeros_like(mean)
    return FoldScaling(mean, scale, exact)


def clear_argmax(scores: Floats, scale: Floats | float) -> tuple[NDArray[np.intp], Bools]:
    """argmax per row (first on ties, as numpy and sklearn pick) and whether the winner beats
    the runner-up by more than rounding could account for."""
    best = np.argmax(scores, axis=1)
    if scores.shape[1] < 2:
        return best, np.ones(len(best), dtype=bool)
    top2 = -np.partition(-scores, 1, axis=1)[:, :2]
    margin = top2[:, 0] - top2[:, 1]
    return best, margin > TIE_ULPS * EPS * np.maximum(np.abs(top2[:, 0]) + scale, 1e-300)


def clear_sign(scores: Floats, scale: Floats | float) -> tuple[NDArray[np.intp], Bools]:
    """(score > 0) as sklearn's binary linear classifiers decide, and whether it is clear."""
    return (scores > 0).astype(np.intp), np.abs(scores) > TIE_ULPS * EPS * scale


def scalar(value: Any) -> float | None:
    """A hyperparameter as one float, or None when it is an array, a callable, …"""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | np.floating | np.integer):
        return float(value)
    arr = np.asarray(value) if isinstance(value, list | tuple | np.ndarray) else None
    if arr is not None and arr.size == 1 and np.issubdtype(arr.dtype, np.number):
        return float(arr.reshape(-1)[0])
    return None


@dataclass(frozen=True)
class ClassMoments:
    """Per-class sufficient statistics of the full data and of each fold's held-out class."""

    classes: NDArray[Any]
    codes: NDArray[np.intp]  # class index of every sample
    counts: NDArray[np.intp]  # (K,)
    mean: Floats  # (K, p)
    m2: Floats  # (K, p) sums of squared deviations
    fold_mean: Floats  # (m, p): mean of the held-out row's class without the row
    fold_m2: Floats  # (m, p)


def class_moments(X: Floats, y: NDArray[Any], rows: NDArray[np.intp]) -> ClassMoments:
    """Class means and squared deviations, downdated for each held-out row's class; where
    the downdate cancels (the row dominated its class's spread) it is recomputed directly."""
    classes, codes = np.unique(y, return_inverse=True)
    K = len(classes)
    counts = np.bincount(codes, minlength=K)
    mean = np.zeros((K, X.shape[1]))
    m2 = np.zeros_like(mean)
    for c in range(K):
        members = X[codes == c]
        mean[c] = members.mean(axis=0)
        m2[c] = ((members - mean[c]) ** 2).sum(axis=0)
    c_rows = codes[rows]
    n_c = counts[c_rows].astype(np.float64)[:, None]
    d = X[rows] - mean[c_rows]
    with np.errstate(divide="ignore", invalid="ignore"):
        fold_mean = mean[c_rows] - d / (n_c - 1)
        fold_m2 = m2[c_rows] - d * d * (n_c / (n_c - 1))
    single = counts[c_rows] < 2
    fold_mean[single] = 0.0
    fold_m2[single] = 0.0
    bad = (fold_m2 < 1e-4 * m2[c_rows]) & ~single[:, None]
    for k in np.flatnonzero(bad.any(axis=1)):
        members = np.flatnonzero(codes == c_rows[k])
        rest = X[members[members != rows[k]]]
        fold_mean[k] = rest.mean(axis=0)
        fold_m2[k] = ((rest - fold_mean[k]) ** 2).sum(axis=0)
    return ClassMoments(classes, codes, counts, mean, m2, fold_mean, np.maximum(fold_m2, 0.0))


def softmax(scores: Floats, present: Bools) -> Floats:
    """Row-wise softmax over the present classes; absent classes get probability 0 (as the
    trainer fills a class the fold's model never saw)."""
    masked = np.where(present, scores, -np.inf)
    top = masked.max(axis=1, keepdims=True)
    e = np.where(present, np.exp(masked - top), 0.0)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)
