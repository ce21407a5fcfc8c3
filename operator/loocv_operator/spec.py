"""The LOOCVRun manifest as one typed model.

The CLI, the trainer and the operator all parse manifests through this module, and the CRD's
OpenAPI schema is generated from it, so every entry point accepts exactly the same documents.
Unknown fields and wrong types are errors: a typo in a gate threshold must not silently
disable the gate.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import InvalidInput
from .gatespec import (
    CLASSIFICATION_GATES,
    REGRESSION_GATES,
    BaselineSpec,
    CountBound,
    GateSpec,
    MaxBound,
    MinBound,
    R2MinBound,
    UnitMaxBound,
)
from .specbase import (
    API_GROUP,
    API_VERSION,
    BUILTIN_DATASETS,
    DNS_LABEL,
    DNS_SUBDOMAIN,
    DOTTED_NAME,
    KIND,
    MAX_FOLDS_PER_JOB,
    LabelValue,
    Seed,
)
from .specbase import SpecModel as _Model
from .specerrors import ManifestError, problems_of

# The manifest's parts defined beside it, named here too: `from .spec import GateSpec`.
__all__ = [
    "API_GROUP",
    "API_VERSION",
    "BUILTIN_DATASETS",
    "CLASSIFICATION_GATES",
    "KIND",
    "REGRESSION_GATES",
    "BaselineSpec",
    "CountBound",
    "GateSpec",
    "ManifestError",
    "MaxBound",
    "MinBound",
    "R2MinBound",
    "UnitMaxBound",
]


class DatasetSpec(_Model):
    """Where the samples come from: a scikit-learn bundled set, or a file."""

    builtin: Literal["iris", "wine", "breast_cancer", "digits", "diabetes"] | None = None
    uri: Annotated[str, Field(min_length=1)] | None = Field(
        default=None, description="s3://bucket/key or a local path to a .csv, .parquet or .npz"
    )
    format: Literal["csv", "parquet", "npz"] | None = Field(
        default=None, description="defaults to the file's extension"
    )
    target: str | None = Field(default=None, description="target column (csv, parquet)")
    features: list[str] | None = Field(
        default=None, description="feature columns; default: every column but target/id/group"
    )
    id_column: str | None = None
    group_column: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.builtin is None) == (self.uri is None):
            raise ValueError("give exactly one of 'builtin' or 'uri'")
        if self.builtin is not None and (
            self.target or self.features or self.id_column or self.group_column or self.format
        ):
            raise ValueError(
                "'target', 'features', 'idColumn', 'groupColumn' and 'format' apply to 'uri' only"
            )
        return self

    @property
    def file_format(self) -> str:
        """The format, from the field or the file's extension."""
        if self.format:
            return self.format
        suffix = Path((self.uri or "").split("?")[0]).suffix.lower().lstrip(".")
        if suffix in ("csv", "parquet", "npz"):
            return suffix
        if suffix == "pq":
            return "parquet"
        raise InvalidInput(
            "spec.dataset.format",
            f"cannot tell the format of {self.uri!r} from its extension; set 'format' "
            "to csv, parquet or npz",
        )


