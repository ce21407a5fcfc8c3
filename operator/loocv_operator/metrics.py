"""Pooled LOOCV metrics: every held-out prediction of every fold, each fold counted once.

The operator re-aggregates every few seconds while a run with tens of thousands of folds
fills in, so the aggregator keeps the predictions in growing numpy columns (add() is
O(samples of the fold), summary() is vectorised) instead of re-reading fold objects.

The summary is JSON for report.json and, in part, for a Kubernetes status: camelCase keys,
plain Python numbers, and None where a metric is undefined (NaN is not valid JSON).
"""

from __future__ import annotations

import heapq
import logging
import math
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .results import NOT_RUN_PATH, FoldError, FoldResult

if TYPE_CHECKING:
    from .plan import Plan

log = logging.getLogger("loocv.metrics")

ECE_BINS = 15
WORST_SAMPLES = 10
NOISE_CANDIDATES = 20
NOISE_CONFIDENCE = 0.9
MAX_FAILURES = 20
MAX_FAILURE_IDS = 10  # a KFold fold holds out many samples; the status must stay small
MAX_MESSAGE_CHARS = 2000
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
# Above this many samples the exact bootstrap (resamples x samples random draws) is too slow
# to repeat every few seconds; the regression CIs then draw the resampled means from the
# normal law with the bootstrap's own mean and covariance (see _regression_cis).
BOOTSTRAP_EXACT_MAX = 10_000
_INDEX_CHUNK_ELEMENTS = 1 << 22  # bound the memory of one block of resample indices

# A fold's state. _NOT_RUN: the operator gave its batch up and recorded the fold without
# computing it (results.NOT_RUN_PATH): it has a result object but no computed outcome, so it
# counts as missing, never as done.
_MISSING, _OK, _FAILED, _NOT_RUN = 0, 1, 2, 3
MAX_MISSING_LISTED = 20  # fold indices the summary names when results are incomplete
_UNKNOWN = -1  # a label that is not one of the plan's classes


def _num(value: Any) -> float | None:
    """A plain float, or None for a missing, NaN or infinite value (JSON-safe)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _plain(value: Any) -> Any:
    """A label or value as plain Python, non-finite floats as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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


@dataclass(frozen=True)
class Reliability:
    """Per-bin calibration data (equal-width confidence bins): the reliability diagram."""

    edges: NDArray[np.float64]
    counts: NDArray[np.int64]
    confidence: NDArray[np.float64]  # mean top-label probability per bin (NaN when empty)
    accuracy: NDArray[np.float64]  # fraction correct per bin (NaN when empty)


def reliability(y_true_idx: ArrayLike, proba: ArrayLike, bins: int = ECE_BINS) -> Reliability:
    """Top-label calibration: the predicted class is argmax(proba), its confidence the max.

    Bin m holds confidences in (edges[m], edges[m+1]]; the first bin also holds 0.
    """
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
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(counts > 0, conf_sum / counts, np.nan)
        accuracy = np.where(counts > 0, correct_sum / counts, np.nan)
    return Reliability(edges, counts, mean_conf, accuracy)


