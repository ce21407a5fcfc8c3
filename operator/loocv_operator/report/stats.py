"""What the report computes beyond the summary, in numpy only: ROC and precision-recall
curves, equal-mass ECE, per-class recall with Wilson intervals, and leave-one-out
baselines (majority class, mean predictor) to compare the model with."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..stats import ECE_BINS, wilson_interval


@dataclass(frozen=True)
class Curve:
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    area: float  # ROC AUC, or average precision for a PR curve


def roc_curve(positive: NDArray[np.bool_], score: NDArray[np.float64]) -> Curve | None:
    """ROC of a binary score; None unless both classes are present. Ties share a point,
    as in sklearn.metrics.roc_curve, and the AUC is its trapezoidal area."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(-score, kind="mergesort")
    s, p = score[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(p)[last]
    fps = (last + 1) - tps
    tpr = np.r_[0.0, tps / n_pos]
    fpr = np.r_[0.0, fps / n_neg]
    return Curve(fpr, tpr, float(np.trapezoid(tpr, fpr)))


def pr_curve(positive: NDArray[np.bool_], score: NDArray[np.float64]) -> Curve | None:
    """Precision against recall; the area is average precision (sklearn's step sum)."""
    n_pos = int(positive.sum())
    if n_pos == 0 or n_pos == positive.size:
        return None
    order = np.argsort(-score, kind="mergesort")
    s, p = score[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(p)[last].astype(np.float64)
    precision = tps / (last + 1)
    recall = tps / n_pos
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return Curve(np.r_[0.0, recall], np.r_[1.0, precision], ap)


def ece_equal_mass(
    truth: NDArray[np.int64], proba: NDArray[np.float64], bins: int = ECE_BINS
) -> float | None:
    """Top-label ECE over bins holding equal numbers of samples (sorted by confidence):
    no empty bins, so it does not hide the crowded high-confidence end as equal-width
    bins can. The gate's `ece` is the equal-width one."""
    n = truth.size
    if n == 0:
        return None
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == truth).astype(np.float64)
    order = np.argsort(confidence, kind="mergesort")
    total = 0.0
    for chunk in np.array_split(order, min(bins, n)):
        total += abs(correct[chunk].mean() - confidence[chunk].mean()) * chunk.size
    return total / n


@dataclass(frozen=True)
class ClassRecall:
    label: str
    support: int
    correct: int
    recall: float | None  # None: no held-out sample of this class (shown n/a)
    low: float | None
    high: float | None


def class_recalls(
    labels: list[str], truth: NDArray[np.int64], predicted: NDArray[np.int64]
) -> list[ClassRecall]:
    out = []
    for k, label in enumerate(labels):
        mine = truth == k
        n = int(mine.sum())
        hits = int((predicted[mine] == k).sum())
        if n == 0:
            out.append(ClassRecall(label, 0, 0, None, None, None))
            continue
        low, high = wilson_interval(hits, n)
        out.append(ClassRecall(label, n, hits, hits / n, low, high))
    return out


@dataclass(frozen=True)
class Baseline:
    """A model that ignores the features, evaluated by the same leave-one-out: what the
    model must beat for its features to matter."""

    name: str
    values: dict[str, float]


def classification_baseline(truth: NDArray[np.int64], n_classes: int) -> Baseline | None:
    """Majority class and class priors of the n-1 training samples of each fold."""
    n = truth.size
    if n < 2 or (truth < 0).any():
        return None
    counts = np.bincount(truth, minlength=n_classes).astype(np.float64)
    others = np.tile(counts, (n, 1))
    others[np.arange(n), truth] -= 1  # each fold's training set lacks its own sample
    # the majority of the others (ties: the lowest class index, as argmax does)
    predicted = others.argmax(axis=1)
    prior = others / (n - 1)
    p_true = prior[np.arange(n), truth]
    onehot = np.zeros_like(prior)
    onehot[np.arange(n), truth] = 1.0
    if n_classes == 2:
        brier = float(np.mean((prior[:, 1] - onehot[:, 1]) ** 2))
    else:
        brier = float(np.mean(np.sum((prior - onehot) ** 2, axis=1)))
    return Baseline(
        "majority class / class priors",
        {
            "accuracy": float(np.mean(predicted == truth)),
            "logLoss": float(-np.mean(np.log(np.clip(p_true, 1e-15, 1.0)))),
            "brier": brier,
        },
    )


def regression_baseline(truth: NDArray[np.float64]) -> Baseline | None:
    """The mean of the n-1 training targets of each fold."""
    n = truth.size
    if n < 3 or not np.isfinite(truth).all():
        return None
    predicted = (truth.sum() - truth) / (n - 1)
    error = predicted - truth
    total = float(np.sum((truth - truth.mean()) ** 2))
    return Baseline(
        "mean predictor",
        {
            "mae": float(np.mean(np.abs(error))),
            "rmse": math.sqrt(float(np.mean(error**2))),
            "r2": 1.0 - float(np.sum(error**2)) / total if total > 0 else math.nan,
        },
    )
