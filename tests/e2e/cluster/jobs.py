"""Small helpers for tests that drive batch/v1 Jobs through the real controllers.

Why: every e2e test needs "make a Job with this command", "wait for condition
X" and "which pods does it have"; keeping them here keeps tests readable and
lets the operator's own e2e tests reuse them. Objects are plain dicts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubernetes import client as k8s

from .kubelet_shim import raw

if TYPE_CHECKING:
    from . import Cluster

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def job_manifest(
    name: str,
    command: list[str],
    *,
    backoff_limit: int = 0,
    pod_failure_policy: dict[str, Any] | None = None,
    resources: dict[str, Any] | None = None,
    parallelism: int = 1,
    completions: int = 1,
    env: list[dict[str, Any]] | None = None,
    node_selector: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A batch/v1 Job running ``command`` once (restartPolicy Never)."""
    container: dict[str, Any] = {
        "name": "main",
        "image": "loocv-e2e/none:latest",
        "command": command,
    }
    if resources:
        container["resources"] = resources
    if env:
        container["env"] = env
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    spec: dict[str, Any] = {
        "backoffLimit": backoff_limit,
        "parallelism": parallelism,
        "completions": completions,
        "template": {"spec": pod_spec},
    }
    if pod_failure_policy:
        spec["podFailurePolicy"] = pod_failure_policy
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec}


def create_job(cluster: Cluster, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
    return raw(k8s.BatchV1Api(cluster.api_client).create_namespaced_job, namespace, manifest)


def get_job(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return raw(k8s.BatchV1Api(cluster.api_client).read_namespaced_job, name, namespace)


def job_condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in job.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            return dict(cond)
    return None


def wait_job_condition(
    cluster: Cluster, namespace: str, name: str, kind: str, timeout: float = 90.0
) -> dict[str, Any]:
    """Wait until the Job has condition ``kind`` (Complete, Failed, ...) and return the Job."""
    box: dict[str, Any] = {}

    def done() -> bool:
        box["job"] = get_job(cluster, namespace, name)
        return job_condition(box["job"], kind) is not None

    try:
        cluster.wait_for(done, timeout, what=f"Job {namespace}/{name} condition {kind}")
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}\nlast Job status: {box.get('job', {}).get('status')}") from None
    job: dict[str, Any] = box["job"]
    return job


def job_pods(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    """Pods of a Job, oldest first."""
    pods = raw(
        k8s.CoreV1Api(cluster.api_client).list_namespaced_pod,
        namespace,
        label_selector=f"{JOB_NAME_LABEL}={name}",
    )["items"]
    return sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"])


def wait_pod_phase(
    cluster: Cluster, namespace: str, job_name: str, phase: str, timeout: float = 60.0
) -> dict[str, Any]:
    """Wait until some pod of the Job is in ``phase``; return it."""
    box: dict[str, Any] = {}

    def found() -> bool:
        for pod in job_pods(cluster, namespace, job_name):
            if pod.get("status", {}).get("phase") == phase:
                box["pod"] = pod
                return True
        return False

    cluster.wait_for(found, timeout, what=f"a {phase} pod of Job {namespace}/{job_name}")
    pod: dict[str, Any] = box["pod"]
    return pod
