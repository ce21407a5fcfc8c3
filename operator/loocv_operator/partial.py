"""Mergeable partial summaries: the pooled metrics of some folds, as counts and sums that add.

A trainer summarises the folds of each segment it writes (segments.py), and whoever wants
progress or pooled metrics merges those summaries (summaries.py) instead of reading every
per-sample row: counts, the confusion matrix, sums for log loss, Brier and the errors,
reliability-bin sums, the top-k worst samples and label-noise candidates, the first failures,
failures by error type, fit seconds. Merging is associative; the top-k lists merge exactly
(the k best of a union are among the k best of each part).

The aggregator (aggregator.py) builds its summary through the same code from one partial of
all its samples, so a merged summary differs from it only in the order of float additions.
What does not merge — medians, bootstrap intervals, plots, predictions.csv — is computed
once, at the end, from the segments' rows. numpy only: the operator imports this module.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import stats
from .columns import (
    MAX_FAILURES,
    UNKNOWN,
    Evaluated,
    FoldTally,
    SummaryFrame,
    columns_of,
)
from .results import FoldResult
from .summary import Failure, NoiseCandidate, WorstSample

WORST_SAMPLES = 10
NOISE_CANDIDATES = 20
NOISE_CONFIDENCE = 0.9


# ----------------------------------------------------------------- the partial summary


@dataclass(frozen=True)
class Moments:
    """Count, sum and sum of squared deviations from the mean: they merge exactly in
    exact arithmetic (Chan et al.), and one set gives numpy's own mean and std."""

    n: int = 0
    total: float = 0.0
    m2: float = 0.0

    @classmethod
    def of(cls, values: NDArray[np.float64]) -> Moments:
        if values.size == 0:
            return cls()
        total = float(np.sum(values))
        deviation = values - total / values.size
        return cls(int(values.size), total, float(np.sum(deviation * deviation)))

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else math.nan

    @staticmethod
    def merge(parts: Sequence[Moments]) -> Moments:
        parts = [p for p in parts if p.n]
        if len(parts) <= 1:
            return parts[0] if parts else Moments()
        n = sum(p.n for p in parts)
        total = math.fsum(p.total for p in parts)
        mean = total / n
        m2 = math.fsum(p.m2 + p.n * (p.total / p.n - mean) ** 2 for p in parts)
        return Moments(n, total, m2)


@dataclass(frozen=True)
class Probabilistic:
    """Sums over the samples whose probabilities are usable (known truth, finite, in
    [0, 1]); the probability metrics exist when every evaluated sample's are."""

    usable: int = 0
    log_loss: float = 0.0
    brier: float = 0.0
    bins: stats.BinSums | None = None


@dataclass(frozen=True)
class Errors:
    """Regression sums over the samples with a finite truth and prediction."""

    finite: int = 0
    absolute: float = 0.0
    squared: float = 0.0
    truth: Moments = field(default_factory=Moments)


@dataclass(frozen=True)
class PartialSummary:
    succeeded: int = 0
    failed: int = 0
    not_run: tuple[int, ...] = ()
    evaluated: int = 0
    samples_failed: int = 0
    fit_total: float = 0.0
    ok_seconds: float = 0.0  # fit + predict of the succeeded folds: probe sizing, telemetry
    loss: Moments = field(default_factory=Moments)
    matrix: NDArray[np.int64] | None = None  # (k+1, k+1): last row/column = unknown label
    probabilistic: Probabilistic = field(default_factory=Probabilistic)
    errors: Errors = field(default_factory=Errors)
    worst: tuple[WorstSample, ...] = ()
    noise: tuple[NoiseCandidate, ...] = ()
    failures: tuple[Failure, ...] = ()
    failure_types: dict[str, int] = field(default_factory=dict)
    paths: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    @property
    def folds(self) -> int:
        """Folds with a result (succeeded, failed or not run)."""
        return self.succeeded + self.failed + len(self.not_run)


def _ranked(rows: NDArray[np.int64], score: NDArray[np.float64], k: int) -> NDArray[np.intp]:
    """Positions of the k highest scores, ties by row, without sorting every sample."""
    positions = np.arange(rows.size)
    if rows.size == 0 or k <= 0:
        return positions[:0]
    if rows.size > k:
        threshold = np.partition(score, rows.size - k)[rows.size - k]
        keep = score >= threshold
        positions, rows, score = positions[keep], rows[keep], score[keep]
    return positions[np.lexsort((rows, -score))[:k]]


