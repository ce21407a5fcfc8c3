"""Reading Kueue's Workloads (kube/kueue.py): awaiting admission, a missing queue, preemptions."""

from __future__ import annotations

from typing import Any

from loocv_operator.kube.kueue import (
    Admission,
    admission_of,
    job_window,
    new_preemptions,
    observe_workload,
    preemption_message,
    read_admission,
    with_admission,
)
from loocv_operator.kube.observe import FINISHED_SUCCEEDED, ObservedJob
from loocv_operator.kube.status import RunView
from loocv_operator.kube.wire import FoldCounts, JobCounts

PREEMPTED = (
    "Preempted to accommodate a workload (UID: u9, JobUID: j9) due to prioritization in the "
    "ClusterQueue; preemptor path: /cq; preemptee path: /cq"
)


def workload(
    job: str,
    *conditions: tuple[str, str, str, str],
    evictions: list[dict[str, Any]] | None = None,
    controller: bool = True,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [
            {"type": t, "status": s, "reason": r, "message": m} for t, s, r, m in conditions
        ]
    }
    if evictions is not None:
        status["schedulingStats"] = {"evictions": evictions}
    return {
        "metadata": {
            "name": f"job-{job}-abcde",
            "uid": f"wl-{job}",
            "ownerReferences": [
                {"kind": "Job", "name": job, "uid": f"uid-{job}", "controller": controller}
            ],
        },
        "spec": {"queueName": "team-a"},
        "status": status,
    }


def job(name: str, batch: int, finished: str | None = None) -> ObservedJob:
    return ObservedJob(name=name, batch=batch, attempt=0, finished=finished, suspended=True)


WAITING = ("QuotaReserved", "False", "Pending", "insufficient unused quota for cpu in flavor f")
ADMITTED = ("Admitted", "True", "Admitted", "The workload is admitted")
RESERVED = ("QuotaReserved", "True", "QuotaReserved", "Quota reserved in ClusterQueue cq")
MISSING = ("QuotaReserved", "False", "Inadmissible", "LocalQueue team-b doesn't exist")  # v0.19
BUSY = ("QuotaReserved", "False", "Inadmissible", "ClusterQueue cq is inactive")


def test_observe_reads_state_and_ignores_workloads_no_job_owns() -> None:
    seen = observe_workload(workload("a", RESERVED, ADMITTED))
    assert seen is not None and seen.admitted and seen.job == "a" and seen.queue == "team-a"
    assert seen.pending_reason is None and seen.evaluated
    pending = observe_workload(workload("b", WAITING))
    assert pending is not None and not pending.admitted
    assert pending.pending_reason == "Pending" and "insufficient" in pending.pending_message
    fresh = observe_workload(workload("c"))
    assert fresh is not None and not fresh.evaluated
    assert observe_workload(workload("d", controller=False)) is None


def test_jobs_waiting_for_quota_are_counted_with_kueues_reason() -> None:
    jobs = [job("a", 0), job("b", 1), job("c", 2), job("done", 3, FINISHED_SUCCEEDED)]
    raw = [workload("a", RESERVED, ADMITTED), workload("b", WAITING)]  # c: no Workload yet
    admission = admission_of("team-a", jobs, [w for w in map(observe_workload, raw) if w])
    assert admission.awaiting == 2  # b waits for quota, c for Kueue to see it
    assert admission.reason == "Pending" and "insufficient unused quota" in admission.message
    assert admission.queue_proven and admission.queue_missing is None
    assert job_window(5, admission) == 5


def test_a_missing_queue_is_named_and_holds_the_window_at_one_job() -> None:
    raw = [workload("a", MISSING)]
    admission = admission_of("team-b", [job("a", 0)], [w for w in map(observe_workload, raw) if w])
    assert admission.queue_missing == "LocalQueue team-b doesn't exist"
    assert not admission.queue_proven and job_window(5, admission) == 1
    view = RunView(
        generation=1,
        folds=FoldCounts(total=10),
        jobs=JobCounts(total=1, active=1),
        summary=None,
        results_uri=None,
    )
    shown = with_admission(view, admission, "ns")
    assert shown.queue_missing is not None and "'team-b'" in shown.queue_missing
    assert "spec.execution.queueName" in shown.queue_missing
    assert shown.jobs.awaiting_admission == 1 and shown.awaiting_admission is not None
    inactive = [w for w in map(observe_workload, [workload("a", BUSY)]) if w]
    assert admission_of("team-a", [job("a", 0)], inactive).queue_missing is None


def test_before_kueue_has_looked_at_any_workload_the_window_is_one_job() -> None:
    assert job_window(5, admission_of("team-a", [], [])) == 1
    fresh = [w for w in map(observe_workload, [workload("a")]) if w]
    assert job_window(5, admission_of("team-a", [job("a", 0)], fresh)) == 1
    assert job_window(5, None) == 5  # no queue: the run's own window


def test_each_preemption_is_told_once_with_the_workload_named() -> None:
    evicted = ("Evicted", "True", "Preempted", PREEMPTED)
    raw = [
        workload(
            "a",
            evicted,
            WAITING,
            evictions=[{"reason": "Preempted", "underlyingCause": "", "count": 1}],
        )
    ]
    seen: set[str] = set()
    admission = admission_of("team-a", [job("a", 4)], [w for w in map(observe_workload, raw) if w])
    fresh = new_preemptions(admission, seen)
    assert [(p.batch, p.job, p.workload, p.count) for p in fresh] == [(4, "a", "job-a-abcde", 1)]
    assert new_preemptions(admission, seen) == []  # told once
    text = preemption_message("ns", fresh[0])
    assert "preempted by Kueue" in text and "ns/job-a-abcde" in text and "prioritization" in text
    # Readmitted, then preempted again: the second one is new.
    raw[0]["status"]["schedulingStats"]["evictions"][0]["count"] = 2
    again = admission_of("team-a", [job("a", 4)], [w for w in map(observe_workload, raw) if w])
    assert [p.count for p in new_preemptions(again, seen)] == [2]


def test_an_evicted_condition_without_stats_still_counts_as_one_preemption() -> None:
    seen = observe_workload(workload("a", ("Evicted", "True", "Preempted", PREEMPTED)))
    assert seen is not None and seen.preemptions == 1
    other = observe_workload(workload("b", ("Evicted", "True", "PodsReadyTimeout", "slow")))
    assert other is not None and other.preemptions == 0


def test_no_queue_reads_nothing_and_no_workload_api_says_kueue_is_missing() -> None:
    def boom() -> list[dict[str, Any]] | None:
        raise AssertionError("listed Workloads for a run without a queue")

    assert read_admission(None, [job("a", 0)], boom) is None
    missing = read_admission("team-a", [job("a", 0)], lambda: None)
    assert isinstance(missing, Admission) and missing.awaiting == 1
    assert missing.reason == "KueueNotInstalled" and "is Kueue installed" in missing.message
    assert job_window(5, missing) == 1
