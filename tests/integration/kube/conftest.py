"""Tier 2 fixtures: the emulated API server, the test Job controller, the operator process.

The operator runs exactly as in a cluster (``python -m loocv_operator.kube.main``), as a
subprocess with a kubeconfig pointing at the emulator; so stopping it (SIGKILL) and
starting it again is a real operator restart. Trainer pods are real ``loocv train``
processes started by the Job controller with the Job's command and environment.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from .apiserver import Cluster, Entry
from .jobcontroller import Fault, JobController

pytestmark = pytest.mark.integration
GROUP, VERSION, PLURAL = "loocv.dev", "v1alpha1", "loocvruns"
SECRET = "s3-creds"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    emulated = Cluster().start()
    yield emulated
    emulated.stop()


@pytest.fixture
def api(cluster: Cluster) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    configuration.host = cluster.url
    return k8s.ApiClient(configuration)


@pytest.fixture
def kubeconfig(cluster: Cluster, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "kmock", "cluster": {"server": cluster.url}}],
                "users": [{"name": "test", "user": {"token": "test"}}],
                "contexts": [{"name": "test", "context": {"cluster": "kmock", "user": "test"}}],
                "current-context": "test",
            }
        )
    )
    return path


# Runs the operator as `python -m loocv_operator.kube.main` does, and at exit writes the
# names of every module it imported to the file given first (test_thin_operator.py).
MODULE_RECORDER = """
import atexit, json, runpy, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
runpy.run_module("loocv_operator.kube.main", run_name="__main__", alter_sys=True)
"""


@dataclass
class OperatorProcess:
    args: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    command: tuple[str, ...] = ("-m", "loocv_operator.kube.main")

    def start(self) -> OperatorProcess:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, *self.command, *self.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def kill(self) -> None:
        """As a node failure or OOM would: no cleanup, no goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def s3_prefix(s3_bucket: str) -> str:
    return f"{s3_bucket}/runs/"


@pytest.fixture
def operator(
    kubeconfig: Path, s3_env: str, s3_prefix: str, tmp_path: Path
) -> Iterator[Callable[..., OperatorProcess]]:
    started: list[OperatorProcess] = []

    def start(
        *extra: str, interval: float = 0.5, record_modules: Path | None = None
    ) -> OperatorProcess:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "HOME": str(tmp_path),
            "KUBECONFIG": str(kubeconfig),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
        }
        args = [
            "--status-interval",
            str(interval),
            "--metrics-port",
            "0",
            "--liveness",
            "none",
            "--storage-uri",
            s3_prefix,
            "--s3-endpoint",
            s3_env,
            "--storage-secret",
            SECRET,
            "--max-resubmits",
            "1",
            "--workers",
            "2",
            *extra,
        ]
        command: tuple[str, ...] = ("-m", "loocv_operator.kube.main")
        if record_modules is not None:
            command = ("-c", MODULE_RECORDER, str(record_modules))
        process = OperatorProcess(args, env, tmp_path / "operator.log", command=command).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def faults() -> dict[int, Fault]:
    """Batch number -> what its pods suffer (set by a test before the Jobs appear)."""
    return {}


@pytest.fixture
def controller(
    api: k8s.ApiClient, tmp_path: Path, faults: dict[int, Fault]
) -> Iterator[JobController]:
    def fault_of(job: Mapping[str, Any]) -> Fault | None:
        batch = job["metadata"]["labels"].get("loocv.dev/batch")  # none: the planner, the report
        return None if batch is None else faults.get(int(batch))

    pods = tmp_path / "pods"
    pods.mkdir()
    driver = JobController(api, pods, faults=fault_of).start()
    yield driver
    driver.stop()
    assert not driver.errors, driver.errors


@pytest.fixture
def namespace(api: k8s.ApiClient, request: pytest.FixtureRequest) -> str:
    """A namespace with the store credentials Secret the Jobs reference."""
    name = request.node.name.lower().replace("_", "-")[:40].strip("-")
    k8s.CoreV1Api(api).create_namespaced_secret(
        name,
        {
            "metadata": {"name": SECRET, "namespace": name},
            "stringData": {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
        },
        _preload_content=False,
    )
    return name


# ---------------------------------------------------------------------- helpers


def manifest(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "LOOCVRun",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def create_run(api: k8s.ApiClient, document: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = k8s.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, document["metadata"]["namespace"], PLURAL, document
    )
    return created


def get_run(api: k8s.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    run: dict[str, Any] = k8s.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )
    return run


def condition(run: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for c in (run.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def wait_for(
    what: str,
    check: Callable[[], Any],
    timeout: float = 60.0,
    operator: OperatorProcess | None = None,
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        process = operator.process if operator is not None else None
        if process is not None and process.poll() is not None:
            assert operator is not None
            pytest.fail(f"the operator exited while waiting for {what}:\n{operator.output()}")
        time.sleep(0.2)
    tail = operator.output()[-6000:] if operator is not None else ""
    pytest.fail(f"timed out waiting for {what}\n{tail}")


def wait_condition(
    api: k8s.ApiClient,
    namespace: str,
    name: str,
    type_: str,
    operator: OperatorProcess,
    timeout: float = 240.0,  # a run is three pods in a row: planner, trainers, report
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        run = get_run(api, namespace, name)
        found = condition(run, type_)
        return run if found is not None and found.get("status") == "True" else None

    result: dict[str, Any] = wait_for(f"{namespace}/{name} {type_}", check, timeout, operator)
    return result


TRAINER_JOB = re.compile(r"-b\d+-r\d+$")  # <run>-<uid>-b<batch>-r<attempt>; else -plan, -report


def job_creations(log: list[Entry], namespace: str, step: str | None = "train") -> list[Entry]:
    """The Jobs created in ``namespace``: the trainers (``step`` "train"), or every Job of
    the runs — planner, trainers, report — (``step`` None)."""
    return [
        e
        for e in log
        if e.resource == "jobs"
        and e.action == "CREATE"
        and e.namespace == namespace
        and (step is None or (step == "train") == bool(TRAINER_JOB.search(e.name or "")))
    ]


def max_active_jobs(log: list[Entry], namespace: str) -> int:
    """Replay the API log: trainer Jobs created minus those the Job controller marked
    finished (the window maxConcurrentJobs bounds)."""
    active = peak = 0
    finished: set[str] = set()
    for entry in log:
        if entry.namespace != namespace or entry.resource != "jobs" or entry.status >= 300:
            continue
        if not TRAINER_JOB.search(entry.name or ""):
            continue
        if entry.action == "CREATE":
            active += 1
        elif entry.action == "UPDATE" and entry.subresource == "status" and entry.name:
            conditions = ((entry.data or {}).get("status") or {}).get("conditions") or []
            if entry.name not in finished and any(
                c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                for c in conditions
            ):
                finished.add(entry.name)
                active -= 1
        peak = max(peak, active)
    return peak


def status_patches(log: list[Entry], namespace: str, name: str) -> list[Entry]:
    return [
        e
        for e in log
        if e.resource == PLURAL
        and e.subresource == "status"
        and e.namespace == namespace
        and e.name == name
        and e.action == "UPDATE"
    ]


def events(log: list[Entry], namespace: str) -> list[dict[str, Any]]:
    return [
        e.data
        for e in log
        if e.resource == "events" and e.action == "CREATE" and e.namespace == namespace
    ]


def dumps(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)[:4000]
