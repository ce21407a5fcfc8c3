"""A small Job controller and kubelet for the emulated cluster.

It plays what kube-controller-manager and a node would do with the operator's Jobs: for
each unsuspended Job it makes a Pod, runs the pod's container command as a real process
with the pod's environment (Secrets resolved from the API), and writes the Pod's and the
Job's status back: Complete, or a failure judged by the Job's own podFailurePolicy and
backoffLimit (a preempted pod with DisruptionTarget, an exit code matching FailJob, a
counted failure). Faults are injected per batch; everything else really runs.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from loocv_operator.kube.oom import memory_bytes

MERGE = "application/merge-patch+json"
KILLED = 137


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Fault:
    """What happens to the pods of a Job instead of (or before) running the trainer.

    ``preempt``: this many first pods of the batch are preempted (DisruptionTarget, exit
    137), whichever of its Jobs they belong to (``preempted`` counts them).
    ``kill``: every pod is killed (exit 137, e.g. OOM): a real failure.
    ``exit_code``: every pod exits with this code without running (2: invalid input).
    ``hold``: the Job stays active until released (the test decides when it ends).
    ``oom_below``: a pod whose memory limit is under this many bytes is OOM-killed (exit
    137, reason OOMKilled, as the kubelet reports it); with enough memory the trainer runs.
    """

    preempt: int = 0
    kill: bool = False
    exit_code: int | None = None
    hold: bool = False
    oom_below: int | None = None
    preempted: int = 0


@dataclass
class PodRun:
    name: str
    process: subprocess.Popen[bytes] | None
    log: Path | None
    started: float
    started_at: str = ""  # the container's startedAt, as a kubelet stamps it


@dataclass
class JobRecord:
    namespace: str
    name: str
    pods: int = 0
    counted_failures: int = 0
    running: PodRun | None = None
    finished: bool = False
    not_before: float = 0.0  # no new pod before (monotonic): the backoff after a pod ended


def trainer_argv(command: list[str], args: list[str]) -> list[str]:
    """The container's command, with the image's `loocv` being this venv's console script."""
    if command and command[0] == "loocv":
        script = shutil.which("loocv", path=str(Path(sys.executable).parent))
        head = [script] if script else [sys.executable, "-m", "loocv_operator.cli"]
        return [*head, *command[1:], *args]
    return [*command, *args]


def matching_rule(
    policy: Mapping[str, Any] | None, exit_code: int, conditions: list[str], container: str
) -> str | None:
    """The action of the first podFailurePolicy rule that matches (None: no rule)."""
    for rule in (policy or {}).get("rules") or []:
        on_conditions = rule.get("onPodConditions")
        if on_conditions and any(c.get("type") in conditions for c in on_conditions):
            return str(rule["action"])
        on_codes = rule.get("onExitCodes")
        if on_codes and on_codes.get("containerName", container) == container:
            values = on_codes.get("values") or []
            hit = exit_code in values
            if (on_codes.get("operator") == "In") == hit:
                return str(rule["action"])
    return None


def _rule_index(
    policy: Mapping[str, Any] | None, exit_code: int, conditions: list[str], container: str
) -> int:
    """The index of the first matching rule, as the Job controller's message names it."""
    rules = list((policy or {}).get("rules") or [])
    for i in range(len(rules)):
        if matching_rule({"rules": [rules[i]]}, exit_code, conditions, container):
            return i
    return -1


