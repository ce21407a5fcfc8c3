"""Kueue admission of a run's Jobs, read from Kueue's Workloads: a pure reading.

Why: a Job with ``kueue.x-k8s.io/queue-name`` is created suspended and waits for Kueue to
admit it; nothing in the Job says whether it waits for quota, for a queue that does not
exist, or was admitted and then preempted (Kueue suspends it again, and its pods end without
a ``DisruptionTarget`` condition). Kueue's Workload for the Job says all three. From the
run's Jobs and the namespace's Workloads this module tells how many Jobs await admission and
why, whether the queue is missing, which preemptions are new, and how wide the Job window
may be: one Job until Kueue has shown the queue exists, so a misspelt queue never piles up
``maxConcurrentJobs`` suspended Jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .observe import ObservedJob
from .status import RunView

GROUP = "kueue.x-k8s.io"
VERSION = "v1beta2"
WORKLOADS = "workloads"

QUOTA_RESERVED = "QuotaReserved"
ADMITTED = "Admitted"
EVICTED = "Evicted"
FINISHED = "Finished"
REASON_PREEMPTED = "Preempted"
# QuotaReserved=False reasons under which Kueue reports a queue that is wrong, not busy
# (v0.19 still writes the legacy "Inadmissible" for a LocalQueue that does not exist).
MISCONFIGURED = frozenset({"Misconfigured", "Inadmissible"})
MISSING_MARKER = "doesn't exist"  # Kueue: "LocalQueue q doesn't exist", "ClusterQueue c …"


@dataclass(frozen=True)
class ObservedWorkload:
    """A Kueue Workload as the operator needs it."""

    name: str
    uid: str
    job: str  # the owning Job's name (Kueue's controller ownerReference)
    queue: str
    admitted: bool = False  # Admitted=True: quota reserved and every check passed
    finished: bool = False
    pending_reason: str | None = None  # QuotaReserved=False: Kueue's reason, and its message
    pending_message: str = ""
    evicted_message: str = ""  # the last Evicted=True condition's message (preemption says who)
    preemptions: int = 0  # how many times Kueue evicted it to preempt it

    @property
    def evaluated(self) -> bool:
        """Kueue has looked at it (a new Workload has no condition yet)."""
        return self.admitted or self.finished or self.pending_reason is not None

    @property
    def queue_missing(self) -> bool:
        return self.pending_reason in MISCONFIGURED and MISSING_MARKER in self.pending_message


def _conditions(raw: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in (raw.get("status") or {}).get("conditions") or []}


def observe_workload(raw: Mapping[str, Any]) -> ObservedWorkload | None:
    """Read a Workload dict; None if no Job owns it."""
    meta = raw.get("metadata") or {}
    owner = next(
        (
            o
            for o in meta.get("ownerReferences") or []
            if o.get("kind") == "Job" and o.get("controller")
        ),
        None,
    )
    if owner is None:
        return None
    conditions = _conditions(raw)

    def true(type_: str) -> bool:
        return conditions.get(type_, {}).get("status") == "True"

    reserved = conditions.get(QUOTA_RESERVED)
    pending = reserved is not None and reserved.get("status") == "False"
    evictions = ((raw.get("status") or {}).get("schedulingStats") or {}).get("evictions") or []
    preemptions = sum(
        int(e.get("count") or 0) for e in evictions if e.get("reason") == REASON_PREEMPTED
    )
    evicted = conditions.get(EVICTED, {})
    if not preemptions and evicted.get("status") == "True":
        preemptions = int(evicted.get("reason") == REASON_PREEMPTED)
    return ObservedWorkload(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        job=str(owner.get("name", "")),
        queue=str((raw.get("spec") or {}).get("queueName") or ""),
        admitted=true(ADMITTED),
        finished=true(FINISHED),
        pending_reason=str(reserved.get("reason") or "Pending") if pending and reserved else None,
        pending_message=str(reserved.get("message") or "") if pending and reserved else "",
        evicted_message=str(evicted.get("message") or ""),
        preemptions=preemptions,
    )


@dataclass(frozen=True)
class Preemption:
    """Kueue preempted the Job of a batch (its ``count``-th preemption)."""

    batch: int
    job: str
    workload: str
    count: int
    message: str

    @property
    def key(self) -> str:
        """Unique per preemption, to tell each one once (Events, counts)."""
        return f"kueue:{self.workload}:{self.count}"


@dataclass(frozen=True)
class Admission:
    """Kueue's view of a run's active Jobs."""

    queue: str
    awaiting: int = 0  # active Jobs not admitted (suspended, waiting for quota or the queue)
    admitted: int = 0  # active Jobs Kueue has admitted
    reason: str = ""  # Kueue's reason and message for the first waiting Job
    message: str = ""
    queue_missing: str | None = None  # Kueue's message when the queue does not exist
    queue_proven: bool = False  # some Workload of the run sits in a queue that exists
    preemptions: tuple[Preemption, ...] = ()


def admission_of(
    queue: str, jobs: Sequence[ObservedJob], workloads: Iterable[ObservedWorkload]
) -> Admission:
    """How the run's active Jobs stand with Kueue (a Job with no Workload yet waits too)."""
    by_job = {w.job: w for w in workloads}
    mine = [by_job[j.name] for j in jobs if j.name in by_job]
    active = [j for j in jobs if j.finished is None]
    waiting = [j for j in active if j.name not in by_job or not by_job[j.name].admitted]
    first = next(
        (by_job[j.name] for j in waiting if j.name in by_job and by_job[j.name].pending_reason),
        None,
    )
    missing = next((w for w in mine if w.queue_missing), None)
    batches = {j.name: j.batch for j in jobs}
    return Admission(
        queue=queue,
        awaiting=len(waiting),
        admitted=len(active) - len(waiting),
        reason=(first.pending_reason or "") if first else "",
        message=first.pending_message if first else "",
        queue_missing=missing.pending_message if missing else None,
        queue_proven=any(w.evaluated and not w.queue_missing for w in mine),
        preemptions=tuple(
            Preemption(batches[w.job], w.job, w.name, n, w.evicted_message)
            for w in mine
            for n in range(1, w.preemptions + 1)
        ),
    )


