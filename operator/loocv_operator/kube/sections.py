"""Each bounded section of the status, from the run's summary, plan and report: the
headline metrics, worst samples, batching, OOM remediation, the baseline comparison and
usage. Values that are not finite numbers are left out, never written as NaN."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..oomlog import ACTION_SPLIT, OomLog
from .tally import METRICS_OVER
from .wire import (
    MAX_STATUS_CLASSES,
    MAX_WORST_SAMPLES,
    BaselineStatus,
    BatchingStatus,
    ClassMetrics,
    Metrics,
    OomStatus,
    UsageStatus,
    WorstSample,
)


def finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def interval(value: Any) -> list[float] | None:
    if not isinstance(value, Sequence) or len(value) != 2:
        return None
    low, high = finite(value[0]), finite(value[1])
    return None if low is None or high is None else [low, high]


def partial_over(summary: Mapping[str, Any] | None) -> tuple[int, int] | None:
    """(succeeded folds, planned folds) of a mid-run summary (tally.py marks it), else None:
    the report's summary covers the run."""
    over = (summary or {}).get(METRICS_OVER)
    if not isinstance(over, Mapping):
        return None
    return max(0, int(over.get("folds") or 0)), max(0, int(over.get("total") or 0))


def metrics_of(summary: Mapping[str, Any] | None) -> Metrics | None:
    """The headline metrics of a summary; the rest (confusion matrix, …) stays in the store.
    A mid-run summary's are marked partial, with no interval (only the report has them)."""
    if not summary:
        return None
    raw = dict(summary.get("metrics") or {})
    over = partial_over(summary)
    partial: dict[str, Any] = {}
    if over is not None:
        folds, total = over
        if folds == 0:
            return None  # nothing evaluated yet: no figure to show
        # Intervals over part of the folds would read as the run's (and the regression
        # ones are bootstrapped from the rows, by the report Job).
        for key in ("accuracyCI95", "maeCI95", "rmseCI95", "r2CI95"):
            raw.pop(key, None)
        partial = {
            "partial": True,
            "folds": folds,
            "message": (
                f"partial: over {folds} of {total} folds; intervals and the gate come with "
                "the report"
            ),
        }
    per_class_raw = raw.get("perClass")
    per_class: dict[str, ClassMetrics] | None = None
    if isinstance(per_class_raw, Mapping) and 0 < len(per_class_raw) <= MAX_STATUS_CLASSES:
        per_class = {
            str(label): ClassMetrics(
                precision=finite(stats.get("precision")),
                recall=finite(stats.get("recall")),
                f1=finite(stats.get("f1")),
                support=max(0, int(stats.get("support") or 0)),
            )
            for label, stats in per_class_raw.items()
        }
    return Metrics(
        **partial,
        accuracy=finite(raw.get("accuracy")),
        accuracy_ci95=interval(raw.get("accuracyCI95")),
        log_loss=finite(raw.get("logLoss")),
        brier=finite(raw.get("brier")),
        ece=finite(raw.get("ece")),
        mae=finite(raw.get("mae")),
        mae_ci95=interval(raw.get("maeCI95")),
        rmse=finite(raw.get("rmse")),
        rmse_ci95=interval(raw.get("rmseCI95")),
        r2=finite(raw.get("r2")),
        r2_ci95=interval(raw.get("r2CI95")),
        loss_mean=finite(raw.get("lossMean")),
        per_class=per_class,
    )


def worst_samples_of(summary: Mapping[str, Any] | None) -> list[WorstSample] | None:
    if not summary:
        return None
    worst = summary.get("worstSamples") or []
    return [
        WorstSample(id=str(s.get("id")), loss=finite(s.get("loss")))
        for s in worst[:MAX_WORST_SAMPLES]
    ]


def fast_path_of(summary: Mapping[str, Any] | None) -> str | None:
    paths = (summary or {}).get("paths") or {}
    return ", ".join(sorted(paths)) or None


def usage_of(usage: Mapping[str, Any] | None) -> UsageStatus | None:
    if not usage:
        return None
    keys = set(UsageStatus.model_fields) | {f.alias for f in UsageStatus.model_fields.values()}
    data = {
        k: v
        for k, v in usage.items()
        if k in keys and not (isinstance(v, float) and not math.isfinite(v))
    }
    return UsageStatus.model_validate(data)


def batching_of(batching: Mapping[str, Any] | None) -> BatchingStatus | None:
    if not batching:
        return None
    data = dict(batching)
    if isinstance(data.get("message"), str):
        data["message"] = data["message"][:1024]
    for key in ("perFoldSeconds", "podOverheadSeconds"):
        data[key] = finite(data.get(key))
    return BatchingStatus.model_validate(data)


def oom_of(log: OomLog | None) -> OomStatus | None:
    if not log:
        return None
    return OomStatus(
        killed=len(log.steps),
        memory=log.memory,
        splits=log.count(ACTION_SPLIT),
        failed_folds=log.failed_folds(),
        message=log.summary()[:1024],
    )


def baseline_of(baseline: Mapping[str, Any] | None) -> BaselineStatus | None:
    if not baseline:
        return None
    failures = [str(f) for f in baseline.get("failures") or []]
    return BaselineStatus(
        passed=bool(baseline.get("passed")),
        reason=str(baseline.get("reason"))[:64],
        baseline=baseline.get("baseline"),
        source=(baseline.get("source") or None) and str(baseline["source"])[:2048],
        b=baseline.get("b"),
        c=baseline.get("c"),
        p_value=finite(baseline.get("pValue")),
        regressions=baseline.get("regressions"),
        paired_samples=int(baseline.get("pairedSamples") or 0),
        excluded_samples=int(baseline.get("excludedSamples") or 0),
        alpha=finite(baseline.get("alpha")),
        max_regressions=baseline.get("maxRegressions"),
        message="; ".join(failures)[:1024] or None,
    )
