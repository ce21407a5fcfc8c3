"""Fold results as columns of their evaluated samples, and the per-fold facts that add.

What partial summaries (partial.py) are computed from: a segment's folds when a trainer
writes it, a subset of them when overlapping segments share folds. The labels are mapped to
the plan's classes as the aggregator maps them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .results import NOT_RUN_PATH, FoldResult
from .summary import CLASSIFICATION, REGRESSION, Failure

MAX_FAILURES = 20
MAX_FAILURE_IDS = 10  # a KFold fold holds out many samples; the status must stay small
MAX_MESSAGE_CHARS = 2000
UNKNOWN = -1  # a label that is not one of the plan's classes


@dataclass(frozen=True)
class SummaryFrame:
    """What a summary is relative to: the task, the plan's classes (their order is the
    confusion matrix's) and the number of folds."""

    task: str
    classes: tuple[Any, ...] = ()
    n_folds: int = 0

    def __post_init__(self) -> None:
        if self.task not in (CLASSIFICATION, REGRESSION):
            raise ValueError(f"unknown task {self.task!r}")
        if self.task == CLASSIFICATION and not self.classes:
            raise ValueError("classification needs the plan's classes")

    @classmethod
    def of(cls, task: str, classes: Sequence[Any] | None, n_folds: int) -> SummaryFrame:
        kept = tuple(classes or ()) if task == CLASSIFICATION else ()
        return cls(task, kept, n_folds)

    @classmethod
    def from_plan_json(cls, data: dict[str, Any]) -> SummaryFrame:
        """From plan.json as parsed JSON (the operator reads it without plan.py)."""
        return cls.of(str(data["task"]), data.get("classes"), len(data["folds"]))

    @property
    def classification(self) -> bool:
        return self.task == CLASSIFICATION


class LabelIndex:
    """Labels to class indices: by value (1 == 1.0 == True), then by text ("1" from a CSV)."""

    def __init__(self, classes: Sequence[Any]) -> None:
        self._by_value: dict[Any, int] = {}
        self._by_text: dict[str, int] = {}
        for i, label in enumerate(classes):
            self._by_value.setdefault(label, i)
            self._by_text.setdefault(str(label), i)

    def __call__(self, label: Any) -> int:
        if label is None:
            return UNKNOWN
        try:
            found = self._by_value.get(label)
        except TypeError:  # unhashable: not a label of ours
            found = None
        if found is None:
            found = self._by_text.get(str(label))
        return UNKNOWN if found is None else found


def as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


@dataclass
class Evaluated:
    """The evaluated held-out samples (ok folds, with a prediction) as columns."""

    rows: NDArray[np.int64]
    ids: list[str]
    y_true: list[Any]
    y_pred: list[Any]
    loss: NDArray[np.float64]  # NaN where the trainer stored none
    true_idx: NDArray[np.int64]  # classification
    pred_idx: NDArray[np.int64]
    has_proba: NDArray[np.bool_]
    proba: NDArray[np.float64]  # (n, n_classes), NaN rows where has_proba is False
    true_value: NDArray[np.float64]  # regression
    pred_value: NDArray[np.float64]


@dataclass
class FoldTally:
    """Per-fold facts that add: outcomes, failures, paths, versions, fit seconds."""

    succeeded: int = 0
    failed: int = 0
    not_run: list[int] = field(default_factory=list)
    samples_failed: int = 0
    fit_total: float = 0.0
    ok_seconds: float = 0.0  # fit + predict of the succeeded folds (the operator's fold times)
    failures: list[Failure] = field(default_factory=list)  # the first MAX_FAILURES by fold
    failure_types: dict[str, int] = field(default_factory=dict)
    paths: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)


def failure_of(result: FoldResult) -> Failure:
    assert result.error is not None
    return Failure(
        result.index,
        [str(s.id) for s in result.samples[:MAX_FAILURE_IDS]],
        result.error.type,
        result.error.message[:MAX_MESSAGE_CHARS],
    )


def columns_of(results: Sequence[FoldResult], frame: SummaryFrame) -> tuple[Evaluated, FoldTally]:
    """The evaluated samples and the fold tally of some fold results (each fold once)."""
    index = LabelIndex(frame.classes)
    k = len(frame.classes)
    rows: list[int] = []
    ids: list[str] = []
    y_true: list[Any] = []
    y_pred: list[Any] = []
    loss: list[float] = []
    probas: list[Any] = []
    tally = FoldTally()
    paths: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    types: Counter[str] = Counter()
    fit = np.zeros(len(results), dtype=np.float64)
    ok_seconds = np.zeros(len(results), dtype=np.float64)
    for position, result in enumerate(results):
        fit[position] = float(result.fit_seconds)
        paths[result.path] += 1
        versions[result.trainer_version] += 1
        if result.error is not None:
            tally.samples_failed += len(result.samples)
            types[result.error.type] += 1
            tally.failures.append(failure_of(result))
            if result.path == NOT_RUN_PATH:
                tally.not_run.append(result.index)
            else:
                tally.failed += 1
            continue
        tally.succeeded += 1
        ok_seconds[position] = fit[position] + float(result.predict_seconds)
        for sample in result.samples:
            if sample.y_pred is None:
                continue
            rows.append(sample.row)
            ids.append(str(sample.id))
            y_true.append(sample.y_true)
            y_pred.append(sample.y_pred)
            loss.append(math.nan if sample.loss is None else as_float(sample.loss))
            probas.append(sample.proba)
    tally.fit_total = float(fit.sum())
    tally.ok_seconds = float(ok_seconds.sum())
    tally.failures = sorted(tally.failures, key=lambda f: f.fold)[:MAX_FAILURES]
    tally.failure_types, tally.paths, tally.versions = dict(types), dict(paths), dict(versions)
    n = len(rows)
    has_proba = np.zeros(n, dtype=bool)
    proba = np.full((n, k), np.nan, dtype=np.float64)
    if frame.classification:
        true_idx = np.fromiter((index(v) for v in y_true), dtype=np.int64, count=n)
        pred_idx = np.fromiter((index(v) for v in y_pred), dtype=np.int64, count=n)
        for slot, p in enumerate(probas):
            if p is not None and len(p) == k:
                try:
                    proba[slot] = p
                    has_proba[slot] = True
                except (TypeError, ValueError):  # a hand-edited result: no probabilities
                    pass
        true_value = pred_value = np.zeros(0)
    else:
        true_idx = pred_idx = np.full(n, UNKNOWN, dtype=np.int64)
        true_value = np.fromiter((as_float(v) for v in y_true), dtype=np.float64, count=n)
        pred_value = np.fromiter((as_float(v) for v in y_pred), dtype=np.float64, count=n)
    evaluated = Evaluated(
        np.asarray(rows, dtype=np.int64),
        ids,
        y_true,
        y_pred,
        np.asarray(loss, dtype=np.float64),
        true_idx,
        pred_idx,
        has_proba,
        proba,
        true_value,
        pred_value,
    )
    return evaluated, tally
