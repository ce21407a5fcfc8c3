"""OOM-killed trainer pods: told in the run's Events, and remediated.

Why: a Job's own failure says only "PodFailurePolicy"/"BackoffLimitExceeded"; what the user
needs is on the pod — the kubelet's ``OOMKilled`` or the trainer's termination message.

Remediation, in this order (each OOM-killed attempt is handled once, recorded in plan.json):

1. **Raise the memory** while the killed pod's limit is under the cap the cluster admin set
   (``--trainer-memory-cap``, chart ``trainer.memoryCap``): the run's trainer pods get twice
   the killed pod's limit, at most the cap, as request and limit. First, because in LOOCV
   every fold trains on nearly the same rows: a batch that needs more memory is almost
   always a model that needs more, and splitting it would only repeat the kill per fold.
   Run-wide, because the other batches need it as well.
2. **Split the batch** once the killed pod already had the cap: its folds without a result
   are cut in two batches (the first keeps the batch number, the second gets a new one),
   both resubmitted, down to one fold per batch. This isolates a fold that needs more than
   the others (a larger training set in KFold or LeaveOneGroupOut, an unusual sample).
3. A **single fold killed at the cap** is recorded as failed, error ``OOMKilled``: it counts
   as failed (visible per fold in predictions.csv and the report), not as missing.

Neither a raise nor a split counts against ``--max-resubmits`` (``reconcile.decide`` is told
which batches were remedied); both are bounded: the memory only grows to the cap, and a
split halves the folds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, Decimal, InvalidOperation

from ..oomlog import ACTION_FAILED, ACTION_RAISED, ACTION_SPLIT, OomLog, OomStep
from ..plan import Plan
from .jobs import EXIT_KILLED
from .observe import FINISHED_FAILED, ObservedJob, ObservedPod

OOM_REASON = "OOMKilled"
PLANNER_OOM_REASON = "PlannerOOMKilled"  # the run's Failed reason: its planner pod was
MEMORY_FIELD = "spec.execution.resources.limits.memory"
MAX_MESSAGE = 600
RAISE_FACTOR = 2

Emit = Callable[[str, str, str], None]  # (type, reason, message)

_SUFFIXES = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def memory_bytes(quantity: str | None) -> int | None:
    """A Kubernetes memory quantity in bytes (``512Mi``, ``1.5G``, ``1e9``); None if absent
    or unreadable."""
    if quantity is None:
        return None
    text = str(quantity).strip()
    number, suffix = text, ""
    for s in sorted(_SUFFIXES, key=len, reverse=True):
        if s and text.endswith(s):
            number, suffix = text[: -len(s)], s
            break
    try:
        value = Decimal(number) * _SUFFIXES[suffix]
    except (InvalidOperation, ValueError):
        return None
    return int(value.to_integral_value(rounding=ROUND_CEILING)) if value > 0 else None


def memory_quantity(n_bytes: int) -> str:
    """Bytes as a quantity in whole Mi (rounded up): what a human reads in a pod spec."""
    return f"{math.ceil(n_bytes / 2**20)}Mi"


@dataclass(frozen=True)
class OomPolicy:
    base_memory: str | None  # the limit trainer pods get without remediation (None: none)
    cap: str | None  # the admin's cap on raised memory (None: never raise)


@dataclass(frozen=True)
class Remedy:
    plan: Plan  # with the new batches and the updated oom log
    steps: tuple[OomStep, ...]  # taken in this pass: an Event each; "failed" ones are given up


def killed_attempts(
    jobs: Iterable[ObservedJob], pods: Iterable[ObservedPod]
) -> list[tuple[ObservedJob, ObservedPod]]:
    """The newest attempt of each batch, finished failed, with a pod the kernel OOM-killed."""
    latest: dict[int, ObservedJob] = {}
    for job in jobs:
        if job.batch not in latest or job.attempt > latest[job.batch].attempt:
            latest[job.batch] = job
    found: dict[int, tuple[ObservedJob, ObservedPod]] = {}
    for pod in pods:
        found_job = latest.get(pod.batch)
        if (
            found_job is not None
            and found_job.finished == FINISHED_FAILED
            and pod.attempt == found_job.attempt
            and pod.terminated is not None
            and pod.terminated[0] == OOM_REASON
            and not pod.disrupted
        ):
            found.setdefault(found_job.batch, (found_job, pod))
    return [found[b] for b in sorted(found)]


def remedy(
    plan: Plan,
    jobs: Sequence[ObservedJob],
    pods: Sequence[ObservedPod],
    has_result: Collection[int],
    policy: OomPolicy,
) -> Remedy:
    """What to do about every OOM-killed attempt not handled yet (a pure function)."""
    log = plan.oom
    batches = [list(b) for b in plan.batches]
    steps: list[OomStep] = []
    cap = memory_bytes(policy.cap)
    for job, _pod in killed_attempts(jobs, pods):
        if log.handled(job.batch, job.attempt) is not None or job.batch >= len(batches):
            continue
        killed = memory_bytes(job.memory_limit)
        remaining = [f for f in batches[job.batch] if f not in has_result]
        if not remaining:
            continue  # every fold stored before the kill: the batch is done
        if killed is not None and cap is not None and killed < cap:
            current = memory_bytes(log.memory or policy.base_memory) or 0
            raised = memory_quantity(max(current, min(RAISE_FACTOR * killed, cap)))
            step = OomStep(job.batch, job.attempt, ACTION_RAISED, job.memory_limit, raised)
            log = replace(log, memory=raised)
        elif len(remaining) > 1:
            moved = remaining[math.ceil(len(remaining) / 2) :]
            batches[job.batch] = [f for f in batches[job.batch] if f not in moved]
            batches.append(moved)
            step = OomStep(
                job.batch,
                job.attempt,
                ACTION_SPLIT,
                job.memory_limit,
                log.memory,
                new_batch=len(batches) - 1,
                folds=tuple(moved),
            )
        else:
            step = OomStep(
                job.batch, job.attempt, ACTION_FAILED, job.memory_limit, folds=tuple(remaining)
            )
        log = replace(log, steps=(*log.steps, step))
        steps.append(step)
    if not steps:
        return Remedy(plan, ())
    return Remedy(replace(plan, batches=batches, oom=log), tuple(steps))


def remedied(log: OomLog, jobs: Iterable[ObservedJob]) -> set[int]:
    """Batches whose newest attempt was OOM-killed and raised or split: resubmitted by
    ``reconcile.decide`` without counting against the resubmission limit."""
    latest: dict[int, ObservedJob] = {}
    for job in jobs:
        if job.batch not in latest or job.attempt > latest[job.batch].attempt:
            latest[job.batch] = job
    out: set[int] = set()
    for batch, job in latest.items():
        step = log.handled(batch, job.attempt)
        if job.finished is not None and step is not None and step.action != ACTION_FAILED:
            out.add(batch)
    return out


def step_event(step: OomStep) -> tuple[str, str, str]:
    """The Event (type, reason, message) that tells a step."""
    reason = {ACTION_RAISED: "MemoryRaised", ACTION_SPLIT: "BatchSplit"}.get(step.action)
    if reason is None:
        return ("Warning", "FoldOOMKilled", step.message())
    return ("Normal", reason, step.message())


def pod_failure_events(
    pods: Iterable[ObservedPod], seen: set[str], memory_limit: str | None, emit: Emit
) -> None:
    """Emit one Warning Event per failed pod not in ``seen`` (updated); preemptions have
    their own accounting and are skipped."""
    for pod in pods:
        if pod.terminated is None or pod.disrupted or pod.name in seen:
            continue
        seen.add(pod.name)
        reason, code, message = pod.terminated
        where = f"batch {pod.batch}" if pod.batch >= 0 else f"the {pod.step} step"
        if reason == OOM_REASON:
            had = pod.memory_limit or memory_limit
            limit = f" of {had}" if had else ""
            emit(
                "Warning",
                OOM_REASON,
                f"{where}: pod {pod.name} exceeded its memory limit{limit} and was "
                f"killed (OOMKilled); {_oom_advice(pod)}",
            )
        else:
            said = f": {message[-MAX_MESSAGE:]}" if message else ""
            emit(
                "Warning",
                "TrainerFailed",
                f"{where}: pod {pod.name} exited {code} ({reason}){said}",
            )


def _oom_advice(pod: ObservedPod) -> str:
    """A trainer's batch is remediated here; a planner's or report's pod is not."""
    if pod.batch >= 0:
        return (
            "the operator raises the memory up to its cap (--trainer-memory-cap), "
            "then splits the batch"
        )
    return f"raise {MEMORY_FIELD}"