def partial_of(evaluated: Evaluated, tally: FoldTally, frame: SummaryFrame) -> PartialSummary:
    """The partial summary of some samples (see columns_of)."""
    e = evaluated
    n = int(e.rows.size)
    with np.errstate(all="ignore"):
        finite_loss = np.isfinite(e.loss)
        loss = Moments.of(e.loss[finite_loss])
        chosen = np.flatnonzero(finite_loss)[
            _ranked(e.rows[finite_loss], e.loss[finite_loss], WORST_SAMPLES)
        ]
        worst = tuple(
            WorstSample(
                e.ids[s],
                int(e.rows[s]),
                stats.num(e.loss[s]),
                stats.plain(e.y_true[s]),
                stats.plain(e.y_pred[s]),
            )
            for s in chosen.tolist()
        )
        matrix = None
        probabilistic = Probabilistic()
        errors = Errors()
        noise: tuple[NoiseCandidate, ...] = ()
        if frame.classification:
            k = len(frame.classes)
            t = np.where(e.true_idx < 0, k, e.true_idx)
            p = np.where(e.pred_idx < 0, k, e.pred_idx)
            matrix = np.bincount(t * (k + 1) + p, minlength=(k + 1) ** 2).reshape(k + 1, k + 1)
            proba = e.proba
            usable = (
                e.has_proba
                & (e.true_idx != UNKNOWN)
                & np.isfinite(proba).all(axis=1)
                & (proba >= 0.0).all(axis=1)
                & (proba <= 1.0).all(axis=1)
            )
            if usable.all():  # the common case: no copies
                truth_u, proba_u = e.true_idx, proba
            else:
                truth_u, proba_u = e.true_idx[usable], proba[usable]
            probabilistic = Probabilistic(
                int(usable.sum()),
                float(np.sum(stats.sample_log_loss(truth_u, proba_u))),
                float(np.sum(stats.sample_brier(truth_u, proba_u))) if truth_u.size else 0.0,
                stats.bin_sums(truth_u, proba_u, stats.ECE_BINS),
            )
            known = e.has_proba & (e.pred_idx != UNKNOWN)
            slots = np.flatnonzero(known)
            confidence = proba[slots, e.pred_idx[slots]] if slots.size else np.zeros(0)
            wrong = (e.pred_idx[slots] != e.true_idx[slots]) & (confidence >= NOISE_CONFIDENCE)
            slots, confidence = slots[wrong], confidence[wrong]
            picked = slots[_ranked(e.rows[slots], confidence, NOISE_CANDIDATES)]
            noise = tuple(
                NoiseCandidate(
                    e.ids[s],
                    int(e.rows[s]),
                    stats.plain(e.y_true[s]),
                    stats.plain(e.y_pred[s]),
                    stats.num(proba[s, e.pred_idx[s]]),
                )
                for s in picked.tolist()
            )
        else:
            finite = np.isfinite(e.true_value) & np.isfinite(e.pred_value)
            truth, predicted = e.true_value[finite], e.pred_value[finite]
            errors = Errors(
                int(finite.sum()),
                float(np.sum(np.abs(predicted - truth))),
                float(np.sum((truth - predicted) ** 2)),
                Moments.of(truth),
            )
    return PartialSummary(
        succeeded=tally.succeeded,
        failed=tally.failed,
        not_run=tuple(tally.not_run),
        evaluated=n,
        samples_failed=tally.samples_failed,
        fit_total=tally.fit_total,
        ok_seconds=tally.ok_seconds,
        loss=loss,
        matrix=matrix,
        probabilistic=probabilistic,
        errors=errors,
        worst=worst,
        noise=noise,
        failures=tuple(tally.failures),
        failure_types=tally.failure_types,
        paths=tally.paths,
        versions=tally.versions,
    )


def summarize_folds(results: Sequence[FoldResult], frame: SummaryFrame) -> PartialSummary:
    """The partial summary of some fold results, each fold once (a segment's folds)."""
    evaluated, tally = columns_of(results, frame)
    return partial_of(evaluated, tally, frame)


