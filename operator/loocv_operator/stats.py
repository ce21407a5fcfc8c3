"""Pure statistics of pooled LOOCV predictions, in numpy only.

Shared by the aggregator (every held-out sample), the mergeable partial summaries (the
operator, which must not import scikit-learn) and the report. Where scikit-learn defines a
metric, the function here performs the same floating-point operations in the same order, so
its value is the same to the last bit (tests/unit/test_stats.py checks it against
sklearn.metrics); importing sklearn.metrics alone costs a command ~0.5 s.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

ECE_BINS = 15
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
# Above this many samples the exact bootstrap (resamples x samples random draws) is too slow
# to repeat every few seconds; the regression CIs then draw the resampled means from the
# normal law with the bootstrap's own mean and covariance (see regression_cis).
BOOTSTRAP_EXACT_MAX = 10_000
_INDEX_CHUNK_ELEMENTS = 1 << 22  # bound the memory of one block of resample indices
EPS = float(np.finfo(np.float64).eps)  # sklearn's log_loss clips probabilities to [eps, 1-eps]


def num(value: Any) -> float | None:
    """A plain float, or None for a missing, NaN or infinite value (JSON-safe)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def plain(value: Any) -> Any:
    """A label or value as plain Python, non-finite floats as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def interval(bounds: tuple[float, float]) -> list[float] | None:
    low, high = num(bounds[0]), num(bounds[1])
    return None if low is None or high is None else [low, high]


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a proportion: unlike the normal interval it stays inside
    [0, 1] and keeps a sensible width at 0/n or n/n, common with small LOOCV sets."""
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return low, high


# ----------------------------------------------------------------- calibration


@dataclass(frozen=True)
class Reliability:
    """Per-bin calibration data (equal-width confidence bins): the reliability diagram."""

    edges: NDArray[np.float64]
    counts: NDArray[np.int64]
    confidence: NDArray[np.float64]  # mean top-label probability per bin (NaN when empty)
    accuracy: NDArray[np.float64]  # fraction correct per bin (NaN when empty)


@dataclass(frozen=True)
class BinSums:
    """What a reliability diagram is made of, as sums: they add across partial summaries."""

    counts: NDArray[np.int64]
    confidence: NDArray[np.float64]  # sum of top-label probabilities per bin
    correct: NDArray[np.float64]  # correct predictions per bin (as floats, like the weights)


def bin_sums(y_true_idx: ArrayLike, proba: ArrayLike, bins: int = ECE_BINS) -> BinSums:
    """Top-label calibration sums: the predicted class is argmax(proba), its confidence the
    max. Bin m holds confidences in (edges[m], edges[m+1]]; the first bin also holds 0."""
    truth = np.asarray(y_true_idx)
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != truth.shape[0]:
        raise ValueError("proba must be (n_samples, n_classes) and match y_true_idx")
    if bins < 1:
        raise ValueError("bins must be >= 1")
    edges = np.linspace(0.0, 1.0, bins + 1)
    confidence = p.max(axis=1) if p.shape[0] else np.zeros(0)
    correct = (p.argmax(axis=1) == truth) if p.shape[0] else np.zeros(0, dtype=bool)
    which = np.searchsorted(edges[1:-1], confidence, side="left")
    counts = np.bincount(which, minlength=bins).astype(np.int64)
    conf_sum = np.bincount(which, weights=confidence, minlength=bins)
    correct_sum = np.bincount(which, weights=correct.astype(np.float64), minlength=bins)
    return BinSums(counts, conf_sum.astype(np.float64), correct_sum.astype(np.float64))


