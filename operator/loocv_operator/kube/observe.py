"""Reading the run's Jobs and pods back from the API server: what the service observes.

Pure functions of the listed objects. A Job's step (planner, trainer, report) comes from its
``loocv.dev/step`` label (a trainer Job of an older operator has none: its batch label says
it is one); its batch, attempt and resubmission counters from its labels and annotations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .jobs import (
    ANNOTATION_FAILURES,
    ANNOTATION_PREEMPTIONS,
    ANNOTATION_REPLACES,
    CONTAINER,
    EXIT_KILLED,
    LABEL_ATTEMPT,
    LABEL_BATCH,
    LABEL_STEP,
    STEP_PLAN,
    STEP_REPORT,
    STEP_TRAIN,
)
from .usage import PodUsage, api_time, pod_usage

FINISHED_SUCCEEDED = "Succeeded"
FINISHED_FAILED = "Failed"
FAILURE_INVALID_INPUT = "InvalidInput"  # the trainer's exit code 2 (podFailurePolicy FailJob)
FAILURE_DISRUPTED = "Disrupted"  # the last pod was preempted or evicted
FAILURE_ERROR = "Error"  # anything else: backoffLimit, deadline, …


@dataclass(frozen=True)
class ObservedJob:
    """A Job of the run as the reconciler needs it (a planner or report Job has batch -1)."""

    name: str
    batch: int
    attempt: int
    step: str = STEP_TRAIN
    finished: str | None = None  # FINISHED_SUCCEEDED | FINISHED_FAILED | None (running/queued)
    failure: str | None = None  # FAILURE_* when finished == FINISHED_FAILED
    message: str = ""
    suspended: bool = False
    failures_before: int = 0
    preemptions_before: int = 0
    started: float | None = None  # status.startTime (set once the Job is unsuspended)
    completed: float | None = None  # status.completionTime (a succeeded Job only)
    memory_limit: str | None = None  # the trainer container's memory limit (OOM remediation)
    # Unfinished, unsuspended, status.active 0: no pod running or pending (before its first
    # pod, or waiting for a replacement: kube/disruption.py); ``terminating`` pods stopping.
    between_pods: bool = False
    terminating: int = 0
    replaces: tuple[str, ...] = ()  # disrupted pods it was resubmitted for (counted by it)

    @property
    def wall_seconds(self) -> float | None:
        """From start to completion, as the Job controller stamped them (1 s resolution)."""
        if self.started is None or self.completed is None:
            return None
        return max(0.0, self.completed - self.started)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _true_condition(job: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_ and c.get("status") == "True":
            return dict(c)
    return None


def observe_job(job: Mapping[str, Any]) -> ObservedJob | None:
    """Read a Job dict; None for a Job that is not one of ours (labels missing)."""
    meta = job.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    step = str(labels.get(LABEL_STEP) or STEP_TRAIN)
    if step in (STEP_PLAN, STEP_REPORT):
        batch, attempt = -1, _int(labels.get(LABEL_ATTEMPT), 0)
    elif LABEL_BATCH not in labels or LABEL_ATTEMPT not in labels:
        return None
    else:
        batch, attempt = _int(labels[LABEL_BATCH], -1), _int(labels[LABEL_ATTEMPT], -1)
        if batch < 0 or attempt < 0:
            return None
    finished = failure = None
    message = ""
    failed = _true_condition(job, "Failed")
    complete = _true_condition(job, "Complete")
    if complete is not None:
        finished = FINISHED_SUCCEEDED
    elif failed is not None:
        finished = FINISHED_FAILED
        reason = str(failed.get("reason") or "")
        message = f"{reason}: {failed.get('message') or ''}".strip(": ")
        said = str(failed.get("message") or "")
        if reason == "PodFailurePolicy" and "FailJob" in said and not _killed(said):
            failure = FAILURE_INVALID_INPUT
        elif reason == "DisruptionTarget" or _true_condition(job, "DisruptionTarget"):
            failure = FAILURE_DISRUPTED
        else:
            failure = FAILURE_ERROR
    status = job.get("status") or {}
    suspended = bool((job.get("spec") or {}).get("suspend"))
    replaces = str(annotations.get(ANNOTATION_REPLACES) or "")
    return ObservedJob(
        name=str(meta.get("name", "")),
        batch=batch,
        attempt=attempt,
        step=step,
        finished=finished,
        failure=failure,
        message=message,
        suspended=suspended,
        failures_before=_int(annotations.get(ANNOTATION_FAILURES)),
        preemptions_before=_int(annotations.get(ANNOTATION_PREEMPTIONS)),
        started=api_time(status.get("startTime")),
        completed=api_time(status.get("completionTime")),
        memory_limit=_memory_limit(job),
        between_pods=finished is None and not suspended and not _int(status.get("active")),
        terminating=_int(status.get("terminating")),
        replaces=tuple(p for p in replaces.split(",") if p),
    )


def _killed(message: str) -> bool:
    """The Job controller's message names the exit code that matched the FailJob rule."""
    return f"exit code {EXIT_KILLED}" in message


