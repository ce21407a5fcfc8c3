"""The operator under a real Kueue: quota, admission, preemption, a missing queue, deletion.

Kueue's controller manager (``cluster/kueue.py``, built from the Go module proxy) runs as
a process beside the control plane with its webhooks called by the API server. Each test
gets a namespace labelled for Kueue, its own ClusterQueue (one ResourceFlavor; CPU, memory
and ``nvidia.com/gpu`` quota) and a LocalQueue; the operator and the S3 server are
test_operator's. Trainer pods are run by the kubelet shim. Scenario 5 (backoff) is in
test_kueue_backoff.py.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import test_operator
from cluster import Cluster
from cluster.jobs import job_manifest
from cluster.kueue import (
    GROUP,
    KUEUE_VERSION,
    MANAGED_LABEL,
    Kueue,
    apply_objects,
    cluster_queue,
    local_queue,
    resource_flavor,
    start_kueue,
    workloads,
)
from kubernetes import client as k8s
from test_operator import (
    Operator,
    S3Server,
    apply,
    condition,
    get_run,
    jobs_of,
    manifest,
    pods_of,
    stored_results,
    wait_condition,
)

from loocv_operator.kube.jobs import LABEL_QUEUE

bucket = test_operator.bucket
operator = test_operator.operator
s3 = test_operator.s3
crd = test_operator.crd
store_credentials = test_operator.store_credentials

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

QUEUE = "team-a"
FLAVOR = "default-flavor"
CPU_QUOTA = 2  # trainer pods request 1 CPU each: two run at once
HIGH = "loocv-e2e-high"
RESOURCES = {"requests": {"cpu": "1", "memory": "256Mi"}}


@pytest.fixture(scope="module")
def kueue(control_plane: Cluster) -> Iterator[Kueue]:
    started = time.monotonic()
    handle = start_kueue(control_plane.control_plane)
    print(f"[e2e] kueue {KUEUE_VERSION} ready in {time.monotonic() - started:.1f}s")
    apply_objects(
        control_plane.control_plane,
        [
            resource_flavor(FLAVOR),
            {
                "apiVersion": f"{GROUP}/v1beta2",
                "kind": "WorkloadPriorityClass",
                "metadata": {"name": HIGH},
                "value": 1000,
                "description": "a tenant with priority over the LOOCV runs",
            },
        ],
    )
    yield handle
    log = handle.tail(40)
    handle.stop()
    print(f"--- kueue log tail ---\n{log}")


@pytest.fixture
def queue(control_plane: Cluster, kueue: Kueue, namespace: str) -> str:
    """The namespace managed by Kueue, its ClusterQueue (named after it) and LocalQueue."""
    k8s.CoreV1Api(control_plane.api_client).patch_namespace(
        namespace, {"metadata": {"labels": {MANAGED_LABEL: "true"}}}
    )
    quota = {"cpu": str(CPU_QUOTA), "memory": "16Gi", "nvidia.com/gpu": "4"}
    apply_objects(
        control_plane.control_plane,
        [cluster_queue(namespace, FLAVOR, quota), local_queue(QUEUE, namespace, namespace)],
    )

    def active() -> bool:
        cq = k8s.CustomObjectsApi(control_plane.api_client).get_cluster_custom_object(
            GROUP, "v1beta2", "clusterqueues", namespace
        )
        return any(
            c["type"] == "Active" and c["status"] == "True"
            for c in cq.get("status", {}).get("conditions", [])
        )

    control_plane.wait_for(active, 60, what=f"ClusterQueue {namespace} active")
    return QUEUE


def queued_run(name: str, queue: str = QUEUE, **execution: Any) -> dict[str, Any]:
    """Batches of a few seconds each (a small forest on breast_cancer), in ``queue``."""
    return manifest(
        name,
        dataset={"builtin": "breast_cancer"},
        model={
            "estimator": "sklearn.ensemble.RandomForestClassifier",
            "params": {"n_estimators": 25, "random_state": 0},
        },
        execution={"queueName": queue, "resources": RESOURCES, **execution},
    )


class RunningPods:
    """Samples how many trainer pods run at once, in a thread, while a run goes on."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.core = k8s.CoreV1Api(cluster.control_plane.new_api_client())
        self.namespace = namespace
        self.most = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            pods = self.core.list_namespaced_pod(
                self.namespace, label_selector="app.kubernetes.io/name=loocv-trainer"
            ).items
            running = sum(1 for p in pods if p.status.phase == "Running")
            self.most = max(self.most, running)
            self.samples += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _events(cluster: Cluster, namespace: str, reason: str) -> list[Any]:
    items = k8s.CoreV1Api(cluster.api_client).list_namespaced_event(namespace).items
    return [e for e in items if e.reason == reason]


# ------------------------------------------------------------------------------ scenarios


