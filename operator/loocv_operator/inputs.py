"""What every step that computes needs — the data, the unfitted model, the id hasher —
loaded one way for the planner, the trainers, the report and local mode."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .datasets import Dataset, load_dataset
from .privacy import IdHasher, hasher_for
from .spec import LOOCVRunSpec


@dataclass(frozen=True)
class Inputs:
    """What every step that computes needs: the data, the unfitted model, the id hasher."""

    dataset: Dataset
    estimator: Any
    hasher: IdHasher


def load_inputs(
    spec: LOOCVRunSpec, allowlist: Sequence[str], dataset: Dataset | None = None
) -> Inputs:
    """The model first (a refused estimator costs no data read), then the data."""
    hasher = hasher_for(spec.privacy)
    from .estimators import build_estimator  # scikit-learn: not for `loocv report`

    estimator = build_estimator(spec.model, allowlist, spec.execution.seed)
    return Inputs(dataset or load_dataset(spec.dataset, spec.storage), estimator, hasher)