def read_admission(
    queue: str | None,
    jobs: Sequence[ObservedJob],
    list_workloads: Callable[[], list[dict[str, Any]] | None],
) -> Admission | None:
    """The run's Admission (None for a run without a queue); ``list_workloads`` returns
    None when the cluster has no Workload API (Kueue is not installed)."""
    if not queue:
        return None
    raw = list_workloads()
    if raw is None:
        waiting = sum(1 for j in jobs if j.finished is None)
        return Admission(
            queue=queue,
            awaiting=waiting,
            reason="KueueNotInstalled",
            message=f"the cluster has no {GROUP}/{VERSION} Workload API: is Kueue installed?",
        )
    observed = (observe_workload(w) for w in raw)
    return admission_of(queue, jobs, [w for w in observed if w is not None])


def job_window(max_concurrent_jobs: int, admission: Admission | None) -> int:
    """The Job window: the run's own, once Kueue has shown the queue exists; one Job before
    (it makes Kueue say whether the queue exists) and while it is missing."""
    if admission is None or (admission.queue_proven and admission.queue_missing is None):
        return max_concurrent_jobs
    return 1


def new_preemptions(admission: Admission | None, seen: set[str]) -> list[Preemption]:
    """The preemptions not told yet; marks them seen."""
    fresh = [p for p in (admission.preemptions if admission else ()) if p.key not in seen]
    seen.update(p.key for p in fresh)
    return fresh


def preemption_message(namespace: str, preemption: Preemption) -> str:
    text = (
        f"batch {preemption.batch} (Job {preemption.job}) preempted by Kueue: Workload "
        f"{namespace}/{preemption.workload} was evicted"
    )
    if preemption.message:
        text += f" ({preemption.message})"
    return text + "; it waits for readmission and resumes from the folds it stored"


def waiting_message(admission: Admission, awaiting: int) -> str:
    """For the Progressing condition: how many Jobs wait, where, and Kueue's word on why."""
    text = f"{awaiting} Jobs await admission by Kueue (LocalQueue {admission.queue!r})"
    return f"{text}: {admission.message}" if admission.message else text


def queue_missing_message(namespace: str, admission: Admission) -> str:
    return (
        f"LocalQueue {admission.queue!r} (spec.execution.queueName) cannot admit Jobs in "
        f"namespace {namespace}: Kueue says {admission.queue_missing!r}. Create the "
        f"LocalQueue (and its ClusterQueue) or fix the queue name; one Job waits meanwhile"
    )


def planner_queue_missing(
    queue: str | None,
    job: ObservedJob,
    list_workloads: Callable[[], list[dict[str, Any]] | None],
    namespace: str,
) -> str | None:
    """The planner Job is queued too: what to say while its LocalQueue does not exist."""
    admission = read_admission(queue, [job], list_workloads)
    if admission is None or admission.queue_missing is None or job.finished is not None:
        return None
    return queue_missing_message(namespace, admission)


def with_admission(view: RunView, admission: Admission | None, namespace: str) -> RunView:
    """The run's view with Kueue's part: Jobs awaiting admission (the Jobs created in this
    pass too: they are created suspended), a missing queue."""
    if admission is None:
        return view
    awaiting = max(0, view.jobs.active - admission.admitted)
    return replace(
        view,
        jobs=view.jobs.model_copy(update={"awaiting_admission": awaiting}),
        awaiting_admission=waiting_message(admission, awaiting) if awaiting else None,
        queue_missing=queue_missing_message(namespace, admission)
        if admission.queue_missing
        else None,
    )