def _add_counts(parts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    return dict(total)


def merge(parts: Sequence[PartialSummary]) -> PartialSummary:
    """One partial summary of the union of the parts' folds (the parts must not share a
    fold: summaries.py decides which segment a fold counts in)."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return PartialSummary()
    matrices = [p.matrix for p in parts if p.matrix is not None]
    matrix = np.sum(matrices, axis=0) if matrices else None
    binned = [p.probabilistic.bins for p in parts if p.probabilistic.bins is not None]
    bins = (
        stats.BinSums(
            np.sum([b.counts for b in binned], axis=0),
            np.sum([b.confidence for b in binned], axis=0),
            np.sum([b.correct for b in binned], axis=0),
        )
        if binned
        else None
    )
    worst = sorted((w for p in parts for w in p.worst), key=lambda w: (-(w.loss or 0.0), w.row))
    noise = sorted(
        (c for p in parts for c in p.noise), key=lambda c: (-(c.confidence or 0.0), c.row)
    )
    failures = sorted((f for p in parts for f in p.failures), key=lambda f: f.fold)
    return PartialSummary(
        succeeded=sum(p.succeeded for p in parts),
        failed=sum(p.failed for p in parts),
        not_run=tuple(i for p in parts for i in p.not_run),
        evaluated=sum(p.evaluated for p in parts),
        samples_failed=sum(p.samples_failed for p in parts),
        fit_total=math.fsum(p.fit_total for p in parts),
        ok_seconds=math.fsum(p.ok_seconds for p in parts),
        loss=Moments.merge([p.loss for p in parts]),
        matrix=matrix,
        probabilistic=Probabilistic(
            sum(p.probabilistic.usable for p in parts),
            math.fsum(p.probabilistic.log_loss for p in parts),
            math.fsum(p.probabilistic.brier for p in parts),
            bins,
        ),
        errors=Errors(
            sum(p.errors.finite for p in parts),
            math.fsum(p.errors.absolute for p in parts),
            math.fsum(p.errors.squared for p in parts),
            Moments.merge([p.errors.truth for p in parts]),
        ),
        worst=tuple(worst[:WORST_SAMPLES]),
        noise=tuple(noise[:NOISE_CANDIDATES]),
        failures=tuple(failures[:MAX_FAILURES]),
        failure_types=_add_counts(p.failure_types for p in parts),
        paths=_add_counts(p.paths for p in parts),
        versions=_add_counts(p.versions for p in parts),
    )


# ----------------------------------------------------------------- as JSON (a segment's header)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def to_json(p: PartialSummary) -> dict[str, Any] | None:
    """Strict-JSON form, or None when a sum is not finite (readers then use the rows)."""
    floats = [p.fit_total, p.ok_seconds, p.loss.total, p.loss.m2, p.probabilistic.log_loss]
    floats += [p.probabilistic.brier, p.errors.absolute, p.errors.squared]
    floats += [p.errors.truth.total, p.errors.truth.m2]
    bins = p.probabilistic.bins
    if bins is not None:
        floats += [float(bins.confidence.sum()), float(bins.correct.sum())]
    if any(_finite(f) is None for f in floats):
        return None
    return {
        "succeeded": p.succeeded,
        "failed": p.failed,
        "notRun": list(p.not_run),
        "evaluated": p.evaluated,
        "samplesFailed": p.samples_failed,
        "fitTotal": p.fit_total,
        "okSeconds": p.ok_seconds,
        "loss": [p.loss.n, p.loss.total, p.loss.m2],
        "matrix": None if p.matrix is None else p.matrix.tolist(),
        "proba": [p.probabilistic.usable, p.probabilistic.log_loss, p.probabilistic.brier],
        "bins": None
        if bins is None
        else [bins.counts.tolist(), bins.confidence.tolist(), bins.correct.tolist()],
        "errors": [
            p.errors.finite,
            p.errors.absolute,
            p.errors.squared,
            [p.errors.truth.n, p.errors.truth.total, p.errors.truth.m2],
        ],
        "worst": [[w.id, w.row, w.loss, w.y_true, w.y_pred] for w in p.worst],
        "noise": [[c.id, c.row, c.y_true, c.y_pred, c.confidence] for c in p.noise],
        "failures": [[f.fold, f.ids, f.type, f.message] for f in p.failures],
        "failureTypes": p.failure_types,
        "paths": p.paths,
        "versions": p.versions,
    }


def _moments(raw: list[Any]) -> Moments:
    return Moments(int(raw[0]), float(raw[1]), float(raw[2]))


def from_json(d: dict[str, Any], frame: SummaryFrame) -> PartialSummary:
    """Raises ValueError/KeyError/TypeError for anything malformed, or when the summary was
    written for another number of classes than the frame's."""
    matrix = None
    if d["matrix"] is not None:
        matrix = np.asarray(d["matrix"], dtype=np.int64)
        k = len(frame.classes) + 1
        if matrix.shape != (k, k):
            raise ValueError(f"a {matrix.shape} confusion matrix for {k - 1} classes")
    bins = None
    if d["bins"] is not None:
        counts, confidence, correct = d["bins"]
        bins = stats.BinSums(
            np.asarray(counts, dtype=np.int64),
            np.asarray(confidence, dtype=np.float64),
            np.asarray(correct, dtype=np.float64),
        )
    usable, log_loss, brier = d["proba"]
    finite, absolute, squared, truth = d["errors"]
    return PartialSummary(
        succeeded=int(d["succeeded"]),
        failed=int(d["failed"]),
        not_run=tuple(int(i) for i in d["notRun"]),
        evaluated=int(d["evaluated"]),
        samples_failed=int(d["samplesFailed"]),
        fit_total=float(d["fitTotal"]),
        ok_seconds=float(d.get("okSeconds", 0.0)),  # 0 in segments written before it was kept
        loss=_moments(d["loss"]),
        matrix=matrix,
        probabilistic=Probabilistic(int(usable), float(log_loss), float(brier), bins),
        errors=Errors(int(finite), float(absolute), float(squared), _moments(truth)),
        worst=tuple(WorstSample(str(i), int(r), loss, t, p) for i, r, loss, t, p in d["worst"]),
        noise=tuple(NoiseCandidate(str(i), int(r), t, p, c) for i, r, t, p, c in d["noise"]),
        failures=tuple(
            Failure(int(fold), [str(i) for i in ids], str(kind), str(message))
            for fold, ids, kind, message in d["failures"]
        ),
        failure_types={str(k): int(v) for k, v in d["failureTypes"].items()},
        paths={str(k): int(v) for k, v in d["paths"].items()},
        versions={str(k): int(v) for k, v in d["versions"].items()},
    )
