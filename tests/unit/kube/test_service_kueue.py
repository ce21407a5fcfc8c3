"""The service with Kueue's Workloads: the window, awaiting admission, a missing queue and
Kueue's preemptions (Events, counts), against the in-memory API of test_service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.unit.kube.fakekube import Clock, FakeKube
from tests.unit.kube.test_service import UID, admit, body, make_service, train

QUEUE = "team-a"


class KueueKube(FakeKube):
    """FakeKube plus Kueue's Workloads, one per Job once ``admit``/``wait`` says so."""

    def __init__(self) -> None:
        super().__init__()
        self.workloads: dict[str, dict[str, Any]] = {}

    def list_workloads(self, namespace: str) -> list[dict[str, Any]] | None:
        return list(self.workloads.values())

    def workload(self, job: str, *conditions: tuple[str, str, str], preempted: int = 0) -> None:
        self.workloads[job] = {
            "metadata": {
                "name": f"job-{job}",
                "uid": f"wl-{job}",
                "ownerReferences": [{"kind": "Job", "name": job, "controller": True}],
            },
            "spec": {"queueName": QUEUE},
            "status": {
                "conditions": [
                    {"type": t, "status": s, "reason": r, "message": f"{r} message"}
                    for t, s, r in conditions
                ],
                "schedulingStats": {
                    "evictions": [
                        {"reason": "Preempted", "underlyingCause": "", "count": preempted}
                    ]
                },
            },
        }


WAITING = ("QuotaReserved", "False", "Pending")
ADMITTED = ("Admitted", "True", "Admitted")
EVICTED = ("Evicted", "True", "Preempted")


def queued(queue: str = QUEUE) -> dict[str, Any]:
    document = body()
    document["spec"]["execution"] |= {"queueName": queue, "maxConcurrentJobs": 3}
    return document


def test_one_job_probes_the_queue_then_the_window_opens_and_waiting_jobs_are_counted(
    tmp_path: Path,
) -> None:
    kube, clock = KueueKube(), Clock()
    service = make_service(kube, tmp_path / "store", clock)
    admit(service, kube, queued())
    assert len(kube.created) == 1  # Kueue has not looked at the queue yet
    job = kube.jobs[kube.created[0]]
    assert job["spec"]["suspend"] is True
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == QUEUE
    kube.workload(kube.created[0], WAITING)
    clock.now += 10
    service.reconcile(UID)
    assert len(kube.created) == 3  # the queue exists: maxConcurrentJobs
    assert kube.status["jobs"]["awaitingAdmission"] == 3
    progressing = kube.conditions()["Progressing"]
    assert progressing["reason"] == "AwaitingAdmission"
    assert "3 Jobs await admission by Kueue" in progressing["message"]


def test_a_kueue_preemption_is_an_event_and_a_count_never_a_failure(tmp_path: Path) -> None:
    kube, clock = KueueKube(), Clock()
    root = tmp_path / "store"
    service = make_service(kube, root, clock)
    admit(service, kube, queued())
    first = kube.created[0]
    kube.workload(first, ADMITTED)
    clock.now += 10
    service.reconcile(UID)
    kube.workload(first, EVICTED, WAITING, preempted=1)
    for _ in range(2):  # told once, however often it is seen
        clock.now += 10
        service.reconcile(UID)
    told = [e for e in kube.events if e["reason"] == "PreemptedByKueue"]
    assert len(told) == 1 and f"Job {first}" in told[0]["message"]
    assert "preempted by Kueue" in told[0]["message"] and f"ns/job-{first}" in told[0]["message"]
    jobs = kube.status["jobs"]
    assert jobs["preempted"] == 1 and jobs["retried"] == 0 and jobs["failed"] == 0
    # Readmitted, the same Job finishes its batch: nothing was resubmitted.
    kube.workload(first, ADMITTED, preempted=1)
    train(root, kube, first)
    clock.now += 10
    service.reconcile(UID)
    assert not any(int(j["metadata"]["labels"]["loocv.dev/attempt"]) for j in kube.jobs.values())


def test_a_missing_queue_is_named_and_jobs_do_not_pile_up(tmp_path: Path) -> None:
    kube, clock = KueueKube(), Clock()
    service = make_service(kube, tmp_path / "store", clock)
    admit(service, kube, queued("nope"))
    kube.workload(kube.created[0], ("QuotaReserved", "False", "Misconfigured"))
    kube.workloads[kube.created[0]]["status"]["conditions"][0]["message"] = (
        "LocalQueue nope doesn't exist"
    )
    for _ in range(3):
        clock.now += 10
        service.reconcile(UID)
    assert len(kube.created) == 1  # one trainer Job (the planner ran before)
    assert kube.status["phase"] == "Pending"
    progressing = kube.conditions()["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("False", "QueueNotFound")
    assert "'nope'" in progressing["message"] and "doesn't exist" in progressing["message"]


def test_a_missing_queue_is_named_while_the_planner_job_waits(tmp_path: Path) -> None:
    kube, clock = KueueKube(), Clock()
    service = make_service(kube, tmp_path / "store", clock)
    service.admit(queued("nope"))  # the planner Job, queued in "nope" too
    (planner,) = kube.steps
    assert kube.jobs[planner]["spec"]["suspend"] is True
    kube.workload(planner, ("QuotaReserved", "False", "Inadmissible"))
    kube.workloads[planner]["status"]["conditions"][0]["message"] = "LocalQueue nope doesn't exist"
    for _ in range(2):
        clock.now += 10
        service.reconcile(UID)
    assert kube.status["phase"] == "Pending" and kube.created == []
    progressing = kube.conditions()["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("False", "QueueNotFound")
    assert "'nope'" in progressing["message"] and "doesn't exist" in progressing["message"]
    patches = len(kube.patches)
    clock.now += 10
    service.reconcile(UID)
    assert len(kube.patches) == patches  # said once, not rewritten every pass