def _memory_limit(job: Mapping[str, Any]) -> str | None:
    return _container_memory(((job.get("spec") or {}).get("template") or {}).get("spec") or {})


def _container_memory(pod_spec: Mapping[str, Any]) -> str | None:
    """The trainer container's memory limit in a pod spec."""
    for container in pod_spec.get("containers") or []:
        if container.get("name") == CONTAINER:
            limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
            return None if limit is None else str(limit)
    return None


@dataclass(frozen=True)
class ObservedPod:
    name: str
    batch: int  # -1 for a planner or report pod
    disrupted: bool  # failed with the DisruptionTarget condition (preempted, evicted)
    waiting: str | None  # why its container cannot start, e.g. CreateContainerConfigError
    unschedulable: str | None = None  # the scheduler's reason, while no node can take it
    # The trainer container's end when it failed: kubelet's reason (OOMKilled, Error), exit
    # code, and termination message (the trainer's last word, or its log tail).
    terminated: tuple[str, int, str] | None = None
    step: str = STEP_TRAIN
    attempt: int = -1
    memory_limit: str | None = None  # the trainer container's (what an OOM kill hit)
    # A trainer pod's requests and container start/finish times, for the pod ledger
    # (kube/accounting.py; ``seen`` is stamped when the ledger records it).
    usage: PodUsage | None = None
    phase: str = ""  # Pending, Running, Succeeded, Failed ("" when not reported yet)

    @property
    def ended(self) -> bool:
        return self.phase in ("Succeeded", "Failed")


def observe_pod(pod: Mapping[str, Any]) -> ObservedPod | None:
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    step = str(labels.get(LABEL_STEP) or STEP_TRAIN)
    if LABEL_BATCH not in labels and step == STEP_TRAIN:
        return None
    status = pod.get("status") or {}
    disrupted = any(
        c.get("type") == "DisruptionTarget" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    waiting = None
    for container in status.get("containerStatuses") or []:
        state = (container.get("state") or {}).get("waiting") or {}
        reason = state.get("reason")
        if reason and reason not in ("ContainerCreating", "PodInitializing"):
            waiting = f"{reason}: {state.get('message') or ''}".strip(": ")
    unschedulable = next(
        (
            str(c.get("message") or "no node fits the pod")
            for c in status.get("conditions") or []
            if c.get("type") == "PodScheduled"
            and c.get("status") == "False"
            and c.get("reason") == "Unschedulable"
        ),
        None,
    )
    terminated = None
    for container in status.get("containerStatuses") or []:
        end = (container.get("state") or {}).get("terminated") or {}
        if end and _int(end.get("exitCode")) != 0:
            terminated = (
                str(end.get("reason") or "Error"),
                _int(end.get("exitCode")),
                str(end.get("message") or "").strip(),
            )
    return ObservedPod(
        name=str(meta.get("name", "")),
        batch=_int(labels.get(LABEL_BATCH), -1),
        step=step,
        disrupted=disrupted,
        waiting=waiting,
        unschedulable=unschedulable,
        terminated=terminated,
        attempt=_int(labels.get(LABEL_ATTEMPT), -1),
        memory_limit=_container_memory(pod.get("spec") or {}),
        usage=pod_usage(pod, 0.0) if step == STEP_TRAIN else None,
        phase=str(status.get("phase") or ""),
    )
