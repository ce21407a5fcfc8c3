"""Issue 15, scenario 5's workaround (kubernetes#130881): a trainer pod disrupted outside
Kueue (DisruptionTarget, a scheduler-style preemption) is ignored by the Job's
podFailurePolicy, yet the Job controller waits its backoff (~10 s) before a new pod. The
operator resubmits the batch as a new Job at once and deletes the old Job. Measured on the
same control plane: a plain Job with the trainer's policy (before), the operator's run with
its default intervals (after)."""

from __future__ import annotations

import statistics
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_operator
from cluster import Cluster
from kubernetes import client as k8s
from test_kueue_backoff import _gap_after_disruption
from test_operator import (
    CREDENTIALS,
    Operator,
    S3Server,
    apply,
    pods_of,
    slow_run,
    stored_results,
    trainers_of,
    wait_condition,
)

from loocv_operator.kube.jobs import ANNOTATION_PREEMPTIONS, LABEL_ATTEMPT, LABEL_BATCH

bucket = test_operator.bucket
s3 = test_operator.s3
crd = test_operator.crd
store_credentials = test_operator.store_credentials

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture
def default_operator(
    control_plane: Cluster, crd: None, namespace: str, bucket: str, s3: S3Server, tmp_path: Path
) -> Iterator[Operator]:
    """The operator with its default intervals (status 10 s, poll 2 s), not the 1 s of
    test_operator's: the resubmission must not depend on frequent full passes."""
    k8s.CoreV1Api(control_plane.api_client).create_namespaced_secret(
        namespace, {"metadata": {"name": "s3-creds"}, "stringData": CREDENTIALS}
    )
    handle = Operator(control_plane, namespace, bucket, s3.endpoint, tmp_path / "operator.log")
    at = handle.command.index("--status-interval")
    del handle.command[at : at + 2]
    handle.start()
    yield handle
    handle.stop()
    print(f"--- operator log ({namespace}) ---\n{handle.output()}")


class PodTimes:
    """Every trainer pod's creation and end (API timestamps), sampled every 0.25 s: the
    disrupted pod's Job is deleted with it, so its end is read while it exists."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster, self.namespace = cluster, namespace
        self.pods: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            try:
                self.sample()
            except Exception:  # an API hiccup: the next sample
                continue

    def sample(self) -> None:
        for pod in pods_of(self.cluster, self.namespace):
            labels = pod.metadata.labels or {}
            if LABEL_BATCH not in labels:
                continue
            seen = self.pods.setdefault(
                pod.metadata.name,
                {
                    "batch": int(labels[LABEL_BATCH]),
                    "attempt": int(labels[LABEL_ATTEMPT]),
                    "created": pod.metadata.creation_timestamp.timestamp(),
                },
            )
            for status in pod.status.container_statuses or []:
                if status.state.terminated is not None:
                    seen["ended"] = status.state.terminated.finished_at.timestamp()
            seen["phase"] = pod.status.phase

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def ended(self, name: str) -> bool:
        self.sample()
        return "ended" in self.pods.get(name, {})

    def next_pod(self, batch: int, disrupted: str) -> float | None:
        """The creation of the batch's first pod after ``disrupted`` ended (1 s stamps)."""
        ended = self.pods[disrupted]["ended"]
        created = [
            p["created"]
            for name, p in self.pods.items()
            if p["batch"] == batch and name != disrupted and p["created"] >= ended - 1
        ]
        return min(created) if created else None


def _preempt_a_running_pod(
    cluster: Cluster, namespace: str, times: PodTimes, done: set[int]
) -> tuple[str, int, float]:
    """A running trainer pod of a batch not disrupted yet: preempted; its end time."""
    found: list[tuple[str, int]] = []

    def running() -> bool:
        found[:] = [
            (p.metadata.name, int(p.metadata.labels[LABEL_BATCH]))
            for p in pods_of(cluster, namespace)
            if p.status.phase == "Running"
            and LABEL_BATCH in (p.metadata.labels or {})
            and int(p.metadata.labels[LABEL_BATCH]) not in done
        ]
        return bool(found)

    cluster.wait_for(running, 120, what="a running trainer pod")
    name, batch = found[0]
    cluster.preempt(namespace, name)  # returns once the pod has stopped (Failed)
    cluster.wait_for(lambda: times.ended(name), 30, what=f"{name}'s end")
    return name, batch, times.pods[name]["ended"]


def test_a_disrupted_batch_gets_its_next_pod_at_once_not_after_the_backoff(
    control_plane: Cluster, default_operator: Operator, namespace: str, s3: S3Server
) -> None:
    before = [_gap_after_disruption(control_plane, namespace, f"plain-{i}") for i in range(2)]

    apply(control_plane, namespace, slow_run("disrupted", execution={"retries": 0}))
    times = PodTimes(control_plane, namespace)
    after: list[float] = []
    preempted: list[str] = []
    try:
        for _ in range(2):
            pod, batch, ended = _preempt_a_running_pod(
                control_plane, namespace, times, {times.pods[p]["batch"] for p in preempted}
            )
            preempted.append(pod)
            control_plane.wait_for(
                lambda b=batch, p=pod: times.next_pod(b, p) is not None,
                60,
                what=f"batch {batch}'s next pod",
            )
            created = times.next_pod(batch, pod)
            assert created is not None
            after.append(created - ended)
        run = wait_condition(control_plane, namespace, "disrupted", "Complete", timeout=400)
    finally:
        times.stop()
    print(
        f"[e2e] next pod after a disruption (s): plain Job (Job controller backoff) "
        f"{[round(g, 1) for g in before]} (median {statistics.median(before):.1f}); "
        f"operator resubmission {[round(g, 1) for g in after]} "
        f"(median {statistics.median(after):.1f})"
    )
    assert min(before) >= 5  # the Job controller's 10 s backoff (1 s timestamps)
    assert max(after) <= 5  # resubmitted at the next poll (2 s), its pod at once

    status = run["status"]
    jobs = status["jobs"]
    assert jobs["preempted"] == 2 and jobs["retried"] == 0 and jobs["failed"] == 0, jobs
    assert status["folds"]["succeeded"] == 569 and status["folds"]["failed"] == 0
    assert sorted(r.index for r in stored_results(run, s3.endpoint)) == list(range(569))
    names = {j.metadata.name: j for j in trainers_of(control_plane, namespace)}
    for pod in preempted:  # the disrupted pod's Job was deleted; its batch has attempt 1
        batch = times.pods[pod]["batch"]
        assert not any(n.endswith(f"-b{batch}-r0") for n in names), sorted(names)
        (retry,) = [j for n, j in names.items() if n.endswith(f"-b{batch}-r1")]
        assert retry.metadata.annotations[ANNOTATION_PREEMPTIONS] == "1"
    messages = [
        e.message
        for e in k8s.CoreV1Api(control_plane.api_client).list_namespaced_event(namespace).items
        if e.reason == "Resubmitted"
    ]
    for pod in preempted:
        assert any(pod in m and "backoff" in m for m in messages), messages
