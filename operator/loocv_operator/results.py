"""Per-fold results: what a trainer writes (one JSON object per fold) and everyone reads.

A fold holds out one sample under LeaveOneOut and several under KFold/LeaveOneGroupOut, so
a result carries one record per held-out sample. A failed fold keeps its samples (row, id,
true label) with no prediction, and the error, so the report can still list them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import __version__

Label = int | float | str | bool
# The path of a fold the operator recorded without computing it (its batch was given up):
# the result carries the reason, and the fold counts as missing, never as done.
NOT_RUN_PATH = "not-run"
# A fold OOM-killed alone in its pod at the memory cap (kube/oom.py): it ran and failed.
OOM_KILLED_PATH = "oom-killed"
# Folds the operator recorded itself: they carry only their rows (the operator never reads
# the data), named by the report Job (runsteps.with_samples).
OPERATOR_PATHS = (NOT_RUN_PATH, OOM_KILLED_PATH)


def to_python(value: Any) -> Any:
    """numpy scalars to plain Python, so JSON round-trips exactly (floats via repr)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class SampleResult:
    row: int
    id: str
    y_true: Label
    y_pred: Label | None = None
    proba: list[float] | None = None
    loss: float | None = None


@dataclass(frozen=True)
class FoldError:
    type: str
    message: str


@dataclass(frozen=True)
class FoldResult:
    index: int
    samples: list[SampleResult]
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    error: FoldError | None = None
    path: str = "brute-force"
    trainer_version: str = __version__
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> bytes:
        # Strict JSON: the trainer turns non-finite predictions into fold errors, so a NaN
        # here is a bug to surface, not something to write where jq and browsers choke.
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode()

    def to_dict(self) -> dict[str, Any]:
        # asdict() would deep-copy every field; this is the same mapping, key for key, at a
        # seventh of the cost (it runs once per fold).
        return {
            "index": self.index,
            "samples": [vars(s) for s in self.samples],
            "fit_seconds": self.fit_seconds,
            "predict_seconds": self.predict_seconds,
            "error": vars(self.error) if self.error else None,
            "path": self.path,
            "trainer_version": self.trainer_version,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, raw: bytes | str) -> FoldResult:
        return cls.from_dict(json.loads(raw))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FoldResult:
        error = data.get("error")
        return cls(
            index=int(data["index"]),
            samples=[SampleResult(**s) for s in data["samples"]],
            fit_seconds=float(data.get("fit_seconds", 0.0)),
            predict_seconds=float(data.get("predict_seconds", 0.0)),
            error=FoldError(**error) if error else None,
            path=str(data.get("path", "brute-force")),
            trainer_version=str(data.get("trainer_version", "")),
            extra=dict(data.get("extra", {})),
        )


def is_finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def unique_by_index(results: Iterable[FoldResult]) -> dict[int, FoldResult]:
    """Each fold counted exactly once: a later result for the same index replaces the earlier."""
    return {r.index: r for r in results}
