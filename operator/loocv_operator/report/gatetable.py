"""The gate as a table: each threshold of the manifest against the value the run achieved,
and the warning banner when folds failed or are missing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .cells import NA, e, fmt, table, td, tdn

if TYPE_CHECKING:
    from ..gate import GateVerdict
    from ..spec import GateSpec
    from ..summary import RunSummary

# gate field, summary metric key, name, bound kind
_METRICS = (
    ("accuracy", "accuracy", "accuracy", "min"),
    ("log_loss", "logLoss", "log loss", "max"),
    ("brier", "brier", "Brier score", "max"),
    ("ece", "ece", "ECE (equal-width bins)", "max"),
    ("mae", "mae", "MAE", "max"),
    ("rmse", "rmse", "RMSE", "max"),
    ("r2", "r2", "R²", "min"),
)


@dataclass(frozen=True)
class GateRow:
    name: str
    kind: str  # min | max
    bound: float
    achieved: float | None
    note: str = ""

    @property
    def ok(self) -> bool:
        if self.achieved is None:
            return False  # the gate fails closed on what cannot be computed
        return self.achieved >= self.bound if self.kind == "min" else self.achieved <= self.bound


def gate_rows(gate: GateSpec | None, summary: RunSummary, names: dict[str, str]) -> list[GateRow]:
    if gate is None:
        return []
    rows = []
    for attribute, key, name, kind in _METRICS:
        bound = getattr(gate, attribute)
        if bound is not None:
            value = summary.metric(key)
            rows.append(GateRow(name, kind, float(getattr(bound, kind)), value))
    if gate.class_recall is not None:
        metrics = summary.classification_metrics
        per_class = metrics.per_class if metrics is not None else {}
        judged = {label: s.recall for label, s in per_class.items() if s.support > 0}
        known = {k: v for k, v in judged.items() if v is not None}
        worst = min(known, key=lambda k: known[k]) if known else None
        rows.append(
            GateRow(
                "recall of every class",
                "min",
                float(gate.class_recall.min),
                known[worst] if worst is not None else None,
                f"lowest: {names.get(worst, worst)}" if worst is not None else "",
            )
        )
    if gate.failed_folds is not None:
        rows.append(GateRow("failed folds", "max", gate.failed_folds.max, summary.folds.failed))
    if gate.failure_rate is not None:
        rows.append(
            GateRow(
                "failure rate",
                "max",
                float(gate.failure_rate.max),
                summary.failure_rate,
            )
        )
    return rows


def verdict_html(verdict: GateVerdict, rows: list[GateRow]) -> str:
    if not verdict.evaluated:
        return '<div class="verdict none">No gate in the manifest: not evaluated.</div>'
    head = (
        '<div class="verdict pass">Gate PASSED: every threshold is met.</div>'
        if verdict.passed
        else '<div class="verdict fail">Gate FAILED</div>'
    )
    cells = [
        [
            td(e(r.name) + (f' <small class="na">({e(r.note)})</small>' if r.note else "")),
            td("≥" if r.kind == "min" else "≤"),
            tdn(r.bound),
            tdn(r.achieved, fmt(r.achieved, 6) if r.achieved is not None else NA),
            td('<span class="ok">met</span>' if r.ok else '<span class="bad">breached</span>'),
        ]
        for r in rows
    ]
    reasons = "".join(f"<li>{e(reason)}</li>" for reason in verdict.failures)
    listed = f"<ul>{reasons}</ul>" if reasons else ""
    return (
        head + table(["threshold", "", "required", "achieved", ""], cells, numeric=(2, 3)) + listed
    )


def banner(summary: RunSummary) -> str:
    """A visible warning when the metrics cover fewer folds than planned."""
    folds = summary.folds
    failed = folds.failed
    missing = folds.missing
    if not failed and not missing:
        return ""
    parts = []
    if failed:
        parts.append(f"{failed:,} fold{'s' if failed != 1 else ''} failed (see Failures)")
    if missing:
        shown = folds.missing_indices
        which = (
            f": folds {', '.join(map(str, shown))}{'…' if missing > len(shown) else ''}"
            if shown
            else ""
        )
        verb = "folds have" if missing != 1 else "fold has"
        parts.append(f"{missing:,} {verb} no result{which}")
    total = folds.total
    evaluated = summary.samples.evaluated
    return (
        f'<div class="banner" role="alert"><b>Incomplete results.</b> {e("; ".join(parts))}. '
        f"The metrics below cover only the {evaluated:,} evaluated samples of {total:,} "
        "planned folds.</div>"
    )