def test_kueue_admits_only_what_the_quota_allows_and_the_run_completes(
    control_plane: Cluster, operator: Operator, queue: str, namespace: str, s3: S3Server
) -> None:
    """1. maxConcurrentJobs 5 against a quota for 2: Kueue admits two at a time, no more
    than two trainer pods ever run, the status counts the Jobs awaiting admission (reason
    AwaitingAdmission), and the run completes with every fold once."""
    apply(control_plane, namespace, queued_run("quota", foldsPerJob=120, maxConcurrentJobs=5))
    sampler = RunningPods(control_plane, namespace)
    seen: dict[str, Any] = {}

    def awaiting() -> bool:
        run = get_run(control_plane, namespace, "quota")
        found = condition(run, "Progressing")
        if found and found["reason"] == "AwaitingAdmission":
            seen.update(run=run, condition=found)
            return True
        return False

    try:
        control_plane.wait_for(awaiting, 120, what="Progressing=AwaitingAdmission")
        run = wait_condition(control_plane, namespace, "quota", "Complete", timeout=400)
    finally:
        sampler.stop()
    waiting = seen["run"]["status"]["jobs"]["awaitingAdmission"]
    assert 1 <= waiting <= 3, seen["run"]["status"]["jobs"]
    assert (
        f"{waiting} Jobs await admission by Kueue (LocalQueue '{QUEUE}')"
        in (seen["condition"]["message"])
    )
    assert "Unschedulable" not in str(seen["run"]["status"]["conditions"])
    assert sampler.samples > 20 and sampler.most == CPU_QUOTA  # the quota, never more
    status = run["status"]
    assert status["folds"]["succeeded"] == status["folds"]["total"] == 569
    assert status["jobs"]["total"] == 5 and status["jobs"]["awaitingAdmission"] == 0
    assert sorted(r.index for r in stored_results(run, s3.endpoint)) == list(range(569))
    # Every Job of the run is queued: the five trainers, the planner and the report Job.
    seen_by_kueue = workloads(control_plane.api_client, namespace)
    owners = sorted(_owner(w) for w in seen_by_kueue)
    assert [o.rsplit("-", 1)[-1] for o in owners if not o.endswith("-r0")] == ["plan", "report"]
    assert len(_trainer_workloads(control_plane, namespace)) == 5, owners
    assert all(w["spec"]["queueName"] == QUEUE for w in seen_by_kueue)


def _owner(workload: dict[str, Any]) -> str:
    """The Job a Workload stands for."""
    return str(workload["metadata"]["ownerReferences"][0]["name"])


