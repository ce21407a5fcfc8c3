"""The trainer Job of one batch of folds: a pure builder, plus reading a Job back.

Names are deterministic (run, run uid, batch, attempt), so a restarted operator recreates
exactly the Jobs it would have created and the API server answers 409 for those that exist.
The labels carry everything needed to find a run's Jobs with a server-side selector and to
know which batch and attempt each one is; the resubmission counters travel in annotations
on the newest attempt, so they survive an operator restart.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import EXIT_INVALID
from ..privacy import SALT_ENV
from ..spec import LOOCVRunSpec
from .crd import GROUP, KIND, VERSION

CONTAINER = "trainer"
TRAINER_COMMAND = ("loocv", "train")
TRAINER_UID = 10001
TMP_VOLUME = "tmp"

LABEL_RUN = "loocv.dev/run"
LABEL_RUN_UID = "loocv.dev/run-uid"
LABEL_BATCH = "loocv.dev/batch"
LABEL_ATTEMPT = "loocv.dev/attempt"
LABEL_QUEUE = "kueue.x-k8s.io/queue-name"
ANNOTATION_FOLDS = "loocv.dev/folds"
ANNOTATION_FAILURES = "loocv.dev/failures-before"
ANNOTATION_PREEMPTIONS = "loocv.dev/preemptions-before"
COMMON_LABELS = {
    "app.kubernetes.io/name": "loocv-trainer",
    "app.kubernetes.io/part-of": "loocv",
    "app.kubernetes.io/managed-by": "loocv-operator",
}
MAX_NAME = 63  # the Job controller copies the name into a label value on every pod


@dataclass(frozen=True)
class RunRef:
    """The LOOCVRun a Job belongs to."""

    name: str
    namespace: str
    uid: str


@dataclass(frozen=True)
class JobDefaults:
    """What the operator's settings add to every Job."""

    image: str
    allowlist_extra: tuple[str, ...] = ()
    s3_endpoint: str | None = None
    storage_secret: str | None = None  # used when the run names none
    tmp_size_limit: str = "1Gi"
    image_pull_policy: str = "IfNotPresent"
    # Requests and limits for a resource the manifest names neither a request nor a limit
    # for (so a manifest's 4Gi request never meets a default 2Gi limit): never BestEffort.
    default_requests: tuple[tuple[str, str], ...] = ()
    default_limits: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class JobOrder:
    """One Job to create: a batch, its attempt number and the counters it inherits."""

    batch: int
    attempt: int = 0
    failures_before: int = 0
    preemptions_before: int = 0
    folds: tuple[int, ...] = field(default=())


def selector(run: RunRef) -> str:
    """The server-side label selector for a run's Jobs and pods."""
    return f"{LABEL_RUN_UID}={run.uid}"


def _label_value(text: str) -> str:
    """A valid label value (≤63 chars, alphanumeric at both ends)."""
    value = re.sub(r"[^A-Za-z0-9._-]", "-", text)[:63]
    return value.strip("-_.")


def job_name(run: RunRef, batch: int, attempt: int) -> str:
    """``<run>-<uid hash>-b<batch>-r<attempt>``, at most 63 characters, a DNS label."""
    digest = hashlib.sha256(run.uid.encode()).hexdigest()[:5]
    suffix = f"-{digest}-b{batch}-r{attempt}"
    stem = re.sub(r"[^a-z0-9-]", "-", run.name.lower())[: MAX_NAME - len(suffix)].strip("-")
    return f"{stem}{suffix}" if stem else suffix.lstrip("-")


