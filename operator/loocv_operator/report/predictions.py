"""predictions.csv: one row per held-out sample, the per-sample drill-down."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from ..results import FoldResult, unique_by_index

if TYPE_CHECKING:
    from ..plan import Plan


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # round-trips exactly
    return value


def predictions_csv(plan: Plan, results: list[FoldResult]) -> str:
    """One row per held-out sample of every fold with a result, sorted by row.

    Probability columns (proba_<class>, in the plan's class order) appear when the model
    gave probabilities for any sample. Failed folds' samples are rows with status failed
    and the error; folds without a result have no rows.
    """
    folds = unique_by_index(results)
    classification = plan.task == "classification"
    classes = list(plan.classes or []) if classification else []
    with_proba = classification and any(
        s.proba is not None for r in folds.values() for s in r.samples
    )
    header = ["row", "id", "fold", "y_true", "y_pred", "correct" if classification else "error"]
    if with_proba:
        header += [f"proba_{c}" for c in classes]
    header += ["loss", "fit_seconds", "status", "error_type", "error_message"]
    records = []
    for index, result in folds.items():
        for sample in result.samples:
            records.append((sample.row, index, sample, result))
    records.sort(key=lambda r: (r[0], r[1]))

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row, index, sample, result in records:
        predicted = sample.y_pred if result.ok else None
        if predicted is None:
            outcome: Any = None
        elif classification:
            outcome = 1 if _same_label(sample.y_true, predicted) else 0
        else:
            outcome = _difference(predicted, sample.y_true)
        line = [row, sample.id, index, sample.y_true, predicted, outcome]
        if with_proba:
            proba = sample.proba if result.ok and sample.proba is not None else None
            if proba is not None and len(proba) == len(classes):
                line += list(proba)
            else:
                line += [None] * len(classes)
        line += [
            sample.loss if result.ok else None,
            result.fit_seconds,
            "ok" if result.ok else "failed",
            result.error.type if result.error else None,
            result.error.message if result.error else None,
        ]
        writer.writerow([_csv_value(v) for v in line])
    return buffer.getvalue()


def _same_label(a: Any, b: Any) -> bool:
    return bool(a == b) or str(a) == str(b)


def _difference(predicted: Any, true: Any) -> float | None:
    try:
        return float(predicted) - float(true)
    except (TypeError, ValueError):
        return None