def expected_calibration_error(
    y_true_idx: np.ndarray, proba: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Top-label ECE with equal-width bins: sum over bins of |accuracy - confidence|
    weighted by the bin's share of the samples."""
    curve = reliability(y_true_idx, proba, bins)
    total = int(curve.counts.sum())
    if total == 0:
        raise ValueError("no samples")
    filled = curve.counts > 0
    gaps = np.abs(curve.accuracy[filled] - curve.confidence[filled])
    return float(np.sum(gaps * curve.counts[filled]) / total)


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


def _regression_cis(
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


def _interval(bounds: tuple[float, float]) -> list[float] | None:
    low, high = _num(bounds[0]), _num(bounds[1])
    return None if low is None or high is None else [low, high]


@dataclass(frozen=True)
class Pooled:
    """The evaluated held-out samples (ok folds, with a prediction), in row order."""

    rows: NDArray[np.int64]
    folds: NDArray[np.int64]
    ids: list[str]
    y_true: list[Any]
    y_pred: list[Any]
    loss: NDArray[np.float64]  # NaN where the trainer stored none
    y_true_idx: NDArray[np.int64]  # classification: index into classes, -1 if unknown
    y_pred_idx: NDArray[np.int64]
    proba: NDArray[np.float64] | None  # (n, n_classes) when every sample has probabilities
    y_true_value: NDArray[np.float64]  # regression: the values as floats
    y_pred_value: NDArray[np.float64]


class Aggregator:
    """Running aggregate of fold results; cheap to add to and to summarise repeatedly."""

    def __init__(self, task: str, classes: list[Any] | None, n_folds: int) -> None:
        if task not in ("classification", "regression"):
            raise ValueError(f"unknown task {task!r}")
        if task == "classification" and not classes:
            raise ValueError("classification needs the plan's classes")
        if n_folds < 0:
            raise ValueError("n_folds must be >= 0")
        self.task = task
        self.classification = task == "classification"
        self.classes: list[Any] = list(classes) if classes and self.classification else []
        self.n_folds = n_folds
        # Compare labels by value (1 == 1.0 == True), then by text ("1" from a CSV).
        self._class_index: dict[Any, int] = {}
        self._class_text: dict[str, int] = {}
        for i, label in enumerate(self.classes):
            self._class_index.setdefault(label, i)
            self._class_text.setdefault(str(label), i)
        n_classes = len(self.classes)

        # Per fold, addressed by fold index.
        self._status = np.zeros(n_folds, dtype=np.int8)
        self._start = np.zeros(n_folds, dtype=np.int64)
        self._end = np.zeros(n_folds, dtype=np.int64)
        self._fit = np.zeros(n_folds, dtype=np.float64)
        self._predict = np.zeros(n_folds, dtype=np.float64)
        self._path: dict[int, str] = {}
        self._version: dict[int, str] = {}
        self._errors: dict[int, tuple[FoldError, list[str]]] = {}
        self._paths: Counter[str] = Counter()
        self._versions: Counter[str] = Counter()
        self._failure_types: Counter[str] = Counter()
        self._done = 0
        self._ignored = 0

        # Per sample slot; a replaced fold's slots die and are compacted away later.
        self._size = 0
        self._dead = 0
        capacity = max(16, n_folds)
        self._row = np.zeros(capacity, dtype=np.int64)
        self._fold = np.zeros(capacity, dtype=np.int64)
        self._alive = np.zeros(capacity, dtype=bool)
        self._ok = np.zeros(capacity, dtype=bool)
        self._has_pred = np.zeros(capacity, dtype=bool)
        self._has_proba = np.zeros(capacity, dtype=bool)
        self._true_idx = np.full(capacity, _UNKNOWN, dtype=np.int64)
        self._pred_idx = np.full(capacity, _UNKNOWN, dtype=np.int64)
        self._true_value = np.full(capacity, np.nan, dtype=np.float64)
        self._pred_value = np.full(capacity, np.nan, dtype=np.float64)
        self._loss = np.full(capacity, np.nan, dtype=np.float64)
        self._proba = np.full((capacity, n_classes), np.nan, dtype=np.float64)
        self._ids: list[str] = []
        self._y_true: list[Any] = []
        self._y_pred: list[Any] = []

    # ----------------------------------------------------------------- feeding
    def missing_indices(self, limit: int) -> list[int]:
        """The first ``limit`` planned folds with no result (never ran, lost, unreadable)."""
        absent = (self._status == _MISSING) | (self._status == _NOT_RUN)
        return [int(i) for i in np.flatnonzero(absent)[:limit]]

    @property
    def n_done(self) -> int:
        """Folds with a result, succeeded or failed."""
        return self._done

    def _label_index(self, label: Any) -> int:
        if label is None:
            return _UNKNOWN
        try:
            found = self._class_index.get(label)
        except TypeError:  # unhashable: not a label of ours
            found = None
        if found is None:
            found = self._class_text.get(str(label))
        return _UNKNOWN if found is None else found

    def _reserve(self, extra: int) -> None:
        needed = self._size + extra
        capacity = self._row.shape[0]
        if needed <= capacity:
            return
        new = max(needed, capacity * 2)

        def grown(array: np.ndarray, fill: Any) -> np.ndarray:
            shape = (new, *array.shape[1:])
            out = np.full(shape, fill, dtype=array.dtype)
            out[: self._size] = array[: self._size]
            return out

        self._row = grown(self._row, 0)
        self._fold = grown(self._fold, 0)
        self._alive = grown(self._alive, False)
        self._ok = grown(self._ok, False)
        self._has_pred = grown(self._has_pred, False)
        self._has_proba = grown(self._has_proba, False)
        self._true_idx = grown(self._true_idx, _UNKNOWN)
        self._pred_idx = grown(self._pred_idx, _UNKNOWN)
        self._true_value = grown(self._true_value, np.nan)
        self._pred_value = grown(self._pred_value, np.nan)
        self._loss = grown(self._loss, np.nan)
        self._proba = grown(self._proba, np.nan)

    def add(self, result: FoldResult) -> None:
        """Record one fold; a later result for the same fold replaces the earlier one."""
        i = result.index
        if not 0 <= i < self.n_folds:
            self._ignored += 1
            log.warning("ignoring a result for fold %d: the plan has %d folds", i, self.n_folds)
            return
        if self._status[i] != _MISSING:
            self._forget(i)
        else:
            self._done += 1
        samples = result.samples
        ok = result.error is None
        self._reserve(len(samples))
        start = self._size
        n_classes = len(self.classes)
        for offset, sample in enumerate(samples):
            slot = start + offset
            self._row[slot] = sample.row
            self._fold[slot] = i
            self._alive[slot] = True
            self._ok[slot] = ok
            has_pred = ok and sample.y_pred is not None
            self._has_pred[slot] = has_pred
            self._loss[slot] = np.nan if sample.loss is None else _as_float(sample.loss)
            self._ids.append(str(sample.id))
            self._y_true.append(sample.y_true)
            self._y_pred.append(sample.y_pred if has_pred else None)
            if self.classification:
                self._true_idx[slot] = self._label_index(sample.y_true)
                self._pred_idx[slot] = self._label_index(sample.y_pred) if has_pred else _UNKNOWN
                proba = sample.proba
                self._has_proba[slot] = False
                if has_pred and proba is not None and len(proba) == n_classes:
                    try:
                        self._proba[slot] = proba
                        self._has_proba[slot] = True
                    except (TypeError, ValueError):  # a hand-edited result: no probabilities
                        pass
            else:
                self._true_value[slot] = _as_float(sample.y_true)
                self._pred_value[slot] = _as_float(sample.y_pred) if has_pred else np.nan
        self._size = start + len(samples)
        if ok:
            self._status[i] = _OK
        else:
            self._status[i] = _NOT_RUN if result.path == NOT_RUN_PATH else _FAILED
        self._start[i] = start
        self._end[i] = self._size
        self._fit[i] = float(result.fit_seconds)
        self._predict[i] = float(result.predict_seconds)
        self._path[i] = result.path
        self._paths[result.path] += 1
        self._version[i] = result.trainer_version
        self._versions[result.trainer_version] += 1
        if result.error is not None:
            ids = [str(s.id) for s in samples[:MAX_FAILURE_IDS]]
            self._errors[i] = (result.error, ids)
            self._failure_types[result.error.type] += 1
        if self._dead > 1024 and self._dead * 2 > self._size:
            self._compact()

    def _forget(self, i: int) -> None:
        start, end = int(self._start[i]), int(self._end[i])
        self._alive[start:end] = False
        self._dead += end - start
        _decrement(self._paths, self._path.pop(i))
        _decrement(self._versions, self._version.pop(i))
        error = self._errors.pop(i, None)
        if error is not None:
            _decrement(self._failure_types, error[0].type)

    def _compact(self) -> None:
        """Drop the slots of replaced fold results; live slots keep their order."""
        size = self._size
        alive = self._alive[:size].copy()
        before = np.concatenate(([0], np.cumsum(alive)))  # live slots before each slot
        done = self._status != _MISSING
        self._start[done] = before[self._start[done]]
        self._end[done] = before[self._end[done]]
        keep = np.flatnonzero(alive)
        for name in (
            "_row",
            "_fold",
            "_alive",
            "_ok",
            "_has_pred",
            "_has_proba",
            "_true_idx",
            "_pred_idx",
            "_true_value",
            "_pred_value",
            "_loss",
            "_proba",
        ):
            array = getattr(self, name)
            array[: keep.size] = array[keep]
        self._ids = [self._ids[k] for k in keep.tolist()]
        self._y_true = [self._y_true[k] for k in keep.tolist()]
        self._y_pred = [self._y_pred[k] for k in keep.tolist()]
        self._size = int(keep.size)
        self._alive[self._size : size] = False
        self._dead = 0

    # ----------------------------------------------------------------- reading
    def _evaluated_slots(self) -> NDArray[np.intp]:
        size = self._size
        mask = self._alive[:size] & self._ok[:size] & self._has_pred[:size]
        slots = np.flatnonzero(mask)
        return slots[np.argsort(self._row[slots], kind="stable")]

    def pooled(self) -> Pooled:
        """The evaluated samples as arrays (for plots and for checks against sklearn)."""
        slots = self._evaluated_slots()
        every_proba = bool(self.classification and slots.size and self._has_proba[slots].all())
        listed = slots.tolist()
        return Pooled(
            rows=self._row[slots].copy(),
            folds=self._fold[slots].copy(),
            ids=[self._ids[k] for k in listed],
            y_true=[self._y_true[k] for k in listed],
            y_pred=[self._y_pred[k] for k in listed],
            loss=self._loss[slots].copy(),
            y_true_idx=self._true_idx[slots].copy(),
            y_pred_idx=self._pred_idx[slots].copy(),
            proba=self._proba[slots].copy() if every_proba else None,
            y_true_value=self._true_value[slots].copy(),
            y_pred_value=self._pred_value[slots].copy(),
        )

    def summary(self) -> dict[str, Any]:
        """The aggregate so far, JSON-serialisable (see the module docstring)."""
        size = self._size
        alive = self._alive[:size]
        ok = self._ok[:size]
        slots = self._evaluated_slots()
        failed_folds = int(np.count_nonzero(self._status == _FAILED))
        succeeded = int(np.count_nonzero(self._status == _OK))
        computed = failed_folds + succeeded
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # undefined-metric warnings: we report None
            if self.classification:
                metrics = self._classification_metrics(slots)
            else:
                metrics = self._regression_metrics(slots)
            loss = self._loss[slots]
            loss = loss[np.isfinite(loss)]
            metrics["lossMean"] = _num(loss.mean()) if loss.size else None
            metrics["lossStd"] = _num(loss.std()) if loss.size else None
        return {
            "task": self.task,
            "folds": {
                "total": self.n_folds,
                "done": computed,
                "succeeded": succeeded,
                "failed": failed_folds,
                "missing": self.n_folds - computed,
                "notRun": int(np.count_nonzero(self._status == _NOT_RUN)),
                "missingIndices": self.missing_indices(MAX_MISSING_LISTED),
            },
            "samples": {
                "evaluated": int(slots.size),
                "failed": int(np.count_nonzero(alive & ~ok)),
            },
            "failureRate": failed_folds / computed if computed else 0.0,
            "metrics": metrics,
            "timing": self._timing(),
            "worstSamples": self._worst(slots),
            "labelNoiseCandidates": self._noise(slots),
            "failures": self._failures(),
            "failureTypes": dict(sorted(self._failure_types.items())),
            "paths": dict(sorted(self._paths.items())),
            "trainerVersions": dict(sorted(self._versions.items())),
        }

    def _classification_metrics(self, slots: NDArray[np.intp]) -> dict[str, Any]:
        from sklearn.metrics import (
            accuracy_score,
            confusion_matrix,
            log_loss,
            precision_recall_fscore_support,
        )

        n_classes = len(self.classes)
        labels = list(range(n_classes))
        truth = self._true_idx[slots]
        predicted = self._pred_idx[slots].copy()
        predicted[(predicted == _UNKNOWN) & (truth == _UNKNOWN)] = _UNKNOWN - 1  # never equal
        n = int(slots.size)
        metrics: dict[str, Any] = {
            "accuracy": None,
            "accuracyCI95": None,
            "logLoss": None,
            "brier": None,
            "ece": None,
            "eceBins": ECE_BINS,
        }
        if n == 0:
            metrics["perClass"] = {
                str(label): {"precision": None, "recall": None, "f1": None, "support": 0}
                for label in self.classes
            }
            metrics["confusionMatrix"] = {
                "labels": [_plain(c) for c in self.classes],
                "matrix": [[0] * n_classes for _ in range(n_classes)],
            }
            return metrics
        correct = int(np.count_nonzero(truth == predicted))
        metrics["accuracy"] = _num(accuracy_score(truth, predicted))
        metrics["accuracyCI95"] = _interval(wilson_interval(correct, n))
        precision, recall, f1, support = precision_recall_fscore_support(
            truth, predicted, labels=labels, zero_division=0, average=None
        )
        matrix = confusion_matrix(truth, predicted, labels=labels)
        predicted_count = matrix.sum(axis=0)
        # Undefined is not zero: no held-out sample of a class has no recall (a subset that
        # holds out other classes), a class never predicted has no precision.
        metrics["perClass"] = {
            str(label): {
                "precision": _num(precision[k]) if predicted_count[k] else None,
                "recall": _num(recall[k]) if support[k] else None,
                "f1": _num(f1[k]) if support[k] and predicted_count[k] else None,
                "support": int(support[k]),
            }
            for k, label in enumerate(self.classes)
        }
        metrics["confusionMatrix"] = {
            "labels": [_plain(c) for c in self.classes],
            "matrix": [[int(v) for v in row] for row in matrix],
        }
        if self._has_proba[slots].all() and (truth != _UNKNOWN).all():
            proba = self._proba[slots]
            if np.isfinite(proba).all() and proba.min() >= 0.0 and proba.max() <= 1.0:
                metrics["logLoss"] = _num(log_loss(truth, proba, labels=labels))
                metrics["brier"] = _num(brier_score(truth, proba))
                metrics["ece"] = _num(expected_calibration_error(truth, proba, ECE_BINS))
        return metrics

    def _regression_metrics(self, slots: NDArray[np.intp]) -> dict[str, Any]:
        from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

        metrics: dict[str, Any] = {
            "mae": None,
            "maeCI95": None,
            "rmse": None,
            "rmseCI95": None,
            "r2": None,
            "r2CI95": None,
        }
        truth = self._true_value[slots]
        predicted = self._pred_value[slots]
        if slots.size == 0 or not (np.isfinite(truth).all() and np.isfinite(predicted).all()):
            return metrics
        metrics["mae"] = _num(mean_absolute_error(truth, predicted))
        metrics["rmse"] = _num(math.sqrt(mean_squared_error(truth, predicted)))
        if slots.size >= 2:
            metrics["r2"] = _num(r2_score(truth, predicted))
        cis = _regression_cis(truth, predicted, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED)
        metrics["maeCI95"] = _interval(cis["mae"])
        metrics["rmseCI95"] = _interval(cis["rmse"])
        metrics["r2CI95"] = _interval(cis["r2"]) if metrics["r2"] is not None else None
        return metrics

    def _timing(self) -> dict[str, float | None]:
        ok = self._status == _OK
        done = self._status != _MISSING
        return {
            "fitSecondsMedian": _num(np.median(self._fit[ok])) if ok.any() else None,
            "predictSecondsMedian": _num(np.median(self._predict[ok])) if ok.any() else None,
            "fitSecondsTotal": _num(self._fit[done].sum()) or 0.0,
        }

    def _ranked(self, slots: NDArray[np.intp], score: NDArray[np.float64], k: int) -> list[int]:
        """The k slots of highest score, ties by row, without sorting every sample."""
        if slots.size == 0 or k <= 0:
            return []
        if slots.size > k:
            threshold = np.partition(score, slots.size - k)[slots.size - k]
            keep = score >= threshold
            slots, score = slots[keep], score[keep]
        order = np.lexsort((self._row[slots], -score))[:k]
        return [int(s) for s in slots[order]]

    def _worst(self, slots: NDArray[np.intp]) -> list[dict[str, Any]]:
        loss = self._loss[slots]
        finite = np.isfinite(loss)
        chosen = self._ranked(slots[finite], loss[finite], WORST_SAMPLES)
        return [
            {
                "id": self._ids[s],
                "row": int(self._row[s]),
                "loss": _num(self._loss[s]),
                "yTrue": _plain(self._y_true[s]),
                "yPred": _plain(self._y_pred[s]),
            }
            for s in chosen
        ]

    def _noise(self, slots: NDArray[np.intp]) -> list[dict[str, Any]]:
        if not self.classification:
            return []
        predicted = self._pred_idx[slots]
        usable = self._has_proba[slots] & (predicted != _UNKNOWN)
        slots, predicted = slots[usable], predicted[usable]
        confidence = self._proba[slots, predicted] if slots.size else np.zeros(0)
        wrong = (predicted != self._true_idx[slots]) & (confidence >= NOISE_CONFIDENCE)
        chosen = self._ranked(slots[wrong], confidence[wrong], NOISE_CANDIDATES)
        return [
            {
                "id": self._ids[s],
                "row": int(self._row[s]),
                "yTrue": _plain(self._y_true[s]),
                "yPred": _plain(self._y_pred[s]),
                "confidence": _num(self._proba[s, self._pred_idx[s]]),
            }
            for s in chosen
        ]

    def _failures(self) -> list[dict[str, Any]]:
        first = heapq.nsmallest(MAX_FAILURES, self._errors)
        return [
            {
                "fold": i,
                "ids": list(self._errors[i][1]),
                "type": self._errors[i][0].type,
                "message": self._errors[i][0].message[:MAX_MESSAGE_CHARS],
            }
            for i in first
        ]


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def brier_score(y_true_idx: np.ndarray, proba: np.ndarray) -> float:
    """The Brier score as sklearn.metrics.brier_score_loss defines it: binary, the mean
    squared error of the positive class's (classes[1]) probability; multiclass, the mean
    over samples of sum_k (p_k - onehot_k)^2, range [0, 2]. In numpy, because sklearn
    before 1.7 has no multiclass Brier score."""
    p = np.asarray(proba, dtype=np.float64)
    truth = np.asarray(y_true_idx)
    if p.shape[1] == 2:
        return float(np.mean((p[:, 1] - (truth == 1)) ** 2))
    onehot = np.zeros_like(p)
    onehot[np.arange(p.shape[0]), truth] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def summarize(plan: Plan, results: Iterable[FoldResult]) -> dict[str, Any]:
    """Summary of a run's results in one call (the CLI's `loocv report`)."""
    return aggregate(plan, results).summary()


def aggregate(plan: Plan, results: Iterable[FoldResult]) -> Aggregator:
    """An aggregator for the plan, fed with the results."""
    aggregator = Aggregator(plan.task, plan.classes, plan.n_folds)
    for result in results:
        aggregator.add(result)
    return aggregator
