"""The LOOCVRun status's wire model: the CRD's status schema is generated from it
(kube/crd.py), and every status the operator writes is validated by it.

The status stays small and bounded whatever the run's size (etcd objects are limited to
~1.5 MB): counts, headline metrics, the gate verdict, at most ten worst sample ids and the
address of the full results. Per-sample data stays in the store.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

MAX_WORST_SAMPLES = 10
MAX_STATUS_CLASSES = 20
MAX_GATE_FAILURES = 10
MAX_CONDITIONS = 16

Phase = Literal["Pending", "Running", "Suspended", "Succeeded", "Failed"]
NonNegative = Annotated[int, Field(ge=0)]
Interval = Annotated[list[float], Field(min_length=2, max_length=2)]


class _Wire(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


class Condition(_Wire):
    """metav1.Condition."""

    type: Annotated[str, Field(max_length=316)]
    status: Literal["True", "False", "Unknown"]
    reason: Annotated[str, Field(min_length=1, max_length=1024)]
    message: Annotated[str, Field(max_length=32768)]
    last_transition_time: str
    observed_generation: NonNegative | None = None


class FoldCounts(_Wire):
    total: NonNegative = 0
    done: NonNegative = 0
    succeeded: NonNegative = 0
    failed: NonNegative = 0
    running: NonNegative = 0
    missing: NonNegative = Field(
        default=0, description="when finished: folds with no computed result (given up)"
    )


class JobCounts(_Wire):
    total: NonNegative = Field(default=0, description="Jobs the operator created and still sees")
    batches: NonNegative = Field(default=0, description="batches of folds in the plan")
    active: NonNegative = 0
    succeeded: NonNegative = 0
    failed: NonNegative = 0
    retried: NonNegative = Field(default=0, description="resubmissions after a real failure")
    preempted: NonNegative = Field(default=0, description="pods preempted or evicted")
    given_up: NonNegative = Field(default=0, description="batches recorded as failed")
    awaiting_admission: NonNegative = Field(
        default=0, description="active Jobs waiting for Kueue to admit them (queueName)"
    )


class ClassMetrics(_Wire):
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    support: NonNegative = 0


class Metrics(_Wire):
    """The pooled metrics: the report's at the end; while the run goes on (partial), merged
    from the stored folds' summaries, without intervals or a gate verdict."""

    partial: bool | None = Field(
        default=None, description="true while the run goes on: over the folds stored so far"
    )
    folds: NonNegative | None = Field(
        default=None, description="while partial: the succeeded folds the metrics are over"
    )
    message: Annotated[str, Field(max_length=256)] | None = Field(
        default=None, description="while partial: over how many folds, and what is still to come"
    )
    accuracy: float | None = None
    accuracy_ci95: Interval | None = Field(default=None, alias="accuracyCI95")
    log_loss: float | None = None
    brier: float | None = None
    ece: float | None = None
    mae: float | None = None
    mae_ci95: Interval | None = Field(default=None, alias="maeCI95")
    rmse: float | None = None
    rmse_ci95: Interval | None = Field(default=None, alias="rmseCI95")
    r2: float | None = None
    r2_ci95: Interval | None = Field(default=None, alias="r2CI95")
    loss_mean: float | None = None
    per_class: dict[str, ClassMetrics] | None = Field(
        default=None, description=f"per class, for at most {MAX_STATUS_CLASSES} classes"
    )


class GateStatus(_Wire):
    passed: bool
    failures: Annotated[list[str], Field(max_length=MAX_GATE_FAILURES)] = Field(
        default_factory=list
    )


class BatchingStatus(_Wire):
    """How folds were cut into Jobs (``foldsPerJob``), and the figures behind it."""

    mode: Literal["explicit", "fast-path", "single", "probing", "measured"]
    folds_per_job: NonNegative | None = None
    per_fold_seconds: float | None = Field(default=None, description="probe: fit+predict")
    pod_overhead_seconds: float | None = Field(
        default=None, description="probe: Job wall time not spent in folds"
    )
    probe_folds: NonNegative | None = None
    message: Annotated[str, Field(max_length=1024)] | None = None


class OomStatus(_Wire):
    """What the operator did about OOM-killed trainer pods (kube/oom.py)."""

    killed: NonNegative = Field(default=0, description="trainer pods OOM-killed and handled")
    memory: str | None = Field(default=None, description="the raised memory limit of the Jobs")
    splits: NonNegative = Field(default=0, description="batches split in two")
    failed_folds: NonNegative = Field(default=0, description="folds OOM-killed alone at the cap")
    message: Annotated[str, Field(max_length=1024)] | None = None


class BaselineStatus(_Wire):
    """The comparison with ``gate.baseline``: b regressions (baseline right, this run wrong),
    c improvements, the one-sided exact McNemar p-value and the run compared with."""

    passed: bool
    reason: Annotated[str, Field(max_length=64)]
    baseline: Annotated[str, Field(max_length=1024)] | None = Field(
        default=None, description="namespace/name/uid of the baseline run used"
    )
    source: Annotated[str, Field(max_length=2048)] | None = None
    b: NonNegative | None = Field(default=None, description="baseline right, this run wrong")
    c: NonNegative | None = Field(default=None, description="baseline wrong, this run right")
    p_value: float | None = Field(default=None, description="one-sided: this run is worse")
    regressions: NonNegative | None = Field(
        default=None, description="right -> wrong, in gate.baseline.classes if given"
    )
    paired_samples: NonNegative = 0
    excluded_samples: NonNegative = 0
    alpha: float | None = None
    max_regressions: NonNegative | None = None
    message: Annotated[str, Field(max_length=1024)] | None = None


class UsageStatus(_Wire):
    """What the run used (kube/usage.py): requested resources x pod running time."""

    core_seconds: float = Field(default=0.0, description="requested cores x pod running time")
    gpu_seconds: float = 0.0
    memory_gi_b_seconds: float = Field(default=0.0, alias="memoryGiBSeconds")
    fold_seconds: float = Field(default=0.0, description="fit + predict time of the folds")
    pods_started: NonNegative = 0
    pods_running: NonNegative = 0
    retries: NonNegative = 0
    preemptions: NonNegative = 0
    saved_seconds: float | None = Field(
        default=None, description="brute-force compute the fast path saved (estimated)"
    )
    cost: float | None = Field(default=None, description="estimated, with the operator's --price")


class WorstSample(_Wire):
    id: str
    loss: float | None = None


class LOOCVRunStatus(_Wire):
    observed_generation: NonNegative | None = None
    phase: Phase | None = None
    start_time: str | None = None
    completion_time: str | None = None
    progress: str | None = Field(default=None, description="folds done/total")
    folds: FoldCounts | None = None
    jobs: JobCounts | None = None
    metrics: Metrics | None = None
    gate: GateStatus | None = None
    worst_samples: Annotated[list[WorstSample], Field(max_length=MAX_WORST_SAMPLES)] | None = None
    results_uri: str | None = None
    fast_path: str | None = Field(default=None, description="how folds were computed")
    batching: BatchingStatus | None = None
    oom: OomStatus | None = None
    baseline: BaselineStatus | None = None
    usage: UsageStatus | None = None
    conditions: Annotated[list[Condition], Field(max_length=MAX_CONDITIONS)] = Field(
        default_factory=list,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )


def dump(status: LOOCVRunStatus) -> dict[str, Any]:
    data: dict[str, Any] = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data