def reliability_of(sums: BinSums) -> Reliability:
    counts = sums.counts
    edges = np.linspace(0.0, 1.0, counts.shape[0] + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(counts > 0, sums.confidence / np.maximum(counts, 1), np.nan)
        accuracy = np.where(counts > 0, sums.correct / np.maximum(counts, 1), np.nan)
    return Reliability(edges, counts, mean_conf, accuracy)


def reliability(y_true_idx: ArrayLike, proba: ArrayLike, bins: int = ECE_BINS) -> Reliability:
    """Top-label calibration per equal-width bin (see bin_sums)."""
    return reliability_of(bin_sums(y_true_idx, proba, bins))


def ece_of(sums: BinSums) -> float:
    """Top-label ECE with equal-width bins: sum over bins of |accuracy - confidence|
    weighted by the bin's share of the samples."""
    curve = reliability_of(sums)
    total = int(curve.counts.sum())
    if total == 0:
        raise ValueError("no samples")
    filled = curve.counts > 0
    gaps = np.abs(curve.accuracy[filled] - curve.confidence[filled])
    return float(np.sum(gaps * curve.counts[filled]) / total)


def expected_calibration_error(
    y_true_idx: np.ndarray, proba: np.ndarray, bins: int = ECE_BINS
) -> float:
    return ece_of(bin_sums(y_true_idx, proba, bins))


# ----------------------------------------------------------------- per-sample scores


def sample_log_loss(y_true_idx: NDArray[np.int64], proba: NDArray[np.float64]) -> np.ndarray:
    """Each sample's log loss as sklearn.metrics.log_loss computes it (probabilities
    clipped to [eps, 1 - eps]); their mean is log_loss(..., labels=range(n_classes))."""
    clipped = np.clip(proba, EPS, 1 - EPS)
    return -np.log(clipped[np.arange(proba.shape[0]), y_true_idx])


def sample_brier(y_true_idx: NDArray[np.int64], proba: NDArray[np.float64]) -> np.ndarray:
    """Each sample's Brier term; their mean is brier_score (below)."""
    p = np.asarray(proba, dtype=np.float64)
    truth = np.asarray(y_true_idx)
    if p.shape[1] == 2:
        binary: np.ndarray = (p[:, 1] - (truth == 1)) ** 2
        return binary
    onehot = np.zeros_like(p)
    onehot[np.arange(p.shape[0]), truth] = 1.0
    terms: np.ndarray = np.sum((p - onehot) ** 2, axis=1)
    return terms


def brier_score(y_true_idx: np.ndarray, proba: np.ndarray) -> float:
    """The Brier score as sklearn.metrics.brier_score_loss defines it: binary, the mean
    squared error of the positive class's (classes[1]) probability; multiclass, the mean
    over samples of sum_k (p_k - onehot_k)^2, range [0, 2]. In numpy, because sklearn
    before 1.7 has no multiclass Brier score."""
    return float(np.mean(sample_brier(y_true_idx, proba)))


def log_loss(y_true_idx: NDArray[np.int64], proba: NDArray[np.float64]) -> float:
    return float(np.mean(sample_log_loss(y_true_idx, proba)))


# ----------------------------------------------------------------- from a confusion matrix


@dataclass(frozen=True)
class ClassScores:
    """Per-class precision, recall and F1 as sklearn's precision_recall_fscore_support
    (zero_division=0) computes them from the counts."""

    precision: NDArray[np.float64]
    recall: NDArray[np.float64]
    f1: NDArray[np.float64]
    support: NDArray[np.int64]  # held-out samples of the class
    predicted: NDArray[np.int64]  # samples predicted as the class


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    safe = np.where(denominator == 0, 1, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)


def class_scores(tp: np.ndarray, predicted: np.ndarray, support: np.ndarray) -> ClassScores:
    tp = np.asarray(tp, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    support = np.asarray(support, dtype=np.int64)
    f1 = _divide(2.0 * tp.astype(np.float64), 1.0 * support.astype(np.float64) + predicted)
    return ClassScores(_divide(tp, predicted), _divide(tp, support), f1, support, predicted)


# ----------------------------------------------------------------- regression


def mean_absolute_error(truth: NDArray[np.float64], predicted: NDArray[np.float64]) -> float:
    return float(np.mean(np.abs(predicted - truth)))


def mean_squared_error(truth: NDArray[np.float64], predicted: NDArray[np.float64]) -> float:
    return float(np.mean((truth - predicted) ** 2))


def r2_from_sums(residual: float, total: float) -> float:
    """R² from the residual and total sums of squares, as sklearn's r2_score (force_finite):
    1 for a perfect prediction, 0 for an imperfect one of a constant target."""
    if residual == 0:
        return 1.0
    if total == 0:
        return 0.0
    return float(1 - residual / total)


def r2_score(truth: NDArray[np.float64], predicted: NDArray[np.float64]) -> float:
    residual = float(np.sum((truth - predicted) ** 2))
    total = float(np.sum((truth - np.mean(truth)) ** 2))
    return r2_from_sums(residual, total)


# ----------------------------------------------------------------- bootstrap


def _index_chunks(n: int, n_resamples: int, seed: int) -> Iterator[NDArray[np.int64]]:
    """Blocks of bootstrap resample indices, (resamples in block, n), from one seeded stream:
    the same seed gives the same resamples whatever consumes them."""
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _INDEX_CHUNK_ELEMENTS // max(n, 1))
    done = 0
    while done < n_resamples:
        k = min(per_chunk, n_resamples - done)
        yield rng.integers(0, n, size=(k, n), dtype=np.int64)
        done += k


def _percentile_interval(distribution: NDArray[np.float64], level: float) -> tuple[float, float]:
    finite = distribution[np.isfinite(distribution)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_ci(
    *samples: ArrayLike,
    statistic: Callable[..., float],
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(*samples)``.

    The samples are paired (resampled with the same indices), so statistics of pairs such
    as r2(y_true, y_pred) work. Seeded, hence deterministic: a re-aggregation of the same
    predictions reports the same interval. Resamples where the statistic is undefined
    (NaN, e.g. r2 of a constant resample) are left out; (nan, nan) if all are.
    """
    arrays = [np.asarray(s) for s in samples]
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one sample")
    n = arrays[0].shape[0]
    if n == 0 or any(a.shape[0] != n for a in arrays):
        raise ValueError("samples must be non-empty and of equal length")
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    values = np.empty(n_resamples, dtype=np.float64)
    position = 0
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for block in _index_chunks(n, n_resamples, seed):
            for indices in block:
                values[position] = float(statistic(*(a[indices] for a in arrays)))
                position += 1
    return _percentile_interval(values, level)


def regression_cis(
    y_true: NDArray[np.float64], y_pred: NDArray[np.float64], n_resamples: int, seed: int
) -> dict[str, tuple[float, float]]:
    """Bootstrap intervals of MAE, RMSE and R² from one set of resamples.

    All three are functions of four per-sample means (|e|, e², y, y² with y centred, which
    keeps the R² denominator free of cancellation). Up to BOOTSTRAP_EXACT_MAX samples the
    means are computed over true resamples (the same index stream as bootstrap_ci with the
    same seed); above it the resampled means are drawn from a normal law with exactly the
    bootstrap distribution's mean and covariance (sample covariance / n), which is what
    the bootstrap converges to and costs O(resamples) instead of O(resamples x n).
    """
    n = y_true.shape[0]
    error = y_pred - y_true
    centred = y_true - y_true.mean()
    columns = np.stack([np.abs(error), error * error, centred, centred * centred])
    if n <= BOOTSTRAP_EXACT_MAX:
        parts = [
            np.stack([np.take(column, block).mean(axis=1) for column in columns], axis=1)
            for block in _index_chunks(n, n_resamples, seed)
        ]
        means = np.concatenate(parts, axis=0)
    else:
        rng = np.random.default_rng(seed)
        covariance = np.cov(columns, bias=True) / n
        means = rng.multivariate_normal(
            columns.mean(axis=1), covariance, size=n_resamples, method="eigh"
        )
    with np.errstate(all="ignore"):
        mae = means[:, 0]
        rmse = np.sqrt(np.maximum(means[:, 1], 0.0))
        total = means[:, 3] - means[:, 2] ** 2
        r2 = np.where(total > 0, 1.0 - means[:, 1] / np.where(total > 0, total, 1.0), np.nan)
    return {
        "mae": _percentile_interval(mae, 0.95),
        "rmse": _percentile_interval(rmse, 0.95),
        "r2": _percentile_interval(r2, 0.95),
    }
