"""Where a run stands, computed from what is observed — its Jobs, their pods, the stored
folds — and never read back from the status it last wrote: a pure view.

Counts (folds done, failed, running; Jobs active, retried, preempted, given up), what waits
(batches without a Job slot, pods that cannot start or be scheduled) and whether the run is
done. Resubmissions and preemptions come from the counters the newest attempt of each batch
carries in its annotations (they survive an operator restart), Kueue's preemptions from
its Workloads (kueue.py); given-up batches from the folds the operator recorded as not run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

from ..plan import Plan
from .disruption import uncounted
from .finale import Report
from .kueue import Admission, with_admission
from .observe import FINISHED_FAILED, FINISHED_SUCCEEDED, ObservedJob, ObservedPod
from .reconcile import Decision, latest_attempts
from .runstate import TrackedRun
from .status import RunView
from .tally import Tally
from .usage import BUDGET_REASON
from .wire import FoldCounts, JobCounts


@dataclass(frozen=True)
class Progress:
    folds: FoldCounts
    jobs: JobCounts
    waiting: str | None  # why a pod cannot start (image pull, missing Secret)
    unschedulable: str | None  # the scheduler's word on a pod no node can take
    batches_waiting: bool  # a batch waits for a Job slot (or the probe): poll often
    done: bool  # every fold has a result
    admission: Admission | None = None  # Kueue's view of the Jobs (a run with a queueName)


def done_batches(plan: Plan, tally: Tally) -> set[int]:
    return {b for b, folds in enumerate(plan.batches) if tally.has(folds)}


def given_up_batches(plan: Plan, tally: Tally) -> set[int]:
    return {b for b, folds in enumerate(plan.batches) if any(f in tally.not_run for f in folds)}


def progress_of(
    plan: Plan,
    tally: Tally,
    jobs: Sequence[ObservedJob],
    pods: Sequence[ObservedPod],
    decision: Decision,
    suspended: bool = False,
    preempted_seen: Set[str] = frozenset(),
    admission: Admission | None = None,
) -> Progress:
    """The run's progress after ``decision`` is acted on (its new Jobs count as active).
    ``preempted_seen``: the preempted pods seen before — a real kubelet deletes a preempted
    pod soon after, and a preemption that happened does not un-happen."""
    done = done_batches(plan, tally)
    given_up = given_up_batches(plan, tally)
    latest = latest_attempts(jobs)
    running = {b for b, j in latest.items() if j.finished is None}
    running |= {o.batch for o in decision.create}
    finished = tally.computed + len(tally.not_run) >= plan.n_folds
    folds = FoldCounts(
        total=plan.n_folds,
        done=tally.computed,
        succeeded=tally.succeeded,
        failed=tally.failed,
        running=sum(
            1
            for b in running
            if b < len(plan.batches)
            for f in plan.batches[b]
            if f not in tally.stored
        ),
        missing=plan.n_folds - tally.computed if finished else 0,
    )
    # One key per preemption, whoever saw it: a disrupted pod, or Kueue's Workload (whose
    # keys acts.pods also records in ``preempted_seen``).
    preemptions = {p.name for p in pods if p.disrupted} | set(preempted_seen)
    preemptions -= uncounted(jobs)  # counted by the Job resubmitted for them (disruption.py)
    preemptions |= {k.key for k in admission.preemptions} if admission else set()
    job_counts = JobCounts(
        total=len(jobs) + len(decision.create),
        batches=len(plan.batches),
        active=decision.active,
        succeeded=sum(1 for j in jobs if j.finished == FINISHED_SUCCEEDED),
        failed=sum(1 for j in jobs if j.finished == FINISHED_FAILED),
        retried=decision.retried,
        preempted=decision.preempted + len(preemptions),
        given_up=len(given_up | {g.batch for g in decision.give_up}),
    )
    waiting_batches = plan.batching.probing or any(
        b not in done and b not in running and b not in given_up for b in range(len(plan.batches))
    )
    return Progress(
        folds=folds,
        jobs=job_counts,
        waiting=next((p.waiting for p in pods if p.waiting), None),
        unschedulable=next((p.unschedulable for p in pods if p.unschedulable), None),
        batches_waiting=not suspended and waiting_batches,
        done=finished,
        admission=admission,
    )


def view_of(
    run: TrackedRun,
    plan: Plan,
    progress: Progress,
    summary: Mapping[str, Any] | None,
    report: Report | None = None,
) -> RunView:
    """Everything the status is made from; ``report`` (report.json) once the run is done:
    then its usage too (the usage.json the report Job was given), and the folds not
    computed are missing (a run its budget stopped)."""
    folds = progress.folds
    if report is not None:
        folds = folds.model_copy(update={"missing": folds.total - folds.done})
    view = RunView(
        generation=run.generation,
        folds=folds,
        jobs=progress.jobs,
        summary=summary,
        results_uri=run.uri,
        suspended=run.suspend,
        finished=report is not None,
        verdict=report.verdict if report is not None else None,
        halted=run.stop.message if run.stop else run.budget_stop,
        halt_reason=run.stop.reason if run.stop else _budget_reason(run),
        waiting=progress.waiting,
        unschedulable=progress.unschedulable,
        batching=plan.batching.to_json(),
        baseline=report.baseline if report is not None else None,
        oom=plan.oom,  # what was done about OOM-killed pods (plan.json's log)
        usage=(report.usage if report is not None else None) or _usage(run, progress),
        budget_exceeded=run.accounting.blocked if run.accounting is not None else None,
    )
    return with_admission(view, progress.admission, run.ref.namespace)


def _usage(run: TrackedRun, progress: Progress) -> dict[str, Any] | None:
    """What the run used as of the last listing of its pods (kube/accounting.py)."""
    if run.accounting is None or run.results is None:
        return None
    jobs = progress.jobs
    compute = run.results.tally.compute()
    return run.accounting.current(compute, jobs.retried, jobs.preempted).to_json()


def _budget_reason(run: TrackedRun) -> str:
    return BUDGET_REASON if run.budget_stop else "TrainerInvalidInput"
