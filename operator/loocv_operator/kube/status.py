"""The LOOCVRun status: its wire model (the CRD's status schema is generated from it) and
the pure functions that build it from a run's progress and its metrics summary.

The status stays small and bounded whatever the run's size (etcd objects are limited to
~1.5 MB): counts, headline metrics, the gate verdict, at most ten worst sample ids and the
address of the full results. Per-sample data stays in the store.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ..gate import GateVerdict, missing_text
from ..oomlog import ACTION_SPLIT, OomLog
from . import conditions as cond

BUDGET_EXCEEDED = "BudgetExceeded"

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


# ------------------------------------------------------------------------------ building


@dataclass(frozen=True)
class RunView:
    """What the operator knows about a run at one moment; everything status is made from."""

    generation: int | None
    folds: FoldCounts
    jobs: JobCounts
    summary: Mapping[str, Any] | None
    results_uri: str | None
    suspended: bool = False
    finished: bool = False
    verdict: GateVerdict | None = None
    halted: str | None = None  # why no more Jobs are created (trainer reported bad input)
    halt_reason: str = "TrainerInvalidInput"  # or FoldsFailAlike (the operator stopped it)
    waiting: str | None = None  # why pods are not running (image pull, missing Secret)
    unschedulable: str | None = None  # the scheduler's word on a pod no node can take
    batching: Mapping[str, Any] | None = None  # Batching.to_json() of the plan
    baseline: Mapping[str, Any] | None = None  # compare.gate.BaselineVerdict.to_json()
    awaiting_admission: str | None = None  # Jobs wait for Kueue (admission.waiting_message)
    queue_missing: str | None = None  # the run's LocalQueue does not exist (Kueue says so)
    oom: OomLog | None = None  # the plan's OOM remediation so far
    usage: Mapping[str, Any] | None = None  # usage.Usage.to_json() (kube/accounting.py)
    budget_exceeded: str | None = None  # why the budget holds Jobs back (kube/usage.py)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _interval(value: Any) -> list[float] | None:
    if not isinstance(value, Sequence) or len(value) != 2:
        return None
    low, high = _finite(value[0]), _finite(value[1])
    return None if low is None or high is None else [low, high]


def metrics_of(summary: Mapping[str, Any] | None) -> Metrics | None:
    """The headline metrics of a summary; the rest (confusion matrix, …) stays in the store."""
    if not summary:
        return None
    raw = summary.get("metrics") or {}
    per_class_raw = raw.get("perClass")
    per_class: dict[str, ClassMetrics] | None = None
    if isinstance(per_class_raw, Mapping) and 0 < len(per_class_raw) <= MAX_STATUS_CLASSES:
        per_class = {
            str(label): ClassMetrics(
                precision=_finite(stats.get("precision")),
                recall=_finite(stats.get("recall")),
                f1=_finite(stats.get("f1")),
                support=max(0, int(stats.get("support") or 0)),
            )
            for label, stats in per_class_raw.items()
        }
    return Metrics(
        accuracy=_finite(raw.get("accuracy")),
        accuracy_ci95=_interval(raw.get("accuracyCI95")),
        log_loss=_finite(raw.get("logLoss")),
        brier=_finite(raw.get("brier")),
        ece=_finite(raw.get("ece")),
        mae=_finite(raw.get("mae")),
        mae_ci95=_interval(raw.get("maeCI95")),
        rmse=_finite(raw.get("rmse")),
        rmse_ci95=_interval(raw.get("rmseCI95")),
        r2=_finite(raw.get("r2")),
        r2_ci95=_interval(raw.get("r2CI95")),
        loss_mean=_finite(raw.get("lossMean")),
        per_class=per_class,
    )


def worst_samples_of(summary: Mapping[str, Any] | None) -> list[WorstSample] | None:
    if not summary:
        return None
    worst = summary.get("worstSamples") or []
    return [
        WorstSample(id=str(s.get("id")), loss=_finite(s.get("loss")))
        for s in worst[:MAX_WORST_SAMPLES]
    ]


def fast_path_of(summary: Mapping[str, Any] | None) -> str | None:
    paths = (summary or {}).get("paths") or {}
    return ", ".join(sorted(paths)) or None


def phase_of(view: RunView) -> Phase:
    if view.finished:
        return "Failed" if view.halted or view.folds.succeeded == 0 else "Succeeded"
    if view.suspended:
        return "Suspended"
    if view.folds.done == 0 and (view.jobs.total == 0 or view.unschedulable or view.queue_missing):
        return "Pending"  # nothing computed yet, and nothing can start (no node fits, no queue)
    return "Running"


def _progress_message(view: RunView) -> str:
    text = f"{view.folds.done}/{view.folds.total} folds done, {view.jobs.active} Jobs active"
    if view.jobs.retried or view.jobs.preempted:
        text += f", {view.jobs.retried} resubmitted, {view.jobs.preempted} pods preempted"
    if view.waiting:
        text += f"; waiting: {view.waiting}"
    return text


def _failure_message(view: RunView) -> str:
    summary = view.summary or {}
    types = summary.get("failureTypes") or {}
    detail = ", ".join(f"{name} x{count}" for name, count in sorted(types.items()))
    text = f"{view.folds.failed} of {view.folds.total} folds failed"
    return f"{text} ({detail})" if detail else text


def build_status(
    previous: Mapping[str, Any] | None, view: RunView, now: datetime
) -> dict[str, Any]:
    """The whole status for a run: the wire dict to write (None-free, schema-valid)."""
    previous = previous or {}
    conditions: list[dict[str, Any]] = list(previous.get("conditions") or [])
    phase = phase_of(view)
    gen = view.generation

    def put(type_: str, status: cond.ConditionStatus, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = cond.set_condition(conditions, type_, status, reason, message, now, gen)

    if view.finished:
        put(cond.PROGRESSING, "False", "Finished", _progress_message(view))
        if phase == "Succeeded":
            put(cond.COMPLETE, "True", "AllFoldsDone", f"{view.folds.total} folds done")
        else:
            reason = view.halt_reason if view.halted else "NoFoldSucceeded"
            put(cond.FAILED, "True", reason, view.halted or _failure_message(view))
        missing = missing_text(view.summary or {})
        if missing:
            put(cond.RESULTS_INCOMPLETE, "True", "FoldsMissing", missing)
        elif view.folds.failed:
            put(cond.RESULTS_INCOMPLETE, "True", "FoldsFailed", _failure_message(view))
        else:
            put(cond.RESULTS_INCOMPLETE, "False", "AllFoldsSucceeded", "every fold succeeded")
        if view.verdict is not None and view.verdict.evaluated:
            if view.verdict.passed:
                put(cond.GATE_PASSED, "True", view.verdict.reason, "every gate threshold is met")
            else:
                put(
                    cond.GATE_PASSED,
                    "False",
                    view.verdict.reason,
                    "; ".join(view.verdict.failures),
                )
    else:
        if view.suspended:
            put(cond.PROGRESSING, "False", "Suspended", _progress_message(view))
        elif view.queue_missing:
            put(cond.PROGRESSING, "False", "QueueNotFound", view.queue_missing)
        elif view.unschedulable:
            put(
                cond.PROGRESSING,
                "False",
                "Unschedulable",
                f"trainer pods cannot be scheduled: {view.unschedulable}",
            )
        elif view.awaiting_admission:
            text = f"{_progress_message(view)}; {view.awaiting_admission}"
            put(cond.PROGRESSING, "True", "AwaitingAdmission", text)
        else:
            reason = "Waiting" if view.waiting else "JobsRunning"
            put(cond.PROGRESSING, "True", reason, _progress_message(view))
        not_run = int(((view.summary or {}).get("folds") or {}).get("notRun") or 0)
        if not_run:
            put(
                cond.RESULTS_INCOMPLETE,
                "True",
                "FoldsMissing",
                f"{not_run} folds will have no result: their batch was given up",
            )
        elif view.folds.failed:
            put(cond.RESULTS_INCOMPLETE, "True", "FoldsFailed", _failure_message(view) + " so far")

    conditions = budget_condition(conditions, view, now)  # kube/usage.py
    gate = None
    if view.finished and view.verdict is not None and view.verdict.evaluated:
        gate = GateStatus(
            passed=view.verdict.passed, failures=view.verdict.failures[:MAX_GATE_FAILURES]
        )
    status = LOOCVRunStatus(
        observed_generation=gen,
        phase=phase,
        start_time=previous.get("startTime") or cond.timestamp(now),
        completion_time=(previous.get("completionTime") or cond.timestamp(now))
        if view.finished
        else None,
        progress=f"{view.folds.done}/{view.folds.total}",
        folds=view.folds,
        jobs=view.jobs,
        metrics=metrics_of(view.summary),
        gate=gate,
        worst_samples=worst_samples_of(view.summary),
        results_uri=view.results_uri,
        fast_path=fast_path_of(view.summary),
        batching=batching_of(view.batching),
        oom=oom_of(view.oom),
        baseline=baseline_of(view.baseline) if view.finished else None,
        usage=usage_of(view.usage),
        conditions=[Condition.model_validate(c) for c in conditions],
    )
    return dump(status)


def usage_of(usage: Mapping[str, Any] | None) -> UsageStatus | None:
    if not usage:
        return None
    keys = set(UsageStatus.model_fields) | {f.alias for f in UsageStatus.model_fields.values()}
    data = {
        k: v
        for k, v in usage.items()
        if k in keys and not (isinstance(v, float) and not math.isfinite(v))
    }
    return UsageStatus.model_validate(data)


def budget_condition(
    conditions: list[dict[str, Any]], view: RunView, now: datetime
) -> list[dict[str, Any]]:
    """BudgetExceeded: True with the figures while the budget holds Jobs back (and on the
    run it ended); False once a raised budget let the run go on."""
    if view.budget_exceeded:
        return cond.set_condition(
            conditions,
            BUDGET_EXCEEDED,
            "True",
            BUDGET_EXCEEDED,
            view.budget_exceeded,
            now,
            view.generation,
        )
    if cond.find(conditions, BUDGET_EXCEEDED) is not None:
        return cond.set_condition(
            conditions,
            BUDGET_EXCEEDED,
            "False",
            "WithinBudget",
            "the budget leaves room for the next Jobs",
            now,
            view.generation,
        )
    return conditions


def batching_of(batching: Mapping[str, Any] | None) -> BatchingStatus | None:
    if not batching:
        return None
    data = dict(batching)
    if isinstance(data.get("message"), str):
        data["message"] = data["message"][:1024]
    for key in ("perFoldSeconds", "podOverheadSeconds"):
        data[key] = _finite(data.get(key))
    return BatchingStatus.model_validate(data)


def oom_of(log: OomLog | None) -> OomStatus | None:
    if not log:
        return None
    return OomStatus(
        killed=len(log.steps),
        memory=log.memory,
        splits=log.count(ACTION_SPLIT),
        failed_folds=log.failed_folds(),
        message=log.summary()[:1024],
    )


def baseline_of(baseline: Mapping[str, Any] | None) -> BaselineStatus | None:
    if not baseline:
        return None
    failures = [str(f) for f in baseline.get("failures") or []]
    return BaselineStatus(
        passed=bool(baseline.get("passed")),
        reason=str(baseline.get("reason"))[:64],
        baseline=baseline.get("baseline"),
        source=(baseline.get("source") or None) and str(baseline["source"])[:2048],
        b=baseline.get("b"),
        c=baseline.get("c"),
        p_value=_finite(baseline.get("pValue")),
        regressions=baseline.get("regressions"),
        paired_samples=int(baseline.get("pairedSamples") or 0),
        excluded_samples=int(baseline.get("excludedSamples") or 0),
        alpha=_finite(baseline.get("alpha")),
        max_regressions=baseline.get("maxRegressions"),
        message="; ".join(failures)[:1024] or None,
    )


def pending_status(
    previous: Mapping[str, Any] | None,
    generation: int | None,
    now: datetime,
    message: str,
    reason: str = "Planning",
) -> dict[str, Any]:
    """Accepted, being planned: no Job yet (or the planner Job's queue does not exist:
    reason QueueNotFound, Progressing False)."""
    previous = previous or {}
    conditions = cond.set_condition(
        list(previous.get("conditions") or []),
        cond.PROGRESSING,
        "True" if reason == "Planning" else "False",
        reason,
        message,
        now,
        generation,
    )
    status = LOOCVRunStatus(
        observed_generation=generation,
        phase="Pending",
        start_time=previous.get("startTime") or cond.timestamp(now),
        conditions=[Condition.model_validate(c) for c in conditions],
    )
    return dump(status)


def invalid_status(
    previous: Mapping[str, Any] | None,
    generation: int | None,
    now: datetime,
    problems: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """The run cannot start: Invalid and Failed, the message naming each field."""
    previous = previous or {}
    message = "; ".join(f"{where}: {what}" for where, what in problems)
    conditions: list[dict[str, Any]] = list(previous.get("conditions") or [])
    updates: tuple[tuple[str, cond.ConditionStatus, str], ...] = (
        (cond.INVALID, "True", "InvalidSpec"),
        (cond.PROGRESSING, "False", "InvalidSpec"),
        (cond.FAILED, "True", "InvalidSpec"),
    )
    for type_, status_, reason in updates:
        conditions = cond.set_condition(
            conditions,
            type_,
            status_,
            reason,
            message,
            now,
            generation,
        )
    status = LOOCVRunStatus(
        observed_generation=generation,
        phase="Failed",
        start_time=previous.get("startTime") or cond.timestamp(now),
        completion_time=previous.get("completionTime") or cond.timestamp(now),
        conditions=[Condition.model_validate(c) for c in conditions],
    )
    return dump(status)


def dump(status: LOOCVRunStatus) -> dict[str, Any]:
    data: dict[str, Any] = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


def merge_patch(previous: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch turning ``previous`` into ``new`` at the top level: fields the new
    status no longer has are removed (null), the others replaced whole."""
    patch: dict[str, Any] = {key: None for key in (previous or {}) if key not in new}
    patch.update(new)
    return patch


def is_terminal(status: Mapping[str, Any] | None) -> bool:
    """Finished for good: Complete, Failed or Invalid (a restart must not reopen it)."""
    conditions = (status or {}).get("conditions") or []
    return any(cond.is_true(conditions, t) for t in (cond.COMPLETE, cond.FAILED, cond.INVALID))
