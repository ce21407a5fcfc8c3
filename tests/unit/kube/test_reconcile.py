"""Reconcile decisions: the window, resubmissions, give-ups, halts, suspend."""

from __future__ import annotations

from loocv_operator.kube.jobs import JobOrder
from loocv_operator.kube.observe import (
    FAILURE_DISRUPTED,
    FAILURE_ERROR,
    FAILURE_INVALID_INPUT,
    FINISHED_FAILED,
    FINISHED_SUCCEEDED,
    ObservedJob,
)
from loocv_operator.kube.reconcile import (
    GIVE_UP_HALTED,
    GIVE_UP_INVALID,
    GIVE_UP_PREEMPTED,
    GIVE_UP_RETRIES,
    Limits,
    decide,
)

LIMITS = Limits(max_concurrent_jobs=3, max_resubmits=2, max_preemption_resubmits=4)


def running(batch: int, attempt: int = 0, **kw: object) -> ObservedJob:
    return ObservedJob(name=f"j{batch}-{attempt}", batch=batch, attempt=attempt, **kw)  # type: ignore[arg-type]


def failed(batch: int, failure: str, attempt: int = 0, **kw: object) -> ObservedJob:
    return ObservedJob(
        name=f"j{batch}-{attempt}",
        batch=batch,
        attempt=attempt,
        finished=FINISHED_FAILED,
        failure=failure,
        message="boom",
        **kw,
    )  # type: ignore[arg-type]


def succeeded(batch: int, attempt: int = 0) -> ObservedJob:
    return ObservedJob(
        name=f"j{batch}-{attempt}", batch=batch, attempt=attempt, finished=FINISHED_SUCCEEDED
    )


def test_a_fresh_run_fills_the_window_in_batch_order() -> None:
    decision = decide(10, set(), [], LIMITS)
    assert decision.create == (JobOrder(0), JobOrder(1), JobOrder(2))
    assert decision.active == 3 and decision.give_up == () and decision.retried == 0


def test_the_window_is_refilled_as_jobs_finish_and_never_exceeded() -> None:
    jobs = [succeeded(0), running(1), running(2)]
    decision = decide(10, {0}, jobs, LIMITS)
    assert decision.create == (JobOrder(3),)
    assert decision.active == 3
    full = decide(10, set(), [running(0), running(1), running(2)], LIMITS)
    assert full.create == () and full.active == 3


def test_done_batches_need_no_job_even_if_their_jobs_are_gone() -> None:
    decision = decide(4, {0, 1, 2}, [], LIMITS)  # TTL removed the finished Jobs
    assert decision.create == (JobOrder(3),)
    assert decide(4, {0, 1, 2, 3}, [], LIMITS).create == ()


def test_a_real_failure_is_resubmitted_first_with_its_count() -> None:
    decision = decide(10, set(), [failed(0, FAILURE_ERROR), running(1)], LIMITS)
    assert decision.create[0] == JobOrder(0, attempt=1, failures_before=1)
    assert decision.create[1:] == (JobOrder(2),)
    assert decision.retried == 1


def test_after_the_bound_the_batch_is_given_up() -> None:
    jobs = [
        failed(0, FAILURE_ERROR, attempt=0),
        failed(0, FAILURE_ERROR, attempt=2, failures_before=2),
    ]
    decision = decide(2, set(), jobs, LIMITS)
    assert [(g.batch, g.reason) for g in decision.give_up] == [(0, GIVE_UP_RETRIES)]
    assert decision.create == (JobOrder(1),)
    assert decision.retried == 2


def test_a_job_that_succeeded_without_results_counts_as_a_failure() -> None:
    decision = decide(1, set(), [succeeded(0)], LIMITS)
    assert decision.create == (JobOrder(0, attempt=1, failures_before=1),)


def test_preemption_is_resubmitted_without_counting_up_to_a_safety_bound() -> None:
    decision = decide(1, set(), [failed(0, FAILURE_DISRUPTED, failures_before=2)], LIMITS)
    assert decision.create == (JobOrder(0, attempt=1, failures_before=2, preemptions_before=1),)
    assert decision.preempted == 1 and decision.give_up == ()
    worn = failed(0, FAILURE_DISRUPTED, attempt=4, preemptions_before=4)
    assert [g.reason for g in decide(1, set(), [worn], LIMITS).give_up] == [GIVE_UP_PREEMPTED]


def test_invalid_input_is_never_retried_and_halts_new_jobs() -> None:
    jobs = [failed(0, FAILURE_INVALID_INPUT), failed(1, FAILURE_ERROR), running(2)]
    decision = decide(5, set(), jobs, LIMITS)
    reasons = {g.batch: g.reason for g in decision.give_up}
    assert reasons == {0: GIVE_UP_INVALID, 1: GIVE_UP_HALTED, 3: GIVE_UP_HALTED, 4: GIVE_UP_HALTED}
    assert decision.create == ()
    assert decision.halted is not None and "batch 0" in decision.halted
    assert decision.active == 1  # batch 2 runs to its end


def test_suspend_and_resume() -> None:
    jobs = [running(0), running(1, suspended=True)]
    suspended = decide(5, set(), jobs, LIMITS, suspended=True)
    assert suspended.create == () and suspended.suspend == ("j0-0",) and suspended.resume == ()
    resumed = decide(5, set(), [running(0, suspended=True), running(1, suspended=True)], LIMITS)
    assert resumed.resume == ("j0-0", "j1-0") and resumed.create == (JobOrder(2),)


def test_kueue_owns_suspension_of_queued_jobs() -> None:
    jobs = [running(0, suspended=True)]
    decision = decide(3, set(), jobs, LIMITS, queue_managed=True)
    assert decision.resume == ()  # Kueue unsuspends when it admits
    assert decision.create == (JobOrder(1), JobOrder(2))
    paused = decide(3, set(), [running(0)], LIMITS, suspended=True, queue_managed=True)
    assert paused.suspend == () and paused.create == ()


def test_only_the_newest_attempt_counts_and_foreign_batches_are_ignored() -> None:
    jobs = [
        failed(0, FAILURE_ERROR, attempt=0),
        running(0, attempt=1, failures_before=1),
        running(99),
    ]
    decision = decide(2, set(), jobs, LIMITS)
    assert decision.create == (JobOrder(1),)
    assert decision.active == 2 and decision.retried == 1


def test_a_remedied_oom_kill_is_resubmitted_without_counting_as_a_failure() -> None:
    """kube/oom.py raised the memory or split the batch: the next attempt keeps the counters
    (so max_resubmits is not spent on OOM kills); an unremedied failure still counts."""
    jobs = [
        failed(0, FAILURE_ERROR, attempt=2, failures_before=2),  # would be given up
        failed(1, FAILURE_ERROR, attempt=0),
    ]
    decision = decide(3, set(), jobs, LIMITS, remedied={0})
    assert decision.give_up == ()
    assert decision.create[0] == JobOrder(0, 3, 2, 0)
    assert decision.create[1] == JobOrder(1, 1, 1, 0)
    assert decision.create[2] == JobOrder(2)
    assert decision.retried == 3  # 2 before (batch 0) + 1 new (batch 1): batch 0's kill is not


def test_a_remedied_batch_of_a_halted_run_is_given_up_not_resubmitted() -> None:
    jobs = [failed(0, FAILURE_ERROR), failed(1, FAILURE_INVALID_INPUT)]
    decision = decide(2, set(), jobs, LIMITS, remedied={0})
    assert decision.create == ()
    assert [(g.batch, g.reason) for g in decision.give_up] == [
        (1, GIVE_UP_INVALID),
        (0, GIVE_UP_HALTED),
    ]
