"""From a partial summary (of every fold, or merged from segments) to the run's summary.

One function for both, so the aggregator's figures and the merged ones are computed the same
way. The figures that do not merge (medians, the regression bootstrap intervals) are passed
in by the aggregator, and are None in a merged summary until the end of the run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from . import stats
from .columns import SummaryFrame
from .partial import PartialSummary
from .summary import (
    ClassificationMetrics,
    ClassStats,
    ConfusionMatrix,
    FoldCounts,
    Metrics,
    RegressionMetrics,
    RunSummary,
    SampleCounts,
    Timing,
)

MAX_MISSING_LISTED = 20  # fold indices the summary names when results are incomplete


@dataclass(frozen=True)
class Extras:
    """What only the aggregator, holding every sample, can compute."""

    fit_seconds_median: float | None = None
    predict_seconds_median: float | None = None
    mae_ci95: tuple[float, float] | None = None
    rmse_ci95: tuple[float, float] | None = None
    r2_ci95: tuple[float, float] | None = None


def first_missing(n_folds: int, stored: Iterable[int], not_run: Iterable[int]) -> list[int]:
    """The first planned folds with no computed result (never ran, lost, unreadable, not run)."""
    have = np.zeros(n_folds, dtype=bool)
    done = [i for i in stored if 0 <= i < n_folds]
    have[done] = True
    gone = [i for i in not_run if 0 <= i < n_folds]
    have[gone] = False
    return [int(i) for i in np.flatnonzero(~have)[:MAX_MISSING_LISTED]]


def _pair(bounds: tuple[float, float] | None) -> tuple[float, float] | None:
    if bounds is None:
        return None
    listed = stats.interval(bounds)
    return None if listed is None else (listed[0], listed[1])


def _loss_figures(partial: PartialSummary) -> tuple[float | None, float | None]:
    loss = partial.loss
    if not loss.n:
        return None, None
    return stats.num(loss.total / loss.n), stats.num(math.sqrt(loss.m2 / loss.n))


def classification_metrics(partial: PartialSummary, frame: SummaryFrame) -> ClassificationMetrics:
    k = len(frame.classes)
    labels = [stats.plain(c) for c in frame.classes]
    n = partial.evaluated
    loss_mean, loss_std = _loss_figures(partial)
    full = partial.matrix if partial.matrix is not None else np.zeros((k + 1, k + 1), np.int64)
    matrix = full[:k, :k]
    if n == 0:
        return ClassificationMetrics(
            ece_bins=stats.ECE_BINS,
            per_class={str(c): ClassStats(None, None, None, 0) for c in frame.classes},
            confusion_matrix=ConfusionMatrix(labels, [[0] * k for _ in range(k)]),
            loss_mean=loss_mean,
            loss_std=loss_std,
        )
    correct = int(np.trace(matrix))
    tp = np.diag(matrix)
    scores = stats.class_scores(tp, full[:, :k].sum(axis=0), full[:k, :].sum(axis=1))
    predicted_count = matrix.sum(axis=0)
    # Undefined is not zero: no held-out sample of a class has no recall (a subset that
    # holds out other classes), a class never predicted has no precision.
    per_class = {
        str(label): ClassStats(
            stats.num(scores.precision[c]) if predicted_count[c] else None,
            stats.num(scores.recall[c]) if scores.support[c] else None,
            stats.num(scores.f1[c]) if scores.support[c] and predicted_count[c] else None,
            int(scores.support[c]),
        )
        for c, label in enumerate(frame.classes)
    }
    log_loss = brier = ece = None
    probabilistic = partial.probabilistic
    if probabilistic.usable == n and probabilistic.bins is not None:
        log_loss = stats.num(probabilistic.log_loss / n)
        brier = stats.num(probabilistic.brier / n)
        ece = stats.num(stats.ece_of(probabilistic.bins))
    return ClassificationMetrics(
        accuracy=stats.num(correct / n),
        accuracy_ci95=_pair(stats.wilson_interval(correct, n)),
        log_loss=log_loss,
        brier=brier,
        ece=ece,
        ece_bins=stats.ECE_BINS,
        per_class=per_class,
        confusion_matrix=ConfusionMatrix(labels, [[int(v) for v in r] for r in matrix]),
        loss_mean=loss_mean,
        loss_std=loss_std,
    )


def regression_metrics(partial: PartialSummary, extras: Extras) -> RegressionMetrics:
    loss_mean, loss_std = _loss_figures(partial)
    n = partial.evaluated
    errors = partial.errors
    if n == 0 or errors.finite != n:
        return RegressionMetrics(loss_mean=loss_mean, loss_std=loss_std)
    r2 = stats.num(stats.r2_from_sums(errors.squared, errors.truth.m2)) if n >= 2 else None
    return RegressionMetrics(
        mae=stats.num(errors.absolute / n),
        mae_ci95=_pair(extras.mae_ci95),
        rmse=stats.num(math.sqrt(errors.squared / n)),
        rmse_ci95=_pair(extras.rmse_ci95),
        r2=r2,
        r2_ci95=_pair(extras.r2_ci95) if r2 is not None else None,
        loss_mean=loss_mean,
        loss_std=loss_std,
    )


def run_summary(
    partial: PartialSummary,
    frame: SummaryFrame,
    missing_indices: list[int],
    extras: Extras | None = None,
) -> RunSummary:
    """The run's summary from the partial summary of every fold that counts."""
    extras = extras or Extras()
    computed = partial.succeeded + partial.failed
    metrics: Metrics = (
        classification_metrics(partial, frame)
        if frame.classification
        else regression_metrics(partial, extras)
    )
    return RunSummary(
        task=frame.task,
        folds=FoldCounts(
            total=frame.n_folds,
            done=computed,
            succeeded=partial.succeeded,
            failed=partial.failed,
            missing=frame.n_folds - computed,
            not_run=len(partial.not_run),
            missing_indices=missing_indices,
        ),
        samples=SampleCounts(partial.evaluated, partial.samples_failed),
        failure_rate=partial.failed / computed if computed else 0.0,
        metrics=metrics,
        timing=Timing(
            extras.fit_seconds_median,
            extras.predict_seconds_median,
            stats.num(partial.fit_total) or 0.0,
        ),
        worst_samples=list(partial.worst),
        label_noise_candidates=list(partial.noise),
        failures=list(partial.failures),
        failure_types=dict(sorted(partial.failure_types.items())),
        paths=dict(sorted(partial.paths.items())),
        trainer_versions=dict(sorted(partial.versions.items())),
    )