def fold_ranges(folds: Sequence[int]) -> str:
    """``0-24,30`` for humans reading the Job (the trainer reads the plan)."""
    parts: list[str] = []
    ordered = sorted(folds)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def owner_reference(run: RunRef) -> dict[str, Any]:
    """Deleting the run deletes its Jobs (and their pods) through the garbage collector."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": run.name,
        "uid": run.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _secret_env(name: str, secret: str, key: str, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def trainer_env(spec: LOOCVRunSpec, defaults: JobDefaults) -> list[dict[str, Any]]:
    """Credentials only from Secrets; the store endpoint and the admin's allowlist."""
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/tmp"},
        {"name": "TMPDIR", "value": "/tmp"},
        {"name": "MPLCONFIGDIR", "value": "/tmp/matplotlib"},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
    ]
    endpoint = spec.storage.endpoint or defaults.s3_endpoint
    if endpoint:
        env.append({"name": "LOOCV_S3_ENDPOINT", "value": endpoint})
    if spec.storage.region:
        env.append({"name": "AWS_REGION", "value": spec.storage.region})
    secret = spec.storage.secret_ref.name if spec.storage.secret_ref else defaults.storage_secret
    if secret:
        env += [
            _secret_env("AWS_ACCESS_KEY_ID", secret, "AWS_ACCESS_KEY_ID"),
            _secret_env("AWS_SECRET_ACCESS_KEY", secret, "AWS_SECRET_ACCESS_KEY"),
            _secret_env("AWS_SESSION_TOKEN", secret, "AWS_SESSION_TOKEN", optional=True),
        ]
    salt = spec.privacy.salt_secret_ref
    if spec.privacy.hash_sample_ids and salt is not None:
        env.append(_secret_env(SALT_ENV, salt.name, salt.key))
    if defaults.allowlist_extra:
        env.append(
            {"name": "LOOCV_ESTIMATOR_ALLOWLIST", "value": ",".join(defaults.allowlist_extra)}
        )
    return env


EXIT_KILLED = 137  # SIGKILL: what the kernel's OOM killer leaves (kubelet: OOMKilled)


def pod_failure_policy() -> dict[str, Any]:
    """Preemption and eviction are retried without counting against backoffLimit; the
    trainer's invalid-input exit code fails the Job at once (retrying cannot help); so does
    a SIGKILL (an OOM kill): the same pod at the same memory would die the same way, and the
    operator remediates it (kube/oom.py) instead of the Job controller's back-off."""
    return {
        "rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            {
                "action": "FailJob",
                "onExitCodes": {
                    "containerName": CONTAINER,
                    "operator": "In",
                    "values": [EXIT_INVALID],
                },
            },
            {
                "action": "FailJob",
                "onExitCodes": {
                    "containerName": CONTAINER,
                    "operator": "In",
                    "values": [EXIT_KILLED],
                },
            },
        ]
    }


def _resources(
    spec: LOOCVRunSpec, defaults: JobDefaults, memory: str | None = None
) -> dict[str, Any]:
    requests = dict(spec.execution.resources.requests or {})
    limits = dict(spec.execution.resources.limits or {})
    named = set(requests) | set(limits)
    requests.update((k, v) for k, v in defaults.default_requests if k not in named and v)
    limits.update((k, v) for k, v in defaults.default_limits if k not in named and v)
    if memory:  # raised after an OOM kill: the pod is known to need more than the old limit
        requests["memory"] = limits["memory"] = memory
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def build_job(
    run: RunRef,
    spec: LOOCVRunSpec,
    plan_uri: str,
    order: JobOrder,
    defaults: JobDefaults,
    suspend: bool = False,
    memory: str | None = None,
) -> dict[str, Any]:
    """The batch/v1 Job that runs ``loocv train --plan <plan_uri> --batch <n>``; ``memory``
    (the run's raised limit after an OOM kill, plan.json's ``oom.memory``) replaces the memory
    request and limit."""
    execution = spec.execution
    labels = {
        **COMMON_LABELS,
        LABEL_RUN: _label_value(run.name),
        LABEL_RUN_UID: run.uid,
        LABEL_BATCH: str(order.batch),
        LABEL_ATTEMPT: str(order.attempt),
    }
    job_labels = dict(labels)
    if execution.queue_name:
        job_labels[LABEL_QUEUE] = execution.queue_name
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": execution.image or defaults.image,
        "imagePullPolicy": defaults.image_pull_policy,
        "command": list(TRAINER_COMMAND),
        "args": ["--plan", plan_uri, "--batch", str(order.batch), "--attempt", str(order.attempt)],
        "env": trainer_env(spec, defaults),
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    resources = _resources(spec, defaults, memory)
    if resources:
        container["resources"] = resources
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": TRAINER_UID,
            "runAsGroup": TRAINER_UID,
            "fsGroup": TRAINER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": defaults.tmp_size_limit}}],
    }
    if execution.node_selector:
        pod_spec["nodeSelector"] = dict(execution.node_selector)
    if execution.tolerations:
        pod_spec["tolerations"] = [
            t.model_dump(mode="json", by_alias=True, exclude_none=True)
            for t in execution.tolerations
        ]
    if execution.priority_class_name:
        pod_spec["priorityClassName"] = execution.priority_class_name
    job_spec: dict[str, Any] = {
        "backoffLimit": execution.retries,
        "completions": 1,
        "parallelism": 1,
        "ttlSecondsAfterFinished": execution.ttl_seconds_after_finished,
        "podFailurePolicy": pod_failure_policy(),
        # Kueue admits a queued Job by unsuspending it: create it suspended, never resume it.
        "suspend": bool(suspend or execution.queue_name),
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    if execution.active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = execution.active_deadline_seconds
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(run, order.batch, order.attempt),
            "namespace": run.namespace,
            "labels": job_labels,
            "annotations": {
                ANNOTATION_FOLDS: fold_ranges(order.folds),
                ANNOTATION_FAILURES: str(order.failures_before),
                ANNOTATION_PREEMPTIONS: str(order.preemptions_before),
            },
            "ownerReferences": [owner_reference(run)],
        },
        "spec": job_spec,
    }


