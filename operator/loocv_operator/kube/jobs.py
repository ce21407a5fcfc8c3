"""The run's Jobs, pure builders: three kinds, one pod template, the trainer image.

* the **planner** (``loocv plan --spec …/spec.json``): reads the data, builds the estimator,
  checks both and writes plan.json — once per run;
* a **trainer** per batch of folds and attempt (``loocv train --plan … --batch N``): writes
  the batch's folds as segments;
* the **report** (``loocv finish --plan …``): aggregates the segments and writes report.json,
  predictions.csv and report.html — once, when every fold has a result.

All three run as the same non-root, read-only, token-less pod with the run's resources,
credentials (from Secrets) and scheduling fields: the operator itself never reads user data.
Names are deterministic (run, run uid, step or batch, attempt), so a restarted operator
recreates exactly the Jobs it would have created and the API server answers 409 for those
that exist. The labels carry everything needed to find a run's Jobs with a server-side
selector and to know which step, batch and attempt each one is; the resubmission counters
travel in annotations on the newest attempt, so they survive an operator restart.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import EXIT_INVALID
from ..privacy import SALT_ENV
from ..spec import LOOCVRunSpec
from ..store import RunLocation
from .crd import GROUP, KIND, VERSION

CONTAINER = "trainer"
TRAINER_COMMAND = ("loocv", "train")
PLANNER_COMMAND = ("loocv", "plan")
REPORT_COMMAND = ("loocv", "finish")
STEP_PLAN, STEP_TRAIN, STEP_REPORT = "plan", "train", "report"
TRAINER_UID = 10001
TMP_VOLUME = "tmp"

LABEL_RUN = "loocv.dev/run"
LABEL_RUN_UID = "loocv.dev/run-uid"
LABEL_BATCH = "loocv.dev/batch"
LABEL_ATTEMPT = "loocv.dev/attempt"
LABEL_STEP = "loocv.dev/step"
LABEL_QUEUE = "kueue.x-k8s.io/queue-name"
ANNOTATION_FOLDS = "loocv.dev/folds"
ANNOTATION_FAILURES = "loocv.dev/failures-before"
ANNOTATION_PREEMPTIONS = "loocv.dev/preemptions-before"
ANNOTATION_REPLACES = "loocv.dev/replaces-disrupted"  # pods this batch was resubmitted for
COMMON_LABELS = {
    "app.kubernetes.io/name": "loocv-trainer",
    "app.kubernetes.io/part-of": "loocv",
    "app.kubernetes.io/managed-by": "loocv-operator",
}
MAX_NAME = 63  # the Job controller copies the name into a label value on every pod


@dataclass(frozen=True)
class JobDefaults:
    """What the operator's settings add to every Job."""

    image: str
    allowlist_extra: tuple[str, ...] = ()
    s3_endpoint: str | None = None
    s3_addressing_style: str | None = None  # the operator's, passed on to trainer pods
    storage_secret: str | None = None  # used when the run names none
    mlflow_secret: str | None = None  # the report pod's MLflow credentials, if the run names none
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
    replaces: tuple[str, ...] = ()  # disrupted pods of earlier attempts (kube/disruption.py)


def selector(run: RunLocation) -> str:
    """The server-side label selector for a run's Jobs and pods."""
    return f"{LABEL_RUN_UID}={run.uid}"


def _label_value(text: str) -> str:
    """A valid label value (≤63 chars, alphanumeric at both ends)."""
    value = re.sub(r"[^A-Za-z0-9._-]", "-", text)[:63]
    return value.strip("-_.")


def job_name(run: RunLocation, batch: int, attempt: int, step: str = STEP_TRAIN) -> str:
    """``<run>-<uid hash>-b<batch>-r<attempt>`` (a trainer), ``<run>-<uid hash>-plan`` or
    ``-report`` (``-report-r<attempt>`` for a report over part of the folds: a run its
    budget stopped); at most 63 characters, a DNS label."""
    digest = hashlib.sha256(run.uid.encode()).hexdigest()[:5]
    suffix = f"-{digest}-b{batch}-r{attempt}" if step == STEP_TRAIN else f"-{digest}-{step}"
    if step != STEP_TRAIN and attempt:
        suffix += f"-r{attempt}"
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


def owner_reference(run: RunLocation) -> dict[str, Any]:
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


# What MLflow's client reads for credentials; each optional, so a Secret holds a token or a
# username and password. Only the report pod logs to MLflow, so only it gets them.
MLFLOW_CREDENTIALS = (
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
)


