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
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def step_text(step: StepSpec) -> str:
    """``LogisticRegression(C=1.0, solver='lbfgs')``: the class name and the set parameters."""
    name = step.estimator.rsplit(".", 1)[-1]
    params = ", ".join(f"{k}={_value(v)}" for k, v in step.params.items())
    return f"{name}({params})"


def pipeline_text(model: ModelSpec) -> str:
    """Every step in order, joined by arrows, with warm start noted."""
    steps = [step_text(s) for s in model.preprocessing] + [step_text(model)]
    text = " → ".join(steps)
    return text + ", warm start" if model.warm_start else text


def strategy_text(strategy: StrategySpec) -> str:
    """``LeaveOneOut``, ``KFold(k=5, shuffled)``, or which subset is held out."""
    text: str = strategy.type
    if strategy.type == "KFold":
        text += f"(k={strategy.k}{', shuffled' if strategy.shuffle else ''})"
    subset = strategy.subset
    if subset is not None:
        if subset.indices is not None:
            text += f" of a subset: {len(subset.indices)} given rows"
        elif subset.labels is not None:
            text += f" of a subset: the samples labelled {', '.join(map(str, subset.labels))}"
        elif subset.stratified_sample is not None:
            n, seed = subset.stratified_sample, subset.seed
            text += f" of a subset: a stratified sample of {n} (seed {seed})"
        text += " (each fold trains on every other sample)"
    return text


def run_text(spec: LOOCVRunSpec) -> list[tuple[str, str]]:
    """The header rows: what was validated, and how."""
    return [
        ("model", pipeline_text(spec.model)),
        ("strategy", strategy_text(spec.strategy)),
    ]
