"""The run summary as a terminal shows it: a short table a person reads at a glance."""

from __future__ import annotations

from typing import Any

from .gate import GateVerdict


def _num(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ci(interval: Any) -> str:
    if not interval or interval[0] is None:
        return ""
    return f"  (95% CI {interval[0]:.4f} to {interval[1]:.4f})"


def render_summary(
    name: str, summary: dict[str, Any], verdict: GateVerdict, artifacts: dict[str, str]
) -> str:
    folds = summary["folds"]
    metrics = summary["metrics"]
    rows: list[tuple[str, str]] = [
        ("run", name),
        ("folds", f"{folds['done']}/{folds['total']} done, {folds['failed']} failed"),
    ]
    if summary["task"] == "classification":
        rows += [
            ("accuracy", _num(metrics.get("accuracy")) + _ci(metrics.get("accuracyCI95"))),
            ("log loss", _num(metrics.get("logLoss"))),
            ("Brier score", _num(metrics.get("brier"))),
            ("ECE", f"{_num(metrics.get('ece'))}  ({metrics.get('eceBins', '?')} bins)"),
        ]
    else:
        for key, label in (("mae", "MAE"), ("rmse", "RMSE"), ("r2", "R²")):
            rows.append((label, _num(metrics.get(key)) + _ci(metrics.get(f"{key}CI95"))))
    paths = summary.get("paths") or {}
    if paths:
        rows.append(("computed by", ", ".join(f"{p} ({n})" for p, n in sorted(paths.items()))))
    if not verdict.evaluated:
        rows.append(("gate", "none"))
    else:
        rows.append(("gate", "PASSED" if verdict.passed else "FAILED"))
        rows += [("", f"- {reason}") for reason in verdict.failures]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]

    per_class = metrics.get("perClass") or {}
    if per_class:
        label_width = max(5, *(len(c) for c in per_class))
        lines += ["", f"{'class':<{label_width}}  precision  recall  support"]
        for label, row in per_class.items():
            lines.append(
                f"{label:<{label_width}}  {row['precision']:>9.3f}  {row['recall']:>6.3f}"
                f"  {row['support']:>7d}"
            )
    if summary.get("failures"):
        lines += ["", "failed folds:"]
        lines += [
            f"  fold {f['fold']} ({', '.join(f['ids'])}): {f['type']}: {f['message'][:120]}"
            for f in summary["failures"][:5]
        ]
    if artifacts:
        lines += ["", "report:"] + [f"  {uri}" for uri in artifacts.values()]
    return "\n".join(lines)
