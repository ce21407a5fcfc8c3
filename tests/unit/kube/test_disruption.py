"""Resubmitting a disrupted batch instead of waiting out the Job controller's backoff
(kubernetes#130881): when, when not, and how it is counted."""

from __future__ import annotations

from typing import Any

from loocv_operator.kube.disruption import (
    disrupted_pods,
    pods_due,
    resubmissions,
    uncounted,
    watching,
)
from loocv_operator.kube.jobs import (
    ANNOTATION_REPLACES,
    STEP_REPORT,
    JobDefaults,
    JobOrder,
    build_job,
)
from loocv_operator.kube.observe import (
    FINISHED_SUCCEEDED,
    ObservedJob,
    ObservedPod,
    observe_job,
    observe_pod,
)
from loocv_operator.spec import parse_spec
from loocv_operator.store import RunLocation

BOUND = 3


def job(batch: int = 0, attempt: int = 0, **kw: Any) -> ObservedJob:
    fields: dict[str, Any] = {"between_pods": True, **kw}
    return ObservedJob(name=f"j{batch}-r{attempt}", batch=batch, attempt=attempt, **fields)


def pod(
    batch: int = 0, attempt: int = 0, phase: str = "Failed", disrupted: bool = True, n: int = 0
) -> ObservedPod:
    return ObservedPod(
        name=f"j{batch}-r{attempt}-{n}",
        batch=batch,
        attempt=attempt,
        disrupted=disrupted,
        waiting=None,
        phase=phase,
    )


def test_a_job_waiting_after_a_disrupted_pod_is_resubmitted_as_the_next_attempt() -> None:
    (out,) = resubmissions([job(failures_before=1, preemptions_before=2)], [pod()], {}, (), BOUND)
    assert out.job == "j0-r0" and out.pod == "j0-r0-0"
    assert out.order == JobOrder(0, 1, 1, 3, replaces=("j0-r0-0",))
    assert "j0-r0-0" in out.message() and "backoff" in out.message()
    assert "kubernetes#130881" in out.message()


def test_the_pods_resubmitted_for_travel_with_the_batch() -> None:
    second = job(attempt=1, preemptions_before=1, replaces=("j0-r0-0",))
    (out,) = resubmissions([second], [pod(attempt=1)], {}, (), BOUND)
    assert out.order.replaces == ("j0-r0-0", "j0-r1-0")
    assert uncounted([second]) == {"j0-r0-0"}


def test_a_pod_gone_since_it_was_seen_disrupted_still_counts() -> None:
    """A real kubelet's preempted pod is deleted once stopped: what was seen is enough."""
    seen = disrupted_pods([pod(phase="Running")])  # stopping, DisruptionTarget already
    assert seen == {(0, 0): "j0-r0-0"}
    assert resubmissions([job(terminating=1)], [pod(phase="Running")], seen, (), BOUND) == ()
    (out,) = resubmissions([job()], [], seen, (), BOUND)
    assert out.pod == "j0-r0-0" and out.order.attempt == 1


def test_nothing_is_resubmitted_while_the_job_has_or_gets_a_pod() -> None:
    ended = [pod()]
    assert resubmissions([job(between_pods=False)], ended, {}, (), BOUND) == ()
    assert resubmissions([job(terminating=1)], ended, {}, (), BOUND) == ()
    for phase in ("Pending", "Running", ""):  # the Job controller's replacement exists
        pods = [*ended, pod(phase=phase, disrupted=False, n=1)]
        assert resubmissions([job()], pods, {}, (), BOUND) == ()


def test_a_real_failure_or_no_disruption_is_left_to_the_job_controller() -> None:
    assert resubmissions([job()], [], {}, (), BOUND) == ()  # before its first pod
    assert resubmissions([job()], [pod(disrupted=False)], {}, (), BOUND) == ()
    failed_too = [pod(), pod(disrupted=False, n=1)]  # counted by backoffLimit: its business
    assert resubmissions([job()], failed_too, {}, (), BOUND) == ()


def test_not_for_kueue_a_done_batch_a_finished_suspended_or_older_job() -> None:
    ended = [pod()]
    assert resubmissions([job()], ended, {}, (), BOUND, queue_managed=True) == ()
    assert resubmissions([job()], ended, {}, {0}, BOUND) == ()
    assert resubmissions([job(finished=FINISHED_SUCCEEDED)], ended, {}, (), BOUND) == ()
    assert resubmissions([job(suspended=True)], ended, {}, (), BOUND) == ()
    newer = job(attempt=1, between_pods=False)
    assert resubmissions([job(), newer], ended, {}, (), BOUND) == ()
    assert resubmissions([job(step=STEP_REPORT, batch=-1)], ended, {}, (), BOUND) == ()


def test_the_preemption_bound_stops_resubmitting() -> None:
    assert resubmissions([job(preemptions_before=BOUND)], [pod()], {}, (), BOUND) == ()
    assert len(resubmissions([job(preemptions_before=BOUND - 1)], [pod()], {}, (), BOUND)) == 1


def test_pods_are_listed_sooner_only_while_a_job_of_ours_has_no_active_pod() -> None:
    running = job(between_pods=False)
    assert not pods_due([running], False) and watching([running], False)
    assert pods_due([running, job(batch=1)], False)
    assert not pods_due([job()], True) and not watching([running], True)  # Kueue's Jobs
    assert not watching([job(finished=FINISHED_SUCCEEDED)], False)


def test_the_job_status_and_annotation_are_read_back() -> None:
    ref = RunLocation("ns", "iris", "uid-1")
    spec = parse_spec(
        {"dataset": {"builtin": "iris"}, "model": {"estimator": "sklearn.naive_bayes.GaussianNB"}}
    )
    order = JobOrder(0, 2, 0, 2, (1, 2), replaces=("p-a", "p-b"))
    body = build_job(ref, spec, "s3://b/plan.json", order, JobDefaults(image="i"))
    assert body["metadata"]["annotations"][ANNOTATION_REPLACES] == "p-a,p-b"
    fresh = observe_job(body)
    assert fresh is not None and fresh.replaces == ("p-a", "p-b") and fresh.between_pods
    body["status"] = {"active": 1}
    running = observe_job(body)
    assert running is not None and not running.between_pods
    body["status"] = {"active": 0, "terminating": 1}
    stopping = observe_job(body)
    assert stopping is not None and stopping.between_pods and stopping.terminating == 1
    plain = build_job(ref, spec, "s3://b/plan.json", JobOrder(1), JobDefaults(image="i"))
    assert ANNOTATION_REPLACES not in plain["metadata"]["annotations"]
    labels = body["spec"]["template"]["metadata"]["labels"]
    raw_pod = {
        "metadata": {"name": "p", "labels": labels},
        "status": {
            "phase": "Failed",
            "conditions": [{"type": "DisruptionTarget", "status": "True"}],
        },
    }
    observed = observe_pod(raw_pod)
    assert observed is not None and observed.ended and observed.disrupted
    assert (observed.batch, observed.attempt) == (0, 2)
