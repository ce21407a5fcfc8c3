"""The gate of a manifest: thresholds on the pooled metrics, on failed and missing folds,
and the paired comparison with a baseline run (spec.gate)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from .specbase import DNS_SUBDOMAIN, LabelValue
from .specbase import SpecModel as _Model


class MinBound(_Model):
    """A lower bound on a score in [0, 1] (accuracy, recall)."""

    min: Annotated[float, Field(ge=0.0, le=1.0)]


class R2MinBound(_Model):
    """r2 is at most 1 (and unbounded below)."""

    min: Annotated[float, Field(le=1.0)]


class MaxBound(_Model):
    """An upper bound on a non-negative error (log loss, Brier score, MAE, RMSE)."""

    max: Annotated[float, Field(ge=0.0)]


class UnitMaxBound(_Model):
    """An upper bound on a fraction in [0, 1] (ECE, failure rate)."""

    max: Annotated[float, Field(ge=0.0, le=1.0)]


class CountBound(_Model):
    max: Annotated[int, Field(ge=0)]


class BaselineSpec(_Model):
    """A baseline run of the same samples, compared sample by sample: the run fails if it is
    significantly worse (one-sided exact McNemar test at alpha) or if more than
    maxRegressions samples went from right to wrong."""

    run: Annotated[str, Field(pattern=DNS_SUBDOMAIN, max_length=253)] | None = Field(
        default=None, description="a LOOCVRun in the same namespace (its newest stored report)"
    )
    results_uri: Annotated[str, Field(min_length=1)] | None = Field(
        default=None, description="a finished run's directory (s3://… or a path)"
    )
    max_regressions: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="samples allowed to go from right to wrong"
    )
    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        default=0.05, description="significance level of the one-sided McNemar test"
    )
    classes: list[LabelValue] | None = Field(
        default=None,
        min_length=1,
        description="count regressions only among samples of these true classes",
    )

    @model_validator(mode="after")
    def _one_source(self) -> BaselineSpec:
        if (self.run is None) == (self.results_uri is None):
            raise ValueError("give exactly one of 'run' or 'resultsUri'")
        return self


class GateSpec(_Model):
    """Thresholds a run must meet; a breach fails the gate (exit 3, GatePassed=False)."""

    accuracy: MinBound | None = None
    class_recall: MinBound | None = Field(default=None, description="minimum recall of every class")
    log_loss: MaxBound | None = None
    brier: MaxBound | None = None
    ece: UnitMaxBound | None = None
    mae: MaxBound | None = None
    rmse: MaxBound | None = None
    r2: R2MinBound | None = None
    failed_folds: CountBound | None = None
    failure_rate: UnitMaxBound | None = None
    missing_folds: CountBound | None = Field(
        default=None,
        description="folds allowed to have no readable result (default 0: a gate over "
        "incomplete results fails)",
    )
    baseline: BaselineSpec | None = None

    @model_validator(mode="after")
    def _some_threshold(self) -> GateSpec:
        if not any(getattr(self, name) is not None for name in type(self).model_fields):
            raise ValueError(
                "an empty gate passes everything: give at least one threshold, or leave "
                "the gate out"
            )
        return self


CLASSIFICATION_GATES = ("accuracy", "class_recall", "log_loss", "brier", "ece")
REGRESSION_GATES = ("mae", "rmse", "r2")
