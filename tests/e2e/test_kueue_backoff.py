"""5. Backoff (kubernetes#130881) under a real Kueue: how long a batch's next pod waits after
a real failure, after a pod disruption the trainer's podFailurePolicy ignores, and after a
Kueue preemption. Uses test_kueue's Kueue, ClusterQueue and LocalQueue (imported)."""

from __future__ import annotations

import statistics
from typing import Any

import pytest
import test_kueue
from cluster import Cluster
from cluster.jobs import job_manifest
from cluster.kueue import Kueue
from kubernetes import client as k8s
from test_kueue import CPU_QUOTA, QUEUE, _high_priority_job, _preempted_workloads
from test_operator import pods_of

from loocv_operator.kube.jobs import CONTAINER, LABEL_QUEUE, pod_failure_policy

kueue = test_kueue.kueue
queue = test_kueue.queue

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def _trainer_job(name: str, command: list[str], cpu: int, backoff_limit: int) -> dict[str, Any]:
    """A queued Job with the trainer's podFailurePolicy (its container named as ours)."""
    body = job_manifest(
        name,
        command,
        backoff_limit=backoff_limit,
        pod_failure_policy=pod_failure_policy(),
        resources={"requests": {"cpu": str(cpu)}},
    )
    body["spec"]["template"]["spec"]["containers"][0]["name"] = CONTAINER
    body["metadata"]["labels"] = {LABEL_QUEUE: QUEUE}
    body["spec"]["suspend"] = True
    return body


def _pod_times(cluster: Cluster, namespace: str, job: str) -> list[tuple[float, float]]:
    """(created, finished or inf) of each pod of ``job`` that still exists, oldest first."""
    out = []
    for pod in pods_of(cluster, namespace):
        if pod.metadata.labels.get("job-name") != job:
            continue
        ended = float("inf")
        for status in pod.status.container_statuses or []:
            if status.state.terminated is not None:
                ended = status.state.terminated.finished_at.timestamp()
        out.append((pod.metadata.creation_timestamp.timestamp(), ended))
    return sorted(out)


def _running_pod(cluster: Cluster, namespace: str, job: str) -> str:
    found: list[str] = []

    def running() -> bool:
        found[:] = [
            p.metadata.name
            for p in pods_of(cluster, namespace)
            if p.metadata.labels.get("job-name") == job and p.status.phase == "Running"
        ]
        return bool(found)

    cluster.wait_for(running, 120, what=f"a running pod of {job}")
    return found[0]


def _gap_after_failure(cluster: Cluster, namespace: str, name: str) -> float:
    """A real failure (exit 1, backoffLimit 1): the pod's end to its replacement's creation."""
    batch = k8s.BatchV1Api(cluster.api_client)
    batch.create_namespaced_job(
        namespace, _trainer_job(name, ["sh", "-c", "sleep 1; exit 1"], 1, 1)
    )

    def replaced() -> bool:
        times = _pod_times(cluster, namespace, name)
        return len(times) == 2 and times[0][1] < float("inf")

    cluster.wait_for(replaced, 120, what=f"{name}: a replacement pod after a failure")
    (_, failed_at), (replaced_at, _) = _pod_times(cluster, namespace, name)
    return replaced_at - failed_at


def _gap_after_disruption(cluster: Cluster, namespace: str, name: str) -> float:
    """A scheduler-style preemption (DisruptionTarget, ignored by the podFailurePolicy): the
    pod's end to its replacement's creation. No Kueue here: the pod is disrupted directly."""
    batch = k8s.BatchV1Api(cluster.api_client)
    body = _trainer_job(name, ["sleep", "60"], 1, 0)
    del body["metadata"]["labels"][LABEL_QUEUE]
    body["spec"]["suspend"] = False
    batch.create_namespaced_job(namespace, body)
    cluster.preempt(namespace, _running_pod(cluster, namespace, name))
    cluster.wait_for(
        lambda: len(_pod_times(cluster, namespace, name)) == 2, 120, what=f"{name} replaced"
    )
    (_, ended), (replaced_at, _) = _pod_times(cluster, namespace, name)
    job = batch.read_namespaced_job(name, namespace)
    assert not job.status.failed, job.status  # ignored: no failure counted...
    batch.delete_namespaced_job(name, namespace, propagation_policy="Background")
    return replaced_at - ended  # ...but the replacement waits (kubernetes#130881)


def _gap_after_kueue_preemption(cluster: Cluster, namespace: str, name: str) -> float:
    """Our queued Job holds the whole quota; a higher-priority Job of 2 s preempts it. The
    wait from Kueue's readmission (the Job resumed) to the batch's new pod."""
    batch = k8s.BatchV1Api(cluster.api_client)
    batch.create_namespaced_job(namespace, _trainer_job(name, ["sleep", "60"], CPU_QUOTA, 0))
    _running_pod(cluster, namespace, name)
    batch.create_namespaced_job(
        namespace, _high_priority_job(f"{name}-urgent", 2, cpu=str(CPU_QUOTA))
    )
    resumed: list[float] = []

    def readmitted() -> bool:
        if not any(
            w["metadata"]["ownerReferences"][0]["name"] == name
            for w in _preempted_workloads(cluster, namespace)
        ):
            return False
        job = batch.read_namespaced_job(name, namespace)
        cond = next((c for c in job.status.conditions or [] if c.type == "Suspended"), None)
        if cond is None or cond.reason != "JobResumed" or job.spec.suspend:
            return False
        resumed[:] = [cond.last_transition_time.timestamp()]
        return any(created >= resumed[0] - 1 for created, _ in _pod_times(cluster, namespace, name))

    cluster.wait_for(readmitted, 180, what=f"{name} preempted, readmitted, a new pod")
    job = batch.read_namespaced_job(name, namespace)
    assert not job.status.failed, job.status  # Kueue's suspension is no pod failure
    created = max(c for c, _ in _pod_times(cluster, namespace, name))
    batch.delete_namespaced_job(name, namespace, propagation_policy="Background")
    return created - resumed[0]


def test_backoff_after_a_kueue_preemption_versus_after_a_real_failure(
    control_plane: Cluster, kueue: Kueue, queue: str, namespace: str
) -> None:
    """5. How long a batch's next pod waits, with the trainer's podFailurePolicy: after a
    real failure the Job controller backs off (10 s); after a pod disruption the policy
    ignores, it backs off all the same (kubernetes#130881); after a Kueue preemption the
    readmitted Job gets its pod at once — the Job controller takes the pods it deletes for
    a suspension out of its failure tracking, so neither a failure nor a backoff follows."""
    gaps: dict[str, list[float]] = {"failure": [], "disruption": [], "kueue": []}
    for i in range(2):
        gaps["failure"].append(_gap_after_failure(control_plane, namespace, f"fails-{i}"))
        gaps["disruption"].append(_gap_after_disruption(control_plane, namespace, f"disr-{i}"))
        gaps["kueue"].append(_gap_after_kueue_preemption(control_plane, namespace, f"kq-{i}"))
    print(
        "[e2e] next pod (s): "
        + "; ".join(
            f"after {k}: {[round(g, 1) for g in v]} (median {statistics.median(v):.1f})"
            for k, v in gaps.items()
        )
    )
    assert min(gaps["failure"]) >= 5  # the Job controller's 10 s backoff (1 s timestamps)
    assert max(gaps["kueue"]) <= 3  # readmitted: the pod comes at once, no backoff
