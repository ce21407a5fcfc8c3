"""Making a run's plan from its data and model: the planner's work (``loocv plan`` in a
pod, the local executor, ``loocv validate``), never the operator's.

Checks what only the data and the model reveal — the target against the model's task, the
gate's thresholds against the model — then plans the folds and the first batches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .batching import initial_batches
from .datasets import Dataset
from .errors import InvalidInput
from .estimators import task_of
from .fastpaths import fast_path_for
from .folds import plan_folds
from .plan import Plan
from .preflight import check_target
from .results import to_python
from .spec import CLASSIFICATION_GATES, REGRESSION_GATES, LOOCVRunSpec
from .store import RunLocation

PROBABILITY_GATES = ("log_loss", "brier", "ece")


def _camel(name: str) -> str:
    return "".join(p.capitalize() if i else p for i, p in enumerate(name.split("_")))


def _check_gate_applies(spec: LOOCVRunSpec, task: str, estimator: Any) -> None:
    """A regression threshold on a classifier (or the reverse), or a probability threshold on
    a model without predict_proba, would never be met: refused now, not after N folds."""
    if spec.gate is None:
        return
    model = type(estimator).__name__
    foreign = REGRESSION_GATES if task == "classification" else CLASSIFICATION_GATES
    for name in foreign:
        if getattr(spec.gate, name) is not None:
            raise InvalidInput(
                f"spec.gate.{_camel(name)}", f"does not apply to {model}, a {task} model"
            )
    if task == "classification" and not hasattr(estimator, "predict_proba"):
        final = spec.model.estimator.rsplit(".", 1)[-1]
        for name in PROBABILITY_GATES:
            if getattr(spec.gate, name) is not None:
                raise InvalidInput(
                    f"spec.gate.{_camel(name)}",
                    f"needs class probabilities, and {final} (as configured) has no "
                    "predict_proba; drop this threshold or choose a probabilistic model "
                    "(for SVC: params.probability: true)",
                )


def make_plan(
    location: RunLocation,
    spec: LOOCVRunSpec,
    dataset: Dataset,
    estimator: Any,
    executor: str = "local",
) -> Plan:
    """Plan folds and batches for a run; deterministic from its inputs. ``executor`` is
    "cluster" for Jobs (batching.py sizes them) or "local" (the executor batches itself)."""
    task = task_of(estimator)
    classification = task == "classification"
    classes = [to_python(c) for c in np.unique(dataset.y)] if classification else None
    if classification and classes is not None and len(classes) < 2:
        raise InvalidInput("spec.dataset", "classification needs at least 2 classes in the target")
    if not classification and not np.issubdtype(dataset.y.dtype, np.number):
        raise InvalidInput(
            "spec.dataset.target",
            f"{type(estimator).__name__} is a regressor but the target is not numeric",
        )
    check_target(spec, dataset.y, task, type(estimator).__name__)
    _check_gate_applies(spec, task, estimator)
    folds = plan_folds(
        spec.strategy, dataset.y, dataset.groups, spec.execution.seed, classification
    )
    batches, batching = initial_batches(
        len(folds),
        spec.execution.folds_per_job,
        fast_path_for(estimator, spec),
        local=executor == "local",
    )
    return Plan(
        location=location,
        spec=spec,
        spec_digest=spec.digest(),
        dataset_digest=dataset.digest(),
        n_samples=dataset.n_samples,
        task=task,
        classes=classes,
        folds=folds,
        batches=batches,
        batching=batching,
    )