def mlflow_env(spec: LOOCVRunSpec, defaults: JobDefaults) -> list[dict[str, Any]]:
    """The report pod's MLflow credentials: the run's secretRef, else the operator's default
    Secret, read by the kubelet (the operator never reads a Secret)."""
    mlflow = spec.tracking.mlflow if spec.tracking else None
    if mlflow is None:
        return []
    secret = mlflow.secret_ref.name if mlflow.secret_ref else defaults.mlflow_secret
    if not secret:
        return []
    return [_secret_env(name, secret, name, optional=True) for name in MLFLOW_CREDENTIALS]


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
    if defaults.s3_addressing_style:
        env.append({"name": "LOOCV_S3_ADDRESSING_STYLE", "value": defaults.s3_addressing_style})
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


# What the planner and report pods keep of the run's resources: they load the data, so they
# need its CPU and memory, but never hold a GPU (or any device) the trainers are waiting for.
STEP_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})


def _resources(
    spec: LOOCVRunSpec, defaults: JobDefaults, step: str, memory: str | None = None
) -> dict[str, Any]:
    requests = dict(spec.execution.resources.requests or {})
    limits = dict(spec.execution.resources.limits or {})
    if step != STEP_TRAIN:
        requests = {k: v for k, v in requests.items() if k in STEP_RESOURCES}
        limits = {k: v for k, v in limits.items() if k in STEP_RESOURCES}
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
    run: RunLocation,
    spec: LOOCVRunSpec,
    plan_uri: str,
    order: JobOrder,
    defaults: JobDefaults,
    suspend: bool = False,
    memory: str | None = None,
) -> dict[str, Any]:
    """The trainer Job that runs ``loocv train --plan <plan_uri> --batch <n>``; ``memory``
    (the run's raised limit after an OOM kill, plan.json's ``oom.memory``) replaces the memory
    request and limit."""
    return _job(
        run,
        spec,
        defaults,
        name=job_name(run, order.batch, order.attempt),
        labels={
            LABEL_STEP: STEP_TRAIN,
            LABEL_BATCH: str(order.batch),
            LABEL_ATTEMPT: str(order.attempt),
        },
        command=TRAINER_COMMAND,
        args=["--plan", plan_uri, "--batch", str(order.batch), "--attempt", str(order.attempt)],
        annotations={
            ANNOTATION_FOLDS: fold_ranges(order.folds),
            ANNOTATION_FAILURES: str(order.failures_before),
            ANNOTATION_PREEMPTIONS: str(order.preemptions_before),
            **({ANNOTATION_REPLACES: ",".join(order.replaces)} if order.replaces else {}),
        },
        suspend=suspend,
        memory=memory,
    )


def build_step_job(
    run: RunLocation,
    spec: LOOCVRunSpec,
    step: str,
    uri: str,
    defaults: JobDefaults,
    suspend: bool = False,
    attempt: int = 0,
) -> dict[str, Any]:
    """The planner Job (``step`` plan, ``uri`` the run's spec.json) or the report Job
    (``step`` report, ``uri`` its plan.json): same pod as a trainer's, its own command.
    ``attempt`` > 0: a report Job of its own name over the folds computed so far."""
    command, flag = (PLANNER_COMMAND, "--spec") if step == STEP_PLAN else (REPORT_COMMAND, "--plan")
    return _job(
        run,
        spec,
        defaults,
        name=job_name(run, -1, attempt, step),
        labels={LABEL_STEP: step, LABEL_ATTEMPT: str(attempt)},
        command=command,
        args=[flag, uri],
        annotations={},
        suspend=suspend,
    )


def _job(
    run: RunLocation,
    spec: LOOCVRunSpec,
    defaults: JobDefaults,
    name: str,
    labels: Mapping[str, str],
    command: Sequence[str],
    args: list[str],
    annotations: Mapping[str, str],
    suspend: bool,
    memory: str | None = None,
) -> dict[str, Any]:
    execution = spec.execution
    labels = {
        **COMMON_LABELS,
        LABEL_RUN: _label_value(run.name),
        LABEL_RUN_UID: run.uid,
        **labels,
    }
    job_labels = dict(labels)
    if execution.queue_name:
        job_labels[LABEL_QUEUE] = execution.queue_name
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": execution.image or defaults.image,
        "imagePullPolicy": defaults.image_pull_policy,
        "command": list(command),
        "args": args,
        "env": trainer_env(spec, defaults)
        + (mlflow_env(spec, defaults) if labels.get(LABEL_STEP) == STEP_REPORT else []),
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
    resources = _resources(spec, defaults, labels.get(LABEL_STEP, STEP_TRAIN), memory)
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
            "name": name,
            "namespace": run.namespace,
            "labels": job_labels,
            "annotations": dict(annotations),
            "ownerReferences": [owner_reference(run)],
        },
        "spec": job_spec,
    }
