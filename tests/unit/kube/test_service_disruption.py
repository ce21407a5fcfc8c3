"""The service resubmits a batch whose pod was disrupted instead of letting its Job wait the
Job controller's backoff (kubernetes#130881), lists pods for it only when a Job's status
says it has no active pod, and counts the disruption once, as a preemption."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .fakekube import Clock, FakeKube
from .test_service import UID, admit, body, make_service, train


def disrupt(kube: FakeKube, name: str) -> str:
    """The Job's pod was preempted (DisruptionTarget) and has ended; the Job (its policy
    ignores the pod) waits for its replacement: status.active 0."""
    job = kube.jobs[name]
    job["status"] = {"active": 0, "startTime": "2026-12-02T02:00:00Z"}
    pod = f"{name}-x7k2p"
    kube.pods.append(
        {
            "metadata": {
                "name": pod,
                "uid": f"uid-{pod}",
                "labels": job["spec"]["template"]["metadata"]["labels"],
            },
            "spec": job["spec"]["template"]["spec"],
            "status": {
                "phase": "Failed",
                "containerStatuses": [
                    {
                        "name": "trainer",
                        "state": {
                            "terminated": {
                                "exitCode": 143,
                                "startedAt": "2026-12-02T02:00:01Z",
                                "finishedAt": "2026-12-02T02:00:31Z",
                            }
                        },
                    }
                ],
                "conditions": [
                    {
                        "type": "DisruptionTarget",
                        "status": "True",
                        "reason": "PreemptionByScheduler",
                    },
                ],
            },
        }
    )
    return pod


def running(kube: FakeKube) -> None:
    for job in kube.jobs.values():
        job.setdefault("status", {"active": 1})


def finish_all(service: Any, kube: FakeKube, clock: Clock) -> None:
    for _ in range(10):
        for name in [n for n, j in kube.jobs.items() if "conditions" not in j.get("status", {})]:
            train(Path(), kube, name)
        clock.now += 10
        service.reconcile(UID)
        if service.tracked() == []:
            return
    raise AssertionError("the run did not finish")


def test_a_disrupted_batch_is_resubmitted_at_once_and_counted_once(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    admit(service, kube, body())
    first, second = kube.created
    running(kube)
    clock.now += 2
    assert service.due() == [UID]  # Jobs of ours run: polled, not only every status interval
    lists = kube.pod_lists
    service.reconcile(UID)
    assert kube.pod_lists == lists  # every Job has its pod: no pod listing between full passes

    pod = disrupt(kube, first)
    clock.now += 2
    service.reconcile(UID)  # a poll, not a full pass: the Job's status asks for the pods
    assert kube.pod_lists == lists + 1
    assert kube.deleted == [first] and first not in kube.jobs
    retry = kube.created[-1]
    assert retry.endswith("-b0-r1")
    annotations = kube.jobs[retry]["metadata"]["annotations"]
    assert annotations["loocv.dev/preemptions-before"] == "1"
    assert annotations["loocv.dev/failures-before"] == "0"
    assert annotations["loocv.dev/replaces-disrupted"] == pod
    (event,) = [e for e in kube.events if e["reason"] == "Resubmitted"]
    assert pod in event["message"] and "backoff" in event["message"]
    assert event["type"] == "Normal"

    clock.now += 2
    service.reconcile(UID)  # the new Job is listed: nothing more happens
    assert kube.deleted == [first] and kube.created[-1] == retry
    assert second in kube.jobs
    finish_all(service, kube, clock)
    jobs = kube.status["jobs"]
    assert jobs["preempted"] == 1 and jobs["retried"] == 0 and jobs["failed"] == 0
    assert kube.status["folds"]["succeeded"] == 10 and kube.status["folds"]["failed"] == 0
    assert kube.conditions()["Complete"]["status"] == "True"
    # the disrupted pod went with its Job; its 30 s were put in the pod ledger before
    assert kube.status["usage"]["preemptions"] == 1, kube.status["usage"]
    assert kube.status["usage"]["podsStarted"] >= 1


def test_a_queued_runs_jobs_are_left_to_kueue(kube: FakeKube, root: Path, clock: Clock) -> None:
    """Kueue owns a queued Job: its preemption suspends the Job and backs off nothing."""
    document = body()
    document["spec"]["execution"]["queueName"] = "team-a"
    service = make_service(kube, root, clock)
    admit(service, kube, document)
    first = kube.created[0]
    kube.jobs[first]["spec"]["suspend"] = False  # admitted by Kueue
    disrupt(kube, first)
    for _ in range(3):
        clock.now += 10
        service.reconcile(UID)
    assert kube.deleted == [] and not any(n.endswith("-r1") for n in kube.created)
    assert "Resubmitted" not in [e["reason"] for e in kube.events]


def test_a_suspended_run_resubmits_nothing(kube: FakeKube, root: Path, clock: Clock) -> None:
    service = make_service(kube, root, clock)
    admit(service, kube, body())
    first = kube.created[0]
    disrupt(kube, first)
    document = body(generation=2)
    document["spec"]["suspend"] = True
    service.spec_changed(document)
    assert kube.deleted == [] and not any(n.endswith("-r1") for n in kube.created)