# ------------------------------------------------------------------------ reading Jobs back

FINISHED_SUCCEEDED = "Succeeded"
FINISHED_FAILED = "Failed"
FAILURE_INVALID_INPUT = "InvalidInput"  # the trainer's exit code 2 (podFailurePolicy FailJob)
FAILURE_DISRUPTED = "Disrupted"  # the last pod was preempted or evicted
FAILURE_ERROR = "Error"  # anything else: backoffLimit, deadline, …


@dataclass(frozen=True)
class ObservedJob:
    """A trainer Job as the reconciler needs it."""

    name: str
    batch: int
    attempt: int
    finished: str | None = None  # FINISHED_SUCCEEDED | FINISHED_FAILED | None (running/queued)
    failure: str | None = None  # FAILURE_* when finished == FINISHED_FAILED
    message: str = ""
    suspended: bool = False
    failures_before: int = 0
    preemptions_before: int = 0
    started: float | None = None  # status.startTime (set once the Job is unsuspended)
    completed: float | None = None  # status.completionTime (a succeeded Job only)
    memory_limit: str | None = None  # the trainer container's memory limit (OOM remediation)

    @property
    def wall_seconds(self) -> float | None:
        """From start to completion, as the Job controller stamped them (1 s resolution)."""
        if self.started is None or self.completed is None:
            return None
        return max(0.0, self.completed - self.started)


def _timestamp(value: Any) -> float | None:
    """An RFC 3339 time as the API server writes it, in epoch seconds; None if absent."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


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
    if LABEL_BATCH not in labels or LABEL_ATTEMPT not in labels:
        return None
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
    return ObservedJob(
        name=str(meta.get("name", "")),
        batch=batch,
        attempt=attempt,
        finished=finished,
        failure=failure,
        message=message,
        suspended=bool((job.get("spec") or {}).get("suspend")),
        failures_before=_int(annotations.get(ANNOTATION_FAILURES)),
        preemptions_before=_int(annotations.get(ANNOTATION_PREEMPTIONS)),
        started=_timestamp((job.get("status") or {}).get("startTime")),
        completed=_timestamp((job.get("status") or {}).get("completionTime")),
        memory_limit=_memory_limit(job),
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
    batch: int
    disrupted: bool  # failed with the DisruptionTarget condition (preempted, evicted)
    waiting: str | None  # why its container cannot start, e.g. CreateContainerConfigError
    unschedulable: str | None = None  # the scheduler's reason, while no node can take it
    # The trainer container's end when it failed: kubelet's reason (OOMKilled, Error), exit
    # code, and termination message (the trainer's last word, or its log tail).
    terminated: tuple[str, int, str] | None = None
    attempt: int = -1
    memory_limit: str | None = None  # the trainer container's (what an OOM kill hit)


def observe_pod(pod: Mapping[str, Any]) -> ObservedPod | None:
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    if LABEL_BATCH not in labels:
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
        disrupted=disrupted,
        waiting=waiting,
        unschedulable=unschedulable,
        terminated=terminated,
        attempt=_int(labels.get(LABEL_ATTEMPT), -1),
        memory_limit=_container_memory(pod.get("spec") or {}),
    )