def _trainer_workloads(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    """The Workloads of trainer Jobs (<run>-<uid>-b<N>-r<M>), not the planner's or report's."""
    return [
        w
        for w in workloads(cluster.api_client, namespace)
        if re.search(r"-b[0-9]+-r[0-9]+$", _owner(w))
    ]


def _high_priority_job(name: str, seconds: int, cpu: str = "1") -> dict[str, Any]:
    body = job_manifest(name, ["sleep", str(seconds)], resources={"requests": {"cpu": cpu}})
    body["metadata"].setdefault("labels", {}).update(
        {LABEL_QUEUE: QUEUE, "kueue.x-k8s.io/priority-class": HIGH}
    )
    body["spec"]["suspend"] = True
    return body


def _stored_batches(s3: S3Server, results_uri: str) -> set[int]:
    """The batches with at least one segment in the store (keys <batch>-<attempt>-…)."""
    bucket_name, _, prefix = results_uri.removeprefix("s3://").partition("/")
    listed = s3.client().list_objects_v2(Bucket=bucket_name, Prefix=f"{prefix}segments/")
    return {int(o["Key"].rsplit("/", 1)[1].split("-")[0]) for o in listed.get("Contents", [])}


def _preempted_workloads(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    return [
        w
        for w in workloads(cluster.api_client, namespace)
        if any(
            e.get("reason") == "Preempted"
            for e in (w.get("status", {}).get("schedulingStats") or {}).get("evictions") or []
        )
    ]


def test_a_higher_priority_workload_preempts_a_batch_which_resumes_later(
    control_plane: Cluster, operator: Operator, queue: str, namespace: str, s3: S3Server
) -> None:
    """2. A higher-priority Job takes one of our two admitted Jobs' quota: Kueue suspends
    it; the batch is not a failure nor a retry, is readmitted when the quota frees, resumes
    from the folds it stored, no fold is lost or counted twice, and an Event says
    "preempted by Kueue" with the Workload named."""
    apply(control_plane, namespace, queued_run("preempted", foldsPerJob=190, maxConcurrentJobs=3))
    batch = k8s.BatchV1Api(control_plane.api_client)

    def two_running() -> bool:
        running = [p for p in pods_of(control_plane, namespace) if p.status.phase == "Running"]
        return len(running) == CPU_QUOTA

    control_plane.wait_for(two_running, 180, what="two admitted trainer pods running")

    def both_stored_some() -> bool:  # past both trainers' first checkpoints
        uri = get_run(control_plane, namespace, "preempted").get("status", {}).get("resultsUri")
        return uri is not None and len(_stored_batches(s3, uri)) >= CPU_QUOTA

    control_plane.wait_for(both_stored_some, 180, what="a segment from each running batch")
    batch.create_namespaced_job(namespace, _high_priority_job("urgent", 6, cpu="1"))
    control_plane.wait_for(
        lambda: bool(_preempted_workloads(control_plane, namespace)), 90, what="a preemption"
    )
    preempted = _preempted_workloads(control_plane, namespace)
    assert len(preempted) == 1
    workload = preempted[0]
    job_name = next(o["name"] for o in workload["metadata"]["ownerReferences"])
    control_plane.wait_for(
        lambda: bool(_events(control_plane, namespace, "PreemptedByKueue")), 60, what="Event"
    )
    event = _events(control_plane, namespace, "PreemptedByKueue")[0]
    assert "preempted by Kueue" in event.message and workload["metadata"]["name"] in event.message
    assert event.involved_object.kind == "LOOCVRun"

    run = wait_condition(control_plane, namespace, "preempted", "Complete", timeout=400)
    status = run["status"]
    assert status["folds"]["succeeded"] == status["folds"]["total"] == 569
    assert status["folds"]["failed"] == 0
    jobs = status["jobs"]
    assert jobs["preempted"] >= 1 and jobs["retried"] == 0 and jobs["failed"] == 0, jobs
    ours = batch.read_namespaced_job(job_name, namespace)
    assert ours.metadata.labels["loocv.dev/attempt"] == "0"  # readmitted, not resubmitted
    assert not ours.status.failed, ours.status  # Kueue's suspension is not a pod failure
    results = stored_results(run, s3.endpoint)
    assert sorted(r.index for r in results) == list(range(569))  # none lost, none twice
    pods = [
        p.metadata.name
        for p in pods_of(control_plane, namespace)
        if p.metadata.labels.get("job-name") == job_name
    ]
    logs = [control_plane.shim.pod_log(namespace, p) for p in pods]
    resumed = [line for log in logs for line in log.splitlines() if "already stored" in line]
    assert resumed and not any(" 0 already stored" in line for line in resumed), logs


def test_a_missing_queue_is_named_and_jobs_do_not_pile_up(
    control_plane: Cluster, operator: Operator, queue: str, namespace: str
) -> None:
    """3. queueName names no LocalQueue: a condition names the queue, one Job waits (not
    maxConcurrentJobs of them); creating the LocalQueue lets the run finish."""
    apply(
        control_plane,
        namespace,
        manifest(
            "lost",
            execution={
                "queueName": "no-such-queue",
                "maxConcurrentJobs": 4,
                "foldsPerJob": 30,
                "resources": RESOURCES,
            },
        ),
    )

    def named() -> bool:
        found = condition(get_run(control_plane, namespace, "lost"), "Progressing")
        return found is not None and found["reason"] == "QueueNotFound"

    control_plane.wait_for(named, 90, what="Progressing=QueueNotFound")
    time.sleep(6)  # several reconcile passes later: still one Job
    run = get_run(control_plane, namespace, "lost")
    found = condition(run, "Progressing")
    assert found is not None and found["status"] == "False"
    assert "'no-such-queue'" in found["message"] and "doesn't exist" in found["message"]
    assert run["status"]["phase"] == "Pending"
    assert len(jobs_of(control_plane, namespace)) == 1
    apply_objects(control_plane.control_plane, [local_queue("no-such-queue", namespace, namespace)])
    run = wait_condition(control_plane, namespace, "lost", "Complete", timeout=300)
    assert run["status"]["folds"]["succeeded"] == 150


def test_deleting_a_queued_run_removes_its_jobs_and_workloads(
    control_plane: Cluster, operator: Operator, queue: str, namespace: str
) -> None:
    """4. Deleting a run with admitted and waiting Jobs: the garbage collector removes its
    Jobs (ownerReferences to the run), then Kueue's Workloads (ownerReferences to the Jobs)."""
    apply(control_plane, namespace, queued_run("doomed", foldsPerJob=120, maxConcurrentJobs=4))
    control_plane.wait_for(  # the planner's Workload stays beside the trainers' (its Job too)
        lambda: len(_trainer_workloads(control_plane, namespace)) == 4,
        120,
        what="4 trainer Workloads",
    )
    control_plane.run_kubectl("delete", "-n", namespace, "loocvrun/doomed", "--wait=true")
    control_plane.wait_for(lambda: not jobs_of(control_plane, namespace), 120, what="Jobs GC")
    control_plane.wait_for(
        lambda: not workloads(control_plane.api_client, namespace), 120, what="Workloads GC"
    )
    control_plane.wait_for(lambda: not pods_of(control_plane, namespace), 120, what="pods GC")
