"""The run summary as a terminal shows it: a short table a person reads at a glance.

It never hides what is missing: failed and missing folds are named in a warning above the
metrics, a class with no evaluated sample shows ``n/a``, and a run in which no fold
succeeded says so instead of printing empty numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .describe import run_text
from .gate import GateVerdict, missing_text
from .spec import LOOCVRunSpec
from .summary import ClassificationMetrics, ClassStats, RunSummary, SummaryLike, as_summary

if TYPE_CHECKING:
    from .usage import Usage


@dataclass(frozen=True)
class SummaryContext:
    """What the summary says beside the metrics: the run, and how its folds were obtained."""

    name: str
    spec: LOOCVRunSpec
    reused: int = 0  # folds found stored by an earlier run with the same determinants
    usage: Usage | None = None  # what the run used (usage.py)


def _num(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ci(interval: Any) -> str:
    if not interval or interval[0] is None:
        return ""
    return f"  (95% CI {interval[0]:.4f} to {interval[1]:.4f})"


def warnings_of(summary: RunSummary) -> list[str]:
    """What a reader must know before trusting the numbers."""
    folds = summary.folds
    out: list[str] = []
    if folds.done and not folds.succeeded:
        out.append("no fold succeeded: there are no metrics to report")
    elif folds.failed:
        out.append(
            f"{folds.failed} of {folds.total} folds failed: the metrics cover the "
            f"{folds.succeeded} that succeeded"
        )
    missing = missing_text(summary)
    if missing:
        out.append(f"results incomplete: {missing}; the metrics cover the folds that are stored")
    return out


def _metric_rows(summary: RunSummary) -> list[tuple[str, str]]:
    metrics = summary.metrics
    if isinstance(metrics, ClassificationMetrics):
        return [
            ("accuracy", _num(metrics.accuracy) + _ci(metrics.accuracy_ci95)),
            ("log loss", _num(metrics.log_loss)),
            ("Brier score", _num(metrics.brier)),
            ("ECE", f"{_num(metrics.ece)}  ({metrics.ece_bins} bins)"),
        ]
    return [
        ("MAE", _num(metrics.mae) + _ci(metrics.mae_ci95)),
        ("RMSE", _num(metrics.rmse) + _ci(metrics.rmse_ci95)),
        ("R²", _num(metrics.r2) + _ci(metrics.r2_ci95)),
    ]


def _class_lines(per_class: dict[str, ClassStats]) -> list[str]:
    label_width = max(5, *(len(c) for c in per_class))
    lines = ["", f"{'class':<{label_width}}  precision  recall  support"]
    for label, row in per_class.items():
        precision = _num(row.precision, 3)
        recall = _num(row.recall, 3)
        lines.append(f"{label:<{label_width}}  {precision:>9}  {recall:>6}  {row.support:>7d}")
    return lines


def render_summary(
    context: SummaryContext,
    summary: SummaryLike,
    verdict: GateVerdict,
    artifacts: dict[str, str],
) -> str:
    summary = as_summary(summary)
    folds = summary.folds
    rows: list[tuple[str, str]] = [("run", context.name), *run_text(context.spec)]
    done = f"{folds.done}/{folds.total} done, {folds.failed} failed"
    if folds.missing:
        done += f", {folds.missing} missing"
    rows.append(("folds", done))
    if context.reused:
        rows.append(("reused", f"{context.reused} folds stored by an earlier run of this model"))
    rows += [("WARNING", text) for text in warnings_of(summary)]
    if folds.succeeded:
        rows += _metric_rows(summary)
    paths = summary.paths
    if paths:
        rows.append(("computed by", ", ".join(f"{p} ({n})" for p, n in sorted(paths.items()))))
    if context.usage is not None:
        rows += context.usage.rows()
    if not verdict.evaluated:
        rows.append(("gate", "none"))
    else:
        rows.append(("gate", "PASSED" if verdict.passed else "FAILED"))
        rows += [("", f"- {reason}") for reason in verdict.failures]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]

    metrics = summary.classification_metrics
    per_class = metrics.per_class if metrics is not None else {}
    if per_class and folds.succeeded:
        lines += _class_lines(per_class)
    if summary.failures:
        lines += ["", "failed folds:"]
        lines += [
            f"  fold {f.fold} ({', '.join(f.ids)}): {f.type}: {f.message[:120]}"
            for f in summary.failures[:5]
        ]
    if artifacts:
        lines += ["", "report:"] + [f"  {uri}" for uri in artifacts.values()]
    return "\n".join(lines)
