"""Resubmitting a disrupted batch at once, instead of waiting out the Job controller's backoff.

The trainer's podFailurePolicy ignores a pod that ends with ``DisruptionTarget`` (preempted
by the scheduler, evicted): not a failure, the Job makes a new pod. But the Job controller
still waits its backoff before that pod, 10 s and growing (kubernetes#130881; measured in
tests/e2e/test_kueue_backoff.py). So when a trainer Job's pod ended disrupted and the Job has
no pod running or pending, the batch is resubmitted as a new Job (attempt + 1, one more
preemption, the same bound as a Job that failed disrupted: ``max_preemption_resubmits``) and
the old Job is deleted before its controller starts a pod. The new pod skips the folds
already stored; if two pods ever overlap, the ledger counts each fold once.

Only for Jobs the operator runs itself: a queued run's Jobs belong to Kueue, whose own
preemption suspends the Job and backs off nothing. Pure functions; acts.py acts on them.

Cheap to watch: the Jobs' status says when one has no active pod (``between_pods``); only
then are the pods listed between full passes. A real kubelet removes a preempted pod soon
after it stops, so a disrupted pod seen while it stops is remembered by (batch, attempt).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .jobs import STEP_TRAIN, JobOrder
from .observe import ObservedJob, ObservedPod
from .reconcile import latest_attempts

REASON = "Resubmitted"


@dataclass(frozen=True)
class Resubmit:
    job: str  # the Job to delete: it would wait its backoff
    pod: str  # its disrupted pod
    order: JobOrder  # the new Job of the batch

    def message(self) -> str:
        return (
            f"batch {self.order.batch} resubmitted as attempt {self.order.attempt}: its pod "
            f"{self.pod} was disrupted (DisruptionTarget) and Job {self.job} would wait the Job "
            "controller's backoff before a new pod (kubernetes#130881); "
            f"Job {self.job} deleted, the stored folds are kept"
        )


def _ours(job: ObservedJob, queue_managed: bool) -> bool:
    return (
        not queue_managed and job.step == STEP_TRAIN and job.finished is None and not job.suspended
    )


def watching(jobs: Iterable[ObservedJob], queue_managed: bool) -> bool:
    """A trainer Job runs that a disruption would leave waiting: poll every poll interval."""
    return any(_ours(j, queue_managed) for j in jobs)


def pods_due(jobs: Iterable[ObservedJob], queue_managed: bool) -> bool:
    """A trainer Job has no active pod (stopping, between pods): list the pods this pass."""
    return any(_ours(j, queue_managed) and j.between_pods for j in jobs)


def disrupted_pods(pods: Iterable[ObservedPod]) -> dict[tuple[int, int], str]:
    """Trainer pods with DisruptionTarget, by (batch, attempt): remembered, since a real
    kubelet's preempted pod is deleted once it has stopped."""
    return {
        (p.batch, p.attempt): p.name
        for p in sorted(pods, key=lambda p: p.name)
        if p.disrupted and p.step == STEP_TRAIN and p.batch >= 0 and p.attempt >= 0
    }


def resubmissions(
    jobs: Sequence[ObservedJob],
    pods: Sequence[ObservedPod],
    seen: Mapping[tuple[int, int], str],
    done: Collection[int],
    max_preemption_resubmits: int,
    queue_managed: bool = False,
) -> tuple[Resubmit, ...]:
    """The newest attempt of a batch not done, unfinished, with no pod running, pending or
    stopping, whose pods all ended disrupted (listed, or ``seen`` before and gone since):
    resubmitted. A Job with a pod that failed for real, or beyond the preemption bound, is
    left to its controller."""
    if queue_managed:
        return ()
    by_job: dict[tuple[int, int], list[ObservedPod]] = {}
    for pod in sorted(pods, key=lambda p: p.name):
        if pod.step == STEP_TRAIN:
            by_job.setdefault((pod.batch, pod.attempt), []).append(pod)
    out: list[Resubmit] = []
    for batch, job in sorted(latest_attempts(jobs).items()):
        listed = by_job.get((batch, job.attempt), [])
        disrupted = [p.name for p in listed if p.disrupted] or [
            name for name in (seen.get((batch, job.attempt)),) if name
        ]
        if (
            batch in done
            or not _ours(job, queue_managed)
            or not job.between_pods
            or job.terminating
            or not disrupted
            or any(not p.ended or not p.disrupted for p in listed)
            or job.preemptions_before + 1 > max_preemption_resubmits
        ):
            continue
        order = JobOrder(
            batch,
            job.attempt + 1,
            job.failures_before,
            job.preemptions_before + 1,
            replaces=(*job.replaces, disrupted[-1]),
        )
        out.append(Resubmit(job.name, disrupted[-1], order))
    return tuple(out)


def uncounted(jobs: Iterable[ObservedJob]) -> set[str]:
    """Disrupted pods a resubmission already counts (its preemptions-before): not twice."""
    return {pod for j in jobs for pod in j.replaces}
