"""The run's summary, typed: what the aggregator and the merged partial summaries produce,
what the gate, the console, the report and MLflow read.

Its serialized form — report.json's ``summary`` and, in part, a LOOCVRun's status — is the
dict of ``to_dict()``: camelCase keys in a fixed order, plain Python numbers and None where a
metric is undefined (NaN is not valid JSON). ``from_dict`` reads it back (report.json of a
stored run, the baseline of `loocv compare`). Pure Python: the operator imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CLASSIFICATION = "classification"
REGRESSION = "regression"


def _pair(value: Any) -> tuple[float, float] | None:
    return None if value is None else (float(value[0]), float(value[1]))


def _list(value: tuple[float, float] | None) -> list[float] | None:
    return None if value is None else [value[0], value[1]]


@dataclass(frozen=True)
class FoldCounts:
    total: int = 0
    done: int = 0  # succeeded + failed (a not-run fold is missing)
    succeeded: int = 0
    failed: int = 0
    missing: int = 0
    not_run: int = 0
    missing_indices: list[int] = field(default_factory=list)  # the first few

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "done": self.done,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "missing": self.missing,
            "notRun": self.not_run,
            "missingIndices": list(self.missing_indices),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FoldCounts:
        return cls(
            int(d.get("total") or 0),
            int(d.get("done") or 0),
            int(d.get("succeeded") or 0),
            int(d.get("failed") or 0),
            int(d.get("missing") or 0),
            int(d.get("notRun") or 0),
            [int(i) for i in d.get("missingIndices") or []],
        )


@dataclass(frozen=True)
class SampleCounts:
    evaluated: int = 0
    failed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"evaluated": self.evaluated, "failed": self.failed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SampleCounts:
        return cls(int(d.get("evaluated") or 0), int(d.get("failed") or 0))


@dataclass(frozen=True)
class ClassStats:
    precision: float | None
    recall: float | None
    f1: float | None
    support: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "support": self.support,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassStats:
        return cls(d.get("precision"), d.get("recall"), d.get("f1"), int(d.get("support") or 0))


@dataclass(frozen=True)
class ConfusionMatrix:
    labels: list[Any]
    matrix: list[list[int]]  # rows: true class, columns: predicted class

    def to_dict(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "matrix": [list(r) for r in self.matrix]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConfusionMatrix:
        return cls(list(d.get("labels") or []), [list(r) for r in d.get("matrix") or []])


@dataclass(frozen=True)
class ClassificationMetrics:
    accuracy: float | None = None
    accuracy_ci95: tuple[float, float] | None = None
    log_loss: float | None = None
    brier: float | None = None
    ece: float | None = None
    ece_bins: int = 15
    per_class: dict[str, ClassStats] = field(default_factory=dict)
    confusion_matrix: ConfusionMatrix = field(default_factory=lambda: ConfusionMatrix([], []))
    loss_mean: float | None = None
    loss_std: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "accuracyCI95": _list(self.accuracy_ci95),
            "logLoss": self.log_loss,
            "brier": self.brier,
            "ece": self.ece,
            "eceBins": self.ece_bins,
            "perClass": {k: v.to_dict() for k, v in self.per_class.items()},
            "confusionMatrix": self.confusion_matrix.to_dict(),
            "lossMean": self.loss_mean,
            "lossStd": self.loss_std,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassificationMetrics:
        return cls(
            d.get("accuracy"),
            _pair(d.get("accuracyCI95")),
            d.get("logLoss"),
            d.get("brier"),
            d.get("ece"),
            int(d.get("eceBins") or 15),
            {str(k): ClassStats.from_dict(v) for k, v in (d.get("perClass") or {}).items()},
            ConfusionMatrix.from_dict(d.get("confusionMatrix") or {}),
            d.get("lossMean"),
            d.get("lossStd"),
        )


@dataclass(frozen=True)
class RegressionMetrics:
    mae: float | None = None
    mae_ci95: tuple[float, float] | None = None
    rmse: float | None = None
    rmse_ci95: tuple[float, float] | None = None
    r2: float | None = None
    r2_ci95: tuple[float, float] | None = None
    loss_mean: float | None = None
    loss_std: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "mae": self.mae,
            "maeCI95": _list(self.mae_ci95),
            "rmse": self.rmse,
            "rmseCI95": _list(self.rmse_ci95),
            "r2": self.r2,
            "r2CI95": _list(self.r2_ci95),
            "lossMean": self.loss_mean,
            "lossStd": self.loss_std,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RegressionMetrics:
        return cls(
            d.get("mae"),
            _pair(d.get("maeCI95")),
            d.get("rmse"),
            _pair(d.get("rmseCI95")),
            d.get("r2"),
            _pair(d.get("r2CI95")),
            d.get("lossMean"),
            d.get("lossStd"),
        )


Metrics = ClassificationMetrics | RegressionMetrics


@dataclass(frozen=True)
class Timing:
    fit_seconds_median: float | None = None  # None in a merged summary: medians do not add
    predict_seconds_median: float | None = None
    fit_seconds_total: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "fitSecondsMedian": self.fit_seconds_median,
            "predictSecondsMedian": self.predict_seconds_median,
            "fitSecondsTotal": self.fit_seconds_total,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Timing:
        return cls(
            d.get("fitSecondsMedian"),
            d.get("predictSecondsMedian"),
            float(d.get("fitSecondsTotal") or 0.0),
        )


@dataclass(frozen=True)
class WorstSample:
    id: str
    row: int
    loss: float | None
    y_true: Any
    y_pred: Any

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "row": self.row,
            "loss": self.loss,
            "yTrue": self.y_true,
            "yPred": self.y_pred,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WorstSample:
        return cls(str(d["id"]), int(d["row"]), d.get("loss"), d.get("yTrue"), d.get("yPred"))


@dataclass(frozen=True)
class NoiseCandidate:
    """A confidently wrong prediction: a label worth checking."""

    id: str
    row: int
    y_true: Any
    y_pred: Any
    confidence: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "row": self.row,
            "yTrue": self.y_true,
            "yPred": self.y_pred,
            "confidence": self.confidence,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NoiseCandidate:
        return cls(str(d["id"]), int(d["row"]), d.get("yTrue"), d.get("yPred"), d.get("confidence"))


@dataclass(frozen=True)
class Failure:
    fold: int
    ids: list[str]
    type: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "fold": self.fold,
            "ids": list(self.ids),
            "type": self.type,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Failure:
        return cls(
            int(d["fold"]), [str(i) for i in d.get("ids") or []], str(d["type"]), str(d["message"])
        )


@dataclass(frozen=True)
class RunSummary:
    task: str
    folds: FoldCounts
    samples: SampleCounts
    failure_rate: float
    metrics: Metrics
    timing: Timing
    worst_samples: list[WorstSample]
    label_noise_candidates: list[NoiseCandidate]
    failures: list[Failure]
    failure_types: dict[str, int]
    paths: dict[str, int]
    trainer_versions: dict[str, int]

    @property
    def classification(self) -> bool:
        return self.task == CLASSIFICATION

    @property
    def classification_metrics(self) -> ClassificationMetrics | None:
        return self.metrics if isinstance(self.metrics, ClassificationMetrics) else None

    @property
    def regression_metrics(self) -> RegressionMetrics | None:
        return self.metrics if isinstance(self.metrics, RegressionMetrics) else None

    def metric(self, name: str) -> Any:
        """A metric by its serialized name (``accuracy``, ``r2``, ``logLoss``…): gates and
        comparisons are configured with these names."""
        return self.metrics.to_dict().get(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "folds": self.folds.to_dict(),
            "samples": self.samples.to_dict(),
            "failureRate": self.failure_rate,
            "metrics": self.metrics.to_dict(),
            "timing": self.timing.to_dict(),
            "worstSamples": [w.to_dict() for w in self.worst_samples],
            "labelNoiseCandidates": [c.to_dict() for c in self.label_noise_candidates],
            "failures": [f.to_dict() for f in self.failures],
            "failureTypes": dict(self.failure_types),
            "paths": dict(self.paths),
            "trainerVersions": dict(self.trainer_versions),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSummary:
        task = str(d.get("task") or CLASSIFICATION)
        raw = d.get("metrics") or {}
        metrics: Metrics = (
            ClassificationMetrics.from_dict(raw)
            if task == CLASSIFICATION
            else RegressionMetrics.from_dict(raw)
        )
        return cls(
            task=task,
            folds=FoldCounts.from_dict(d.get("folds") or {}),
            samples=SampleCounts.from_dict(d.get("samples") or {}),
            failure_rate=float(d.get("failureRate") or 0.0),
            metrics=metrics,
            timing=Timing.from_dict(d.get("timing") or {}),
            worst_samples=[WorstSample.from_dict(w) for w in d.get("worstSamples") or []],
            label_noise_candidates=[
                NoiseCandidate.from_dict(c) for c in d.get("labelNoiseCandidates") or []
            ],
            failures=[Failure.from_dict(f) for f in d.get("failures") or []],
            failure_types={str(k): int(v) for k, v in (d.get("failureTypes") or {}).items()},
            paths={str(k): int(v) for k, v in (d.get("paths") or {}).items()},
            trainer_versions={str(k): int(v) for k, v in (d.get("trainerVersions") or {}).items()},
        )


SummaryLike = RunSummary | Mapping[str, Any]


def as_summary(summary: SummaryLike) -> RunSummary:
    """The typed summary of either form: kube/ and stored report.json hand over dicts."""
    return summary if isinstance(summary, RunSummary) else RunSummary.from_dict(dict(summary))
