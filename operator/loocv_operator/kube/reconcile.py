"""What to do next for one run, decided from what is observed: a pure function.

Inputs: how many batches the plan has, which batches are done (every fold has a result in
the store, succeeded or failed), the run's Jobs as the API server lists them, and the
limits. Output: the Jobs to create (new batches in a window of ``maxConcurrentJobs``
active Jobs, resubmissions first), the batches to give up on, Jobs to suspend or resume.

A batch's newest attempt decides its fate. Its Job failing for real is resubmitted as the
next attempt up to ``max_resubmits`` times (the count travels with the Job); a Job whose
pod was preempted or evicted is resubmitted without counting (up to a safety bound); the
trainer's invalid-input exit code is never retried and stops new Jobs for the run (every
batch would fail the same way). Every batch ends done or given up: a run never hangs on a
Job that cannot succeed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from .jobs import JobOrder
from .observe import (
    FAILURE_DISRUPTED,
    FAILURE_INVALID_INPUT,
    FINISHED_FAILED,
    FINISHED_SUCCEEDED,
    ObservedJob,
)

GIVE_UP_RETRIES = "RetriesExhausted"
GIVE_UP_INVALID = "TrainerInvalidInput"
GIVE_UP_HALTED = "RunHalted"
GIVE_UP_PREEMPTED = "PreemptedTooOften"


@dataclass(frozen=True)
class Limits:
    max_concurrent_jobs: int
    max_resubmits: int = 2
    max_preemption_resubmits: int = 20


@dataclass(frozen=True)
class GiveUp:
    batch: int
    reason: str
    message: str


@dataclass(frozen=True)
class Decision:
    create: tuple[JobOrder, ...] = ()
    give_up: tuple[GiveUp, ...] = ()
    suspend: tuple[str, ...] = ()  # Job names to suspend
    resume: tuple[str, ...] = ()  # Job names to unsuspend
    active: int = 0  # Jobs holding a slot of the window (running, queued or suspended)
    retried: int = 0  # resubmissions after real failures, so far (including this decision)
    preempted: int = 0  # Job-level preemptions seen (pods are counted by the caller)
    halted: str | None = None  # why the run creates no more Jobs
    halted_batch: int | None = None  # the batch whose trainer reported invalid input


def latest_attempts(jobs: Iterable[ObservedJob]) -> dict[int, ObservedJob]:
    """The newest attempt of each batch (older attempts are history)."""
    latest: dict[int, ObservedJob] = {}
    for job in jobs:
        if job.batch not in latest or job.attempt > latest[job.batch].attempt:
            latest[job.batch] = job
    return latest


def decide(
    n_batches: int,
    done: Collection[int],
    jobs: Sequence[ObservedJob],
    limits: Limits,
    suspended: bool = False,
    queue_managed: bool = False,
    halted_by: str | None = None,
    remedied: Collection[int] = (),
) -> Decision:
    """``remedied``: batches whose newest attempt was OOM-killed and has been remedied (memory
    raised or batch split, kube/oom.py): resubmitted without counting as a failure."""
    latest = latest_attempts(j for j in jobs if 0 <= j.batch < n_batches)
    active = [j for j in latest.values() if j.finished is None]
    retries: list[JobOrder] = []
    new: list[int] = []
    give_up: list[GiveUp] = []
    halted: str | None = halted_by  # the operator's own reason to stop (folds fail alike)
    halted_batch: int | None = None
    preempted = 0
    for last in latest.values():
        if last.finished == FINISHED_FAILED and last.failure == FAILURE_INVALID_INPUT:
            halted = f"the trainer reported invalid input for batch {last.batch}: {last.message}"
            halted_batch = last.batch
            break

    for batch in range(n_batches):
        if batch in done:
            continue
        job = latest.get(batch)
        if job is None:
            new.append(batch)
            continue
        if job.finished is None:
            continue
        if batch in remedied:
            retries.append(
                JobOrder(batch, job.attempt + 1, job.failures_before, job.preemptions_before)
            )
            continue
        if job.finished == FINISHED_SUCCEEDED:  # exit 0 but folds missing: a real failure
            failure, message = "", f"Job {job.name} succeeded but wrote no result for some folds"
        else:
            failure, message = job.failure or "", f"Job {job.name} failed: {job.message}"
        if failure == FAILURE_INVALID_INPUT:
            give_up.append(GiveUp(batch, GIVE_UP_INVALID, message))
        elif failure == FAILURE_DISRUPTED:
            preempted += 1
            if job.preemptions_before + 1 > limits.max_preemption_resubmits:
                give_up.append(GiveUp(batch, GIVE_UP_PREEMPTED, message))
            else:
                retries.append(
                    JobOrder(
                        batch,
                        job.attempt + 1,
                        job.failures_before,
                        job.preemptions_before + 1,
                    )
                )
        elif job.failures_before + 1 > limits.max_resubmits:
            give_up.append(GiveUp(batch, GIVE_UP_RETRIES, message))
        else:
            retries.append(
                JobOrder(batch, job.attempt + 1, job.failures_before + 1, job.preemptions_before)
            )

    if halted is not None:
        give_up += [GiveUp(b, GIVE_UP_HALTED, f"not run: {halted}") for b in new]
        give_up += [GiveUp(o.batch, GIVE_UP_HALTED, f"not retried: {halted}") for o in retries]
        new, retries = [], []

    create: list[JobOrder] = []
    suspend: list[str] = []
    resume: list[str] = []
    if suspended:
        if not queue_managed:  # Kueue owns spec.suspend of queued Jobs
            suspend = [j.name for j in active if not j.suspended]
    else:
        if not queue_managed:
            resume = [j.name for j in active if j.suspended]
        slots = max(0, limits.max_concurrent_jobs - len(active))
        create = (retries + [JobOrder(b) for b in new])[:slots]

    counted = sum(j.failures_before for j in latest.values())
    counted += sum(
        1
        for o in create
        if o.batch in latest and o.failures_before > latest[o.batch].failures_before
    )
    preempted += sum(j.preemptions_before for j in latest.values())
    return Decision(
        create=tuple(create),
        give_up=tuple(give_up),
        suspend=tuple(suspend),
        resume=tuple(resume),
        active=len(active) + len(create),
        retried=counted,
        preempted=preempted,
        halted=halted,
        halted_batch=halted_batch,
    )
