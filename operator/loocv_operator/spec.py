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
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from .errors import InvalidInput

API_GROUP = "loocv.dev"
API_VERSION = "v1alpha1"
KIND = "LOOCVRun"
BUILTIN_DATASETS = ("iris", "wine", "breast_cancer", "digits", "diabetes")
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DOTTED_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$"
MAX_FOLDS_PER_JOB = 100_000
MAX_MANIFEST_BYTES = 1 << 20  # the API server refuses objects past ~1.5 MB anyway
MAX_MANIFEST_NODES = 100_000  # values after YAML aliases are expanded

LabelValue = int | str
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]  # numpy's RandomState takes no other seed


class _Model(BaseModel):
    """camelCase on the wire (like every Kubernetes API), snake_case in Python."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        strict=True,  # as the API server: "4" is not an int, "yes" not a bool
    )


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


class ManifestError(InvalidInput):
    """Every problem of a manifest at once, each with its field path."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        where = problems[0][0] if len(problems) == 1 else source
        message = problems[0][1] if len(problems) == 1 else f"{len(problems)} problems"
        super().__init__(where, message)

    def __str__(self) -> str:
        return "\n".join(f"{where}: {message}" for where, message in self.problems)


def _field_path(prefix: str, loc: tuple[int | str, ...]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-", "literal[", "constrained-")) or part in (
            "int",
            "str",
        ):
            continue  # pydantic's union-branch names are noise to a user
        else:
            path += f".{part}" if path else str(part)
    return path


_PATTERN_WORDS = {
    DNS_SUBDOMAIN: "a lowercase DNS name: a-z, 0-9, '-' and '.', starting and ending "
    "with a letter or digit",
    DNS_LABEL: "a lowercase DNS label: a-z, 0-9 and '-', starting and ending with a letter "
    "or digit, at most 63 characters",
    DOTTED_NAME: "a dotted Python name such as sklearn.svm.SVC",
}


def _plain_message(message: str) -> str:
    """pydantic's words without its internals: no class names, patterns in words."""
    message = re.sub(r" or instance of \w+", "", message)
    for pattern, words in _PATTERN_WORDS.items():
        message = message.replace(f"String should match pattern '{pattern}'", f"must be {words}")
    return message


def problems_of(error: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """Turn pydantic's errors into (field path, message) pairs, without duplicates."""
    seen: dict[str, str] = {}
    for item in error.errors(include_url=False):
        where = _field_path(prefix, item["loc"]) or prefix or "manifest"
        message = _plain_message(item["msg"].removeprefix("Value error, "))
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        if where in seen and message not in seen[where]:
            seen[where] += f"; or {message}"
        else:
            seen.setdefault(where, message)
    return list(seen.items())


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


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe loading that refuses a key given twice in one mapping: PyYAML keeps the last
    silently, so a second ``spec:`` would replace the first without a word (kubectl refuses
    such a file too)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if isinstance(key, str | int | float | bool) and key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"the key {key!r} appears twice in one mapping (line {mark.line + 1}); "
                    "keep one",
                    mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(value: Any, limit: int) -> int:
    """How many values the document holds once YAML aliases are expanded (an alias is a
    shared reference after loading, but validating or hashing walks every copy: a
    "billion laughs" document of 1 kB would take hours). Memoised, so this walk is linear."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, children_done = stack.pop()
        if not isinstance(item, dict | list) or id(item) in sizes:
            continue
        children = list(item.values()) if isinstance(item, dict) else item
        if not children_done:
            stack.append((item, True))
            stack.extend((c, False) for c in children if isinstance(c, dict | list))
            continue
        total = 1 + sum(sizes.get(id(c), 1) for c in children)
        if total > limit:
            return total
        sizes[id(item)] = total
    return sizes.get(id(value), 1)


def load_manifest(path: str | Path) -> LOOCVRun:
    """Read one LOOCVRun from a YAML (or JSON) file."""
    return parse_run(load_document(path), str(path))


def load_document(path: str | Path) -> dict[str, Any]:
    """The one LOOCVRun document of a YAML (or JSON) file, as the mapping it holds (for a
    client that sends it on as written: ``metadata.generateName`` and all)."""
    source = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise InvalidInput(
                source, f"{size} bytes: a manifest is at most {MAX_MANIFEST_BYTES} bytes"
            )
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(source, "no such file") from None
    except IsADirectoryError:
        raise InvalidInput(source, "is a directory; give the manifest's YAML file") from None
    except UnicodeDecodeError:
        raise InvalidInput(source, "cannot read: not UTF-8 text") from None
    except OSError as exc:
        raise InvalidInput(source, f"cannot read: {exc.strerror or exc}") from None
    try:
        documents = [d for d in yaml.load_all(text, Loader=_UniqueKeyLoader) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidInput(source, f"not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    except RecursionError:
        raise InvalidInput(source, "not a manifest: nested too deeply") from None
    for document in documents:
        if _expanded_size(document, MAX_MANIFEST_NODES) > MAX_MANIFEST_NODES:
            raise InvalidInput(
                source,
                f"more than {MAX_MANIFEST_NODES} values once YAML aliases are expanded; "
                "a manifest this large is refused (an alias bomb?)",
            )
    runs = [d for d in documents if isinstance(d, dict) and d.get("kind") == KIND]
    if len(runs) != 1:
        found = "no" if not runs else str(len(runs))
        kinds = sorted({str(d.get("kind")) for d in documents if isinstance(d, dict)} - {KIND})
        seen = f" (it holds kind {', '.join(kinds)})" if kinds and not runs else ""
        raise InvalidInput(source, f"expected exactly one LOOCVRun document, found {found}{seen}")
    found_run: dict[str, Any] = runs[0]
    return found_run