@dataclass
class JobController:
    api: k8s.ApiClient
    workdir: Path
    faults: Callable[[Mapping[str, Any]], Fault | None] = lambda job: None
    poll: float = 0.15
    # The real Job controller waits 10 s before replacing even a pod its podFailurePolicy
    # ignores (kubernetes#130881); the operator resubmits such a batch instead.
    ignored_backoff: float = 10.0
    extra_env: dict[str, str] = field(default_factory=dict)
    records: dict[tuple[str, str], JobRecord] = field(default_factory=dict)
    released: set[str] = field(default_factory=set)
    processes_started: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.batch = k8s.BatchV1Api(self.api)
        self.core = k8s.CoreV1Api(self.api)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> JobController:
        self._thread = threading.Thread(target=self._loop, name="job-controller", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        for record in self.records.values():
            run = record.running
            if run is not None and run.process is not None and run.process.poll() is None:
                run.process.send_signal(signal.SIGKILL)
                run.process.wait(10)

    def release(self, job_name: str) -> None:
        self.released.add(job_name)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._pass()
            except Exception as exc:  # keep driving; the test reads the errors
                self.errors.append(repr(exc))
            self._stop.wait(self.poll)

    # ------------------------------------------------------------------ one pass
    def _pass(self) -> None:
        response = self.batch.list_job_for_all_namespaces(_preload_content=False)
        listed: set[tuple[str, str]] = set()
        for job in json.loads(response.data).get("items") or []:
            meta = job["metadata"]
            key = (meta["namespace"], meta["name"])
            listed.add(key)
            record = self.records.setdefault(key, JobRecord(*key))
            if record.finished:
                continue
            if job["spec"].get("suspend"):
                if record.running is not None:
                    self._stop_pod(record, job)
                continue
            if record.running is None:
                if time.monotonic() >= record.not_before:
                    self._start_pod(record, job)
            else:
                self._check_pod(record, job)
        for key, record in self.records.items():
            if key not in listed and not record.finished:
                self._collect_garbage(record)

    def _collect_garbage(self, record: JobRecord) -> None:
        """A deleted Job (propagation Background): the garbage collector deletes its pods."""
        record.finished = True
        run = record.running
        if run is not None and run.process is not None and run.process.poll() is None:
            run.process.send_signal(signal.SIGTERM)
            run.process.wait(30)
        record.running = None
        for n in range(record.pods):
            try:
                self.core.delete_namespaced_pod(
                    f"{record.name}-{n}", record.namespace, _preload_content=False
                )
            except k8s.ApiException as exc:
                if exc.status != 404:
                    raise

    def _pod_body(self, record: JobRecord, job: Mapping[str, Any], name: str) -> dict[str, Any]:
        template = job["spec"]["template"]
        labels = dict(template["metadata"].get("labels") or {})
        labels["batch.kubernetes.io/job-name"] = record.name
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": record.namespace, "labels": labels},
            "spec": template["spec"],
            "status": {
                "phase": "Running",
                "startTime": _now(),
                # what the operator's usage accounting reads (kube/usage.py)
                "containerStatuses": [
                    {"name": "trainer", "state": {"running": {"startedAt": _now()}}}
                ],
            },
        }

    def _start_pod(self, record: JobRecord, job: Mapping[str, Any]) -> None:
        name = f"{record.name}-{record.pods}"
        record.pods += 1
        self.core.create_namespaced_pod(
            record.namespace, self._pod_body(record, job, name), _preload_content=False
        )
        self._patch_job_status(record, {"active": 1, "startTime": _now(), "ready": 1})
        record.running = PodRun(name, None, None, time.monotonic(), _now())

    def _simulated(self, record: JobRecord, fault: Fault | None) -> tuple[int, list[str]] | None:
        """The outcome of the current pod when a fault replaces the trainer, else None."""
        if fault is None:
            return None
        if fault.preempt > fault.preempted:
            fault.preempted += 1
            return KILLED, ["DisruptionTarget"]
        if fault.kill:
            return KILLED, []
        if fault.exit_code is not None:
            return fault.exit_code, []
        return None

    @staticmethod
    def _oom_killed(job: Mapping[str, Any], fault: Fault | None) -> bool:
        if fault is None or fault.oom_below is None:
            return False
        container = job["spec"]["template"]["spec"]["containers"][0]
        limit = memory_bytes(((container.get("resources") or {}).get("limits") or {}).get("memory"))
        return limit is None or limit < fault.oom_below

    def _run_trainer(self, record: JobRecord, job: Mapping[str, Any], run: PodRun) -> None:
        container = job["spec"]["template"]["spec"]["containers"][0]
        env = {**self._env(record.namespace, container.get("env") or []), **self.extra_env}
        run.log = self.workdir / f"{run.name}.log"
        argv = trainer_argv(container.get("command") or [], container.get("args") or [])
        with open(run.log, "wb") as out:
            run.process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.processes_started += 1

    def _env(self, namespace: str, env: list[Mapping[str, Any]]) -> dict[str, str]:
        out = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
        for item in env:
            if "value" in item:
                out[item["name"]] = str(item["value"])
                continue
            ref = (item.get("valueFrom") or {}).get("secretKeyRef")
            if ref is None:
                continue
            try:
                secret = self.core.read_namespaced_secret(ref["name"], namespace)
            except k8s.ApiException:
                if ref.get("optional"):
                    continue
                raise
            data = dict(secret.string_data or {})
            data.update({k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()})
            if ref["key"] in data:
                out[item["name"]] = data[ref["key"]]
            elif not ref.get("optional"):
                raise KeyError(f"secret {ref['name']} has no key {ref['key']}")
        return out

    def _check_pod(self, record: JobRecord, job: Mapping[str, Any]) -> None:
        run = record.running
        assert run is not None
        fault = self.faults(job)
        simulated = self._simulated(record, fault)
        if simulated is not None:
            self._finish_pod(record, job, *simulated)
            return
        if self._oom_killed(job, fault):
            self._finish_pod(record, job, KILLED, [], reason="OOMKilled")
            return
        if run.process is None:
            if fault is None or not fault.hold or record.name in self.released:
                self._run_trainer(record, job, run)
            return
        exit_code = run.process.poll()
        if exit_code is not None:
            self._finish_pod(record, job, exit_code, [])

    def _finish_pod(
        self,
        record: JobRecord,
        job: Mapping[str, Any],
        exit_code: int,
        conditions: list[str],
        reason: str | None = None,
    ) -> None:
        run = record.running
        assert run is not None
        record.running = None
        phase = "Succeeded" if exit_code == 0 else "Failed"
        terminated: dict[str, Any] = {
            "exitCode": exit_code,
            "reason": reason or ("Completed" if exit_code == 0 else "Error"),
            # what the operator's usage accounting reads (kube/usage.py)
            "startedAt": run.started_at,
            "finishedAt": _now(),
        }
        message = self._termination_message(job, run, exit_code)
        if message:
            terminated["message"] = message
        pod_conditions = [
            {
                "type": c,
                "status": "True",
                "reason": "PreemptionByScheduler",
                "lastTransitionTime": _now(),
            }
            for c in conditions
        ]
        self.core.patch_namespaced_pod_status(
            run.name,
            record.namespace,
            {
                "status": {
                    "phase": phase,
                    "conditions": pod_conditions,
                    "containerStatuses": [
                        {
                            "name": "trainer",
                            "state": {"terminated": terminated},
                        }
                    ],
                }
            },
            _content_type=MERGE,
            _preload_content=False,
        )
        spec = job["spec"]
        if exit_code == 0:
            self._patch_job_status(
                record,
                {
                    "active": 0,
                    "ready": 0,
                    "succeeded": 1,
                    "completionTime": _now(),
                    "conditions": [
                        {
                            "type": "SuccessCriteriaMet",
                            "status": "True",
                            "lastTransitionTime": _now(),
                        },
                        {"type": "Complete", "status": "True", "lastTransitionTime": _now()},
                    ],
                },
            )
            record.finished = True
            return
        action = matching_rule(spec.get("podFailurePolicy"), exit_code, conditions, "trainer")
        if action == "Ignore":
            self._patch_job_status(record, {"active": 0, "ready": 0})
            record.not_before = time.monotonic() + self.ignored_backoff
            return  # not counted, but a new pod only after the backoff
        if action == "FailJob":
            index = _rule_index(spec.get("podFailurePolicy"), exit_code, conditions, "trainer")
            self._fail(
                record,
                "PodFailurePolicy",
                f"Container trainer for pod {record.namespace}/{run.name} failed with "
                f"exit code {exit_code} matching FailJob rule at index {index}",
            )
            return
        record.counted_failures += 1
        if record.counted_failures > int(spec.get("backoffLimit", 6)):
            self._fail(
                record, "BackoffLimitExceeded", "Job has reached the specified backoff limit"
            )
        else:
            self._patch_job_status(
                record, {"active": 0, "ready": 0, "failed": record.counted_failures}
            )

    @staticmethod
    def _termination_message(job: Mapping[str, Any], run: PodRun, exit_code: int) -> str:
        """As the kubelet does with terminationMessagePolicy FallbackToLogsOnError: a failed
        container's log tail (the last 80 lines, at most 2048 bytes) when it wrote no
        termination message (no /dev/termination-log here)."""
        container = job["spec"]["template"]["spec"]["containers"][0]
        policy = container.get("terminationMessagePolicy")
        if exit_code == 0 or policy != "FallbackToLogsOnError" or run.log is None:
            return ""
        try:
            lines = run.log.read_bytes().splitlines()[-80:]
        except OSError:
            return ""
        return b"\n".join(lines)[-2048:].decode(errors="replace")

    def _fail(self, record: JobRecord, reason: str, message: str) -> None:
        self._patch_job_status(
            record,
            {
                "active": 0,
                "ready": 0,
                "failed": record.counted_failures or 1,
                "conditions": [
                    {
                        "type": "FailureTarget",
                        "status": "True",
                        "reason": reason,
                        "message": message,
                        "lastTransitionTime": _now(),
                    },
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": reason,
                        "message": message,
                        "lastTransitionTime": _now(),
                    },
                ],
            },
        )
        record.finished = True

    def _stop_pod(self, record: JobRecord, job: Mapping[str, Any]) -> None:
        """Suspending a Job deletes its active pod; it is not a failure."""
        run = record.running
        assert run is not None
        if run.process is not None and run.process.poll() is None:
            run.process.send_signal(signal.SIGTERM)
            run.process.wait(30)
        record.running = None
        self._patch_job_status(
            record,
            {
                "active": 0,
                "ready": 0,
                "conditions": [
                    {"type": "Suspended", "status": "True", "lastTransitionTime": _now()}
                ],
            },
        )

    def _patch_job_status(self, record: JobRecord, status: Mapping[str, Any]) -> None:
        self.batch.patch_namespaced_job_status(
            record.name,
            record.namespace,
            {"status": dict(status)},
            _content_type=MERGE,
            _preload_content=False,
        )