def _finite_json(value: Any, path: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(
            f"{path} is {value}: JSON (and so a Kubernetes resource) cannot carry non-finite "
            "numbers; use a large finite value"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _finite_json(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _finite_json(item, f"{path}[{i}]")


class StepSpec(_Model):
    """One estimator by import path, e.g. sklearn.preprocessing.StandardScaler."""

    estimator: Annotated[str, Field(pattern=DOTTED_NAME)]
    params: dict[str, Any] = Field(default_factory=dict)
    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")] | None = None

    @field_validator("params")
    @classmethod
    def _params_are_json(cls, params: dict[str, Any]) -> dict[str, Any]:
        _finite_json(params, "params")
        return params


class ModelSpec(StepSpec):
    """The model: an estimator, its parameters and the preprocessing steps before it."""

    preprocessing: list[StepSpec] = Field(default_factory=list)
    warm_start: bool = Field(
        default=False,
        # Left out of dumps while off, so the spec's digest (a local run's directory) stays.
        exclude_if=lambda on: not on,
        description="start each fold's solver from the full-data fit (LogisticRegression, "
        "Lasso, ElasticNet; needs a tight params.tol)",
    )


class SubsetSpec(_Model):
    """Hold out only these samples; every fold still trains on all the other samples."""

    indices: list[Annotated[int, Field(ge=0)]] | None = Field(default=None, min_length=1)
    labels: list[LabelValue] | None = Field(default=None, min_length=1)
    stratified_sample: Annotated[int, Field(ge=1)] | None = None
    seed: Seed = 0

    @model_validator(mode="after")
    def _one_kind(self) -> SubsetSpec:
        given = [x for x in (self.indices, self.labels, self.stratified_sample) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'indices', 'labels' or 'stratifiedSample'")
        return self


class StrategySpec(_Model):
    type: Literal["LeaveOneOut", "KFold", "LeaveOneGroupOut"] = "LeaveOneOut"
    k: Annotated[int, Field(ge=2)] | None = Field(default=None, description="folds for KFold")
    shuffle: bool = Field(default=False, description="KFold: shuffle with execution.seed")
    subset: SubsetSpec | None = None
    repeats: Annotated[int, Field(ge=2, le=20)] | None = Field(
        default=None,
        description="run the whole LOOCV this many times with seeds derived from "
        "execution.seed, and report how stable the metrics and each prediction are "
        "(estimators with a random_state only; local runs only for now)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> StrategySpec:
        if self.type == "KFold" and self.k is None:
            raise ValueError("KFold needs 'k'")
        if self.type != "KFold" and (self.k is not None or self.shuffle):
            raise ValueError("'k' and 'shuffle' apply to KFold only")
        if self.subset is not None and self.type != "LeaveOneOut":
            raise ValueError("'subset' applies to LeaveOneOut only")
        return self


class Toleration(_Model):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


Quantity = int | str


class ResourcesSpec(_Model):
    requests: dict[str, Quantity] = Field(default_factory=dict)
    limits: dict[str, Quantity] = Field(default_factory=dict)


class BudgetSpec(_Model):
    """A ceiling on what a run may use (requested cores or GPUs x pod running time): the
    operator creates no Job that would pass it. The one spec field but suspend and
    maxConcurrentJobs that may change: raising it resumes a run stopped by it."""

    max_core_hours: Annotated[float, Field(gt=0, le=1e9)] | None = Field(
        default=None, description="requested CPU cores x pod running time, in hours"
    )
    max_gpu_hours: Annotated[float, Field(gt=0, le=1e9)] | None = Field(
        default=None,
        alias="maxGPUHours",
        description="requested GPUs x pod running time, in hours",
    )

    @model_validator(mode="after")
    def _some_limit(self) -> BudgetSpec:
        if self.max_core_hours is None and self.max_gpu_hours is None:
            raise ValueError("give maxCoreHours, maxGPUHours or both (or leave budget out)")
        return self


class ExecutionSpec(_Model):
    """How the folds are spread over Jobs and pods (and, locally, over processes)."""

    folds_per_job: Annotated[int, Field(ge=1, le=MAX_FOLDS_PER_JOB)] | Literal["auto"] = Field(
        default="auto",
        description=(
            "folds per Job; 'auto': one Job when an exact fast path covers the run, else a "
            "probe batch is timed and the rest sized so each pod computes for ~20x its "
            "start-up cost, with every maxConcurrentJobs slot busy"
        ),
    )
    max_concurrent_jobs: Annotated[int, Field(ge=1, le=1000)] = 4
    retries: Annotated[int, Field(ge=0, le=100)] = 3
    image: str | None = Field(default=None, description="trainer image; operator default if unset")
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    priority_class_name: str | None = None
    queue_name: str | None = Field(default=None, description="Kueue LocalQueue name")
    seed: Seed = Field(default=0, description="random_state for estimators that take one")
    fast_path: Literal["auto", "disabled", "off", "approximate"] = Field(
        default="auto",
        description="auto: exact one-fit LOO where the model allows it; disabled: brute force "
        "only ('off' and false are read as disabled); approximate: also approximate LOO",
    )
    active_deadline_seconds: Annotated[int, Field(ge=1)] | None = None
    ttl_seconds_after_finished: Annotated[int, Field(ge=0)] = 3600
    budget: BudgetSpec | None = Field(
        default=None,
        description="stop creating Jobs before the run passes these core-/GPU-hours "
        "(mutable: raise it to resume a run it stopped)",
    )

    @field_validator("fast_path", mode="before")
    @classmethod
    def _fast_path_spelling(cls, value: Any) -> Any:
        """YAML 1.1 (PyYAML, kubectl) reads an unquoted ``off`` as the boolean false; that
        can only mean "disabled". ``true`` is ambiguous (auto? approximate?) and refused."""
        if value is False or value == "off":
            return "disabled"
        if value is True:
            raise ValueError("true is ambiguous: write auto, disabled or approximate")
        return value


class SecretRef(_Model):
    name: Annotated[str, Field(pattern=DNS_SUBDOMAIN, max_length=253)]


class KeyedSecretRef(SecretRef):
    key: str = "salt"


class StorageSpec(_Model):
    uri: str | None = Field(default=None, description="s3://bucket/prefix/ or a local directory")
    endpoint: str | None = Field(default=None, description="S3 endpoint URL (MinIO, Ceph, …)")
    region: str | None = None
    secret_ref: SecretRef | None = Field(
        default=None, description="Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )
    delete_on_delete: bool = False


class PrivacySpec(_Model):
    hash_sample_ids: bool = False
    salt_secret_ref: KeyedSecretRef | None = Field(
        default=None, description="Secret holding the HMAC salt (operator runs)"
    )


class MlflowTrackingSpec(_Model):
    """Log the finished run to an MLflow tracking server (the mlflow extra must be installed
    where the report is written; credentials come from the MLFLOW_* environment: locally the
    caller's, on a cluster the report pod's, from ``secretRef`` or the operator's default)."""

    tracking_uri: Annotated[str, Field(min_length=1)] = Field(
        description="MLflow tracking URI, e.g. http://mlflow.mlflow:5000"
    )
    experiment: Annotated[str, Field(min_length=1)] = Field(
        default="loocv", description="experiment name (created if missing)"
    )
    run_name: Annotated[str, Field(min_length=1, max_length=250)] | None = Field(
        default=None, description="MLflow run name; default: the LOOCVRun's name"
    )
    secret_ref: SecretRef | None = Field(
        default=None,
        description="Secret (in the run's namespace) with MLFLOW_TRACKING_TOKEN or "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, for the report pod only",
    )


class TrackingSpec(_Model):
    mlflow: MlflowTrackingSpec | None = None


class LOOCVRunSpec(_Model):
    dataset: DatasetSpec
    model: ModelSpec
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    execution: ExecutionSpec = Field(default_factory=ExecutionSpec)
    storage: StorageSpec = Field(default_factory=StorageSpec)
    gate: GateSpec | None = None
    privacy: PrivacySpec = Field(default_factory=PrivacySpec)
    tracking: TrackingSpec | None = None
    suspend: bool = False

    def digest(self) -> str:
        """A stable hash of the whole spec but suspend, concurrency and where the run is
        tracked (what report.json and plan.json name the spec by)."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        data.pop("suspend", None)
        data.pop("tracking", None)
        data.get("execution", {}).pop("maxConcurrentJobs", None)
        data.get("execution", {}).pop("budget", None)  # mutable too (kube/usage.py)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def results_digest(self) -> str:
        """A hash of what determines the fold results and nothing else: the data's source,
        the model, the strategy, the seed, the fast-path mode and the id privacy. A changed
        gate, batch size or image reuses the folds already stored; the data's content and
        the trainer version are added by whoever keys the store with this."""
        data = self.model_dump(
            mode="json",
            by_alias=True,
            exclude_none=True,
            include={"dataset", "model", "strategy", "privacy"},
        )
        data["seed"] = self.execution.seed
        data["fastPath"] = self.execution.fast_path
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class Metadata(BaseModel):
    """Kubernetes metadata: only what we use is checked, the rest is kept as given."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: Annotated[str, Field(pattern=DNS_SUBDOMAIN, max_length=253)]
    namespace: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)] = "default"
    uid: str | None = None


class LOOCVRun(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    apiVersion: Literal["loocv.dev/v1alpha1"]
    kind: Literal["LOOCVRun"]
    metadata: Metadata
    spec: LOOCVRunSpec
    status: dict[str, Any] | None = None


def parse_run(document: Any, source: str = "manifest") -> LOOCVRun:
    """Validate a whole LOOCVRun document (dict), raising ManifestError with field paths."""
    if not isinstance(document, dict):
        raise ManifestError(source, [(source, "expected a LOOCVRun mapping at the top level")])
    try:
        return LOOCVRun.model_validate(document)
    except ValidationError as exc:
        raise ManifestError(source, problems_of(exc)) from None


def parse_spec(spec: Any) -> LOOCVRunSpec:
    """Validate the ``spec`` of a resource the operator received."""
    try:
        return LOOCVRunSpec.model_validate(spec)
    except ValidationError as exc:
        raise ManifestError("spec", problems_of(exc, "spec")) from None
