"""The aggregator: every held-out prediction of every fold, each fold counted once.

The operator re-aggregated every few seconds while a run with tens of thousands of folds
filled in, so the aggregator keeps the predictions in growing numpy columns (add() is
O(samples of the fold)) instead of re-reading fold objects. Its summary is built by the same
code as a merged one (partial.py, finish.py) from one partial summary of every sample, plus
what needs every sample: the medians and the regression bootstrap intervals.
"""

from __future__ import annotations

import heapq
import logging
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from . import stats
from .columns import (
    MAX_FAILURE_IDS,
    MAX_FAILURES,
    MAX_MESSAGE_CHARS,
    UNKNOWN,
    Evaluated,
    FoldTally,
    LabelIndex,
    SummaryFrame,
    as_float,
)
from .finish import MAX_MISSING_LISTED, Extras, run_summary
from .partial import partial_of
from .results import NOT_RUN_PATH, FoldError, FoldResult
from .summary import Failure, RunSummary

if TYPE_CHECKING:
    from .plan import Plan

log = logging.getLogger("loocv.aggregator")

# A fold's state. _NOT_RUN: the operator gave its batch up and recorded the fold without
# computing it (results.NOT_RUN_PATH): it has a result object but no computed outcome, so it
# counts as missing, never as done.
_MISSING, _OK, _FAILED, _NOT_RUN = 0, 1, 2, 3
_UNKNOWN = UNKNOWN


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
        self.frame = SummaryFrame.of(task, self.classes, n_folds)
        self._label_index = LabelIndex(self.classes)  # by value, then by text
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
            self._loss[slot] = np.nan if sample.loss is None else as_float(sample.loss)
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
                self._true_value[slot] = as_float(sample.y_true)
                self._pred_value[slot] = as_float(sample.y_pred) if has_pred else np.nan
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
        """The aggregate so far in its serialized form (report.json, the status)."""
        return self.result().to_dict()

    def result(self) -> RunSummary:
        """The aggregate so far, typed."""
        slots = self._evaluated_slots()
        listed = slots.tolist()
        evaluated = Evaluated(
            rows=self._row[slots],
            ids=[self._ids[k] for k in listed],
            y_true=[self._y_true[k] for k in listed],
            y_pred=[self._y_pred[k] for k in listed],
            loss=self._loss[slots],
            true_idx=self._true_idx[slots],
            pred_idx=self._pred_idx[slots],
            has_proba=self._has_proba[slots],
            proba=self._proba[slots],
            true_value=self._true_value[slots],
            pred_value=self._pred_value[slots],
        )
        size = self._size
        done = self._status != _MISSING
        tally = FoldTally(
            succeeded=int(np.count_nonzero(self._status == _OK)),
            failed=int(np.count_nonzero(self._status == _FAILED)),
            not_run=[int(i) for i in np.flatnonzero(self._status == _NOT_RUN)],
            samples_failed=int(np.count_nonzero(self._alive[:size] & ~self._ok[:size])),
            fit_total=float(self._fit[done].sum()),
            failures=self._failures(),
            failure_types=dict(self._failure_types),
            paths=dict(self._paths),
            versions=dict(self._versions),
        )
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # undefined-metric warnings: we report None
            partial = partial_of(evaluated, tally, self.frame)
            extras = self._extras(evaluated)
        return run_summary(partial, self.frame, self.missing_indices(MAX_MISSING_LISTED), extras)

    def _extras(self, evaluated: Evaluated) -> Extras:
        """The medians and the regression bootstrap intervals: they need every sample."""
        ok = self._status == _OK
        fit_median = stats.num(np.median(self._fit[ok])) if ok.any() else None
        predict_median = stats.num(np.median(self._predict[ok])) if ok.any() else None
        truth, predicted = evaluated.true_value, evaluated.pred_value
        if (
            self.classification
            or truth.size == 0
            or not (np.isfinite(truth).all() and np.isfinite(predicted).all())
        ):
            return Extras(fit_median, predict_median)
        cis = stats.regression_cis(
            truth, predicted, stats.BOOTSTRAP_RESAMPLES, stats.BOOTSTRAP_SEED
        )
        return Extras(fit_median, predict_median, cis["mae"], cis["rmse"], cis["r2"])

    def _failures(self) -> list[Failure]:
        first = heapq.nsmallest(MAX_FAILURES, self._errors)
        return [
            Failure(
                i,
                list(self._errors[i][1]),
                self._errors[i][0].type,
                self._errors[i][0].message[:MAX_MESSAGE_CHARS],
            )
            for i in first
        ]


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


def summarize(plan: Plan, results: Iterable[FoldResult]) -> RunSummary:
    """Summary of a run's results in one call (the CLI's `loocv report`)."""
    return aggregate(plan, results).result()


def aggregate(plan: Plan, results: Iterable[FoldResult]) -> Aggregator:
    """An aggregator for the plan, fed with the results."""
    aggregator = Aggregator(plan.task, plan.classes, plan.n_folds)
    for result in results:
        aggregator.add(result)
    return aggregator
