"""A run's model and strategy in words, for the summary and the report header.

From the spec alone (no estimator import), so the same words appear wherever a run is shown,
including in processes that never build the model.
"""

from __future__ import annotations

import json
from typing import Any

from .spec import LOOCVRunSpec, ModelSpec, StepSpec, StrategySpec

MAX_VALUE_CHARS = 40


def _value(value: Any) -> str:
    if isinstance(value, dict) and "estimator" in value:
        return step_text(StepSpec.model_validate(value))
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def step_text(step: StepSpec) -> str:
    """``LogisticRegression(C=1.0, max_iter=1000)``: the class name and the set parameters."""
    name = step.estimator.rsplit(".", 1)[-1]
    params = ", ".join(f"{k}={_value(v)}" for k, v in step.params.items())
    return f"{name}({params})"


def pipeline_text(model: ModelSpec) -> str:
    """Every step in order, joined by arrows, with warm start noted."""
    steps = [step_text(s) for s in model.preprocessing] + [step_text(model)]
    text = " → ".join(steps)
    return text + ", warm start" if model.warm_start else text


def strategy_text(strategy: StrategySpec) -> str:
    """``LeaveOneOut``, ``KFold(k=5, shuffled)``, or the subset held out."""
    if strategy.type == "KFold":
        return f"KFold(k={strategy.k}{', shuffled' if strategy.shuffle else ''})"
    if strategy.type != "LeaveOneOut" or strategy.subset is None:
        return strategy.type
    subset = strategy.subset
    if subset.indices is not None:
        shown = ", ".join(str(i) for i in subset.indices[:8])
        more = ", …" if len(subset.indices) > 8 else ""
        return f"LeaveOneOut of {len(subset.indices)} listed samples ({shown}{more})"
    if subset.labels is not None:
        labels = ", ".join(str(label) for label in subset.labels)
        return f"LeaveOneOut of the samples labelled {labels}"
    return f"LeaveOneOut of a stratified sample of {subset.stratified_sample} (seed {subset.seed})"


def run_text(spec: LOOCVRunSpec) -> list[tuple[str, str]]:
    """The header rows: what was validated, and how."""
    return [
        ("model", pipeline_text(spec.model)),
        ("strategy", strategy_text(spec.strategy)),
    ]