def planner_oom(job: ObservedJob, pods: Iterable[ObservedPod]) -> str | None:
    """Why the run fails when its planner pod was OOM-killed (the kubelet's ``OOMKilled``,
    or a SIGKILL, exit 137, of a pod not preempted): the limit it had and the field to
    raise. None for any other failure. The planner is not remediated: it runs with the run's
    resources, which only the manifest may change."""
    for pod in pods:
        if pod.terminated is None or pod.disrupted:
            continue
        reason, code, _ = pod.terminated
        if reason == OOM_REASON or code == EXIT_KILLED:
            how = "OOM-killed" if reason == OOM_REASON else f"killed (exit code {code}, SIGKILL)"
            return _planner_oom_message(f"pod {pod.name} was {how}", pod.memory_limit, job)
    if f"exit code {EXIT_KILLED}" in job.message:  # its pod is gone; the Job says how it ended
        return _planner_oom_message(f"Job {job.name} was killed (exit code 137)", None, job)
    return None


def _planner_oom_message(what: str, limit: str | None, job: ObservedJob) -> str:
    had = limit or job.memory_limit
    where = f"at its memory limit of {had}" if had else "with no memory limit set"
    return (
        f"the planner {what} {where}: it loads the data and fits the model once on a "
        f"subsample before any fold runs; raise {MEMORY_FIELD} (the planner, trainer and "
        "report pods get the run's resources)"
    )
