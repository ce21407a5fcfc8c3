"""Cluster accounting, pure: observed pods -> what a run used; usage + budget + the next
Jobs -> how many of them may be created.

A pod is counted once by its uid, whatever happens to it (succeeded, failed, preempted or
still running): its *requested* cores, GPUs and memory (as the scheduler reserves them;
a limit stands in for a missing request, as the API server defaults it) times the time its
trainer container ran, from the container's ``startedAt`` to its ``finishedAt``, or to now
while it runs. The Job controller deletes pods with their Job (``ttlSecondsAfterFinished``),
so the ledger keeps every pod it has seen; one that vanished while running is counted up to
when it was last seen. The ledger is persisted in the store (usage.json) so an operator
restart neither loses nor double-counts a pod.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from ..spec import BudgetSpec
from ..usage import Usage

GIB = 1024**3
BUDGET_REASON = "BudgetExceeded"


@dataclass(frozen=True)
class Requests:
    """What one pod asks the scheduler for."""

    cores: float = 0.0
    gpus: float = 0.0
    memory_gib: float = 0.0


def _quantity(value: Any) -> float:
    try:
        parsed = parse_quantity(value)
    except (ValueError, TypeError, ArithmeticError):
        return 0.0
    number = float(parsed) if isinstance(parsed, Decimal | int | float) else 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


def _is_gpu(resource: str) -> bool:
    return resource == "gpu" or resource.endswith("/gpu")


def container_requests(containers: Iterable[Mapping[str, Any]]) -> Requests:
    """Summed over the containers: requests, else limits (the API server's defaulting)."""
    cores = gpus = memory = 0.0
    for container in containers:
        resources = container.get("resources") or {}
        named = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        cores += _quantity(named.get("cpu", 0))
        memory += _quantity(named.get("memory", 0)) / GIB
        gpus += sum(_quantity(v) for k, v in named.items() if _is_gpu(str(k)))
    return Requests(cores, gpus, memory)


def api_time(value: Any) -> float | None:
    """An RFC 3339 time as the API server writes it, in epoch seconds; None if absent."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class PodUsage:
    """One pod of a run, as last seen."""

    uid: str
    requests: Requests
    started: float | None  # the earliest container start (epoch seconds)
    finished: float | None  # the last container end, once every container ended
    seen: float  # when the operator last saw it
    preempted: bool = False
    succeeded: bool = False

    def running_seconds(self, now: float, live: bool) -> float:
        if self.started is None:
            return 0.0
        end = self.finished if self.finished is not None else (now if live else self.seen)
        return max(0.0, end - self.started)

    def to_json(self) -> dict[str, Any]:
        r = self.requests
        return {
            "uid": self.uid,
            "cores": r.cores,
            "gpus": r.gpus,
            "memoryGiB": r.memory_gib,
            "started": self.started,
            "finished": self.finished,
            "seen": self.seen,
            "preempted": self.preempted,
            "succeeded": self.succeeded,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PodUsage:
        return cls(
            uid=str(data["uid"]),
            requests=Requests(
                float(data.get("cores") or 0),
                float(data.get("gpus") or 0),
                float(data.get("memoryGiB") or 0),
            ),
            started=data.get("started"),
            finished=data.get("finished"),
            seen=float(data.get("seen") or 0),
            preempted=bool(data.get("preempted")),
            succeeded=bool(data.get("succeeded")),
        )


def pod_usage(pod: Mapping[str, Any], now: float) -> PodUsage | None:
    """A pod dict as the API server lists it; None without a uid."""
    meta = pod.get("metadata") or {}
    uid = meta.get("uid")
    if not uid:
        return None
    status = pod.get("status") or {}
    starts: list[float] = []
    ends: list[float] = []
    statuses = status.get("containerStatuses") or []
    for container in statuses:
        state = container.get("state") or {}
        running, terminated = state.get("running") or {}, state.get("terminated") or {}
        start = api_time(running.get("startedAt")) or api_time(terminated.get("startedAt"))
        if start is not None:
            starts.append(start)
        end = api_time(terminated.get("finishedAt"))
        if end is not None:
            ends.append(end)
    all_ended = bool(statuses) and len(ends) == len(statuses)
    preempted = any(
        c.get("type") == "DisruptionTarget" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return PodUsage(
        uid=str(uid),
        requests=container_requests((pod.get("spec") or {}).get("containers") or []),
        started=min(starts) if starts else None,
        finished=max(ends) if all_ended and starts else None,
        seen=now,
        preempted=preempted,
        succeeded=status.get("phase") == "Succeeded",
    )


@dataclass
class PodLedger:
    """Every pod of a run ever seen, by uid."""

    pods: dict[str, PodUsage]
    live: frozenset[str] = frozenset()  # uids in the latest listing, not finished

    @classmethod
    def empty(cls) -> PodLedger:
        return cls({})

    def observe(self, listed: Sequence[PodUsage]) -> bool:
        """Fold in a listing of the run's pods; True when what is persisted changed (a pod
        appeared, started, finished or vanished)."""
        changed = False
        seen = {p.uid for p in listed}
        for pod in listed:
            old = self.pods.get(pod.uid)
            if old is not None and old.started is not None:
                pod = replace(pod, started=min(old.started, pod.started or old.started))
            if old is None or (old.started, old.finished) != (pod.started, pod.finished):
                changed = True
            self.pods[pod.uid] = pod
        for uid, pod in list(self.pods.items()):
            if uid not in seen and pod.finished is None:
                # Gone (its Job deleted) before it was seen finished: count it to last seen.
                end = pod.seen if pod.started is not None else None
                self.pods[uid] = replace(pod, finished=end, started=pod.started)
                changed = changed or pod.started is not None
        self.live = frozenset(p.uid for p in listed if p.finished is None)
        return changed

    def usage(self, now: float, retries: int = 0, preemptions: int = 0) -> Usage:
        core = gpu = memory = 0.0
        started = running = 0
        for pod in self.pods.values():
            live = pod.uid in self.live
            seconds = pod.running_seconds(now, live)
            core += seconds * pod.requests.cores
            gpu += seconds * pod.requests.gpus
            memory += seconds * pod.requests.memory_gib
            started += pod.started is not None
            running += live and pod.started is not None
        return Usage(
            executor="cluster",
            core_seconds=core,
            gpu_seconds=gpu,
            memory_gib_seconds=memory,
            pods_started=started,
            pods_running=running,
            retries=retries,
            preemptions=preemptions,
        )

    def mean_pod_seconds(self) -> float | None:
        """How long a finished, not preempted pod ran, on average: what the next one costs."""
        done = [
            p.running_seconds(0.0, False)
            for p in self.pods.values()
            if p.finished is not None and p.succeeded and not p.preempted
        ]
        return sum(done) / len(done) if done else None

    def running(self, now: float) -> list[tuple[Requests, float]]:
        """(requests, seconds so far) of the pods running now."""
        return [
            (p.requests, p.running_seconds(now, True))
            for uid, p in self.pods.items()
            if uid in self.live and p.started is not None
        ]

    def to_json(self) -> dict[str, Any]:
        return {"pods": [p.to_json() for p in self.pods.values()]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PodLedger:
        pods = [PodUsage.from_json(p) for p in data.get("pods") or []]
        return cls({p.uid: p for p in pods})


# ------------------------------------------------------------------------------ the budget


@dataclass(frozen=True)
class BudgetCheck:
    allowed: int  # how many of the proposed Jobs may be created
    message: str | None = None  # when some may not: the figures, for BudgetExceeded


def expected_job_seconds(
    ledger: PodLedger,
    folds_per_job: int,
    per_fold_seconds: float | None,
    pod_overhead_seconds: float | None,
) -> float:
    """What the next pod will run for: the mean of the run's finished pods; before any
    finished, the probe's per-fold time x folds per Job + its pod overhead; else 0 (then
    only what is already used counts, and the budget may be passed by the Jobs running)."""
    mean = ledger.mean_pod_seconds()
    if mean is not None:
        return mean
    if per_fold_seconds is not None:
        return per_fold_seconds * max(1, folds_per_job) + (pod_overhead_seconds or 0.0)
    return 0.0


def check_budget(
    budget: BudgetSpec | None,
    usage: Usage,
    running: Sequence[tuple[Requests, float]],
    per_job: Requests,
    job_seconds: float,
    proposed: int,
) -> BudgetCheck:
    """How many of ``proposed`` new Jobs fit: used so far + what the running pods will still
    use (up to ``job_seconds`` each) + ``job_seconds`` x the requests of each new Job must
    stay within every limit of the budget."""
    if budget is None:
        return BudgetCheck(proposed)
    allowed = proposed
    reasons: list[str] = []
    limits = (
        ("maxCoreHours", budget.max_core_hours, usage.core_seconds, per_job.cores, "cores", "core"),
        ("maxGPUHours", budget.max_gpu_hours, usage.gpu_seconds, per_job.gpus, "gpus", "GPU"),
    )
    for field, limit, used, need, attribute, unit in limits:
        if limit is None:
            continue
        committed = sum(
            getattr(r, attribute) * max(0.0, job_seconds - elapsed) for r, elapsed in running
        )
        left = limit * 3600 - used - committed
        each = need * job_seconds
        fits = proposed if each <= 0 and left > 0 else 0
        if each > 0:
            fits = max(0, min(proposed, math.floor(left / each + 1e-9)))
        if used >= limit * 3600:
            fits = 0
        if fits < proposed:
            text = (
                f"spec.execution.budget.{field} is {limit:g} {unit}-hours: {used / 3600:.4f} used"
            )
            if committed:
                text += f", ~{committed / 3600:.4f} committed by {len(running)} running pods"
            if each > 0:
                text += f", ~{each / 3600:.4f} per next Job"
            reasons.append(text)
        allowed = min(allowed, fits)
    message = None
    if allowed < proposed:
        message = "; ".join(reasons) + f": {proposed - allowed} Jobs not created"
    return BudgetCheck(allowed, message)


def budget_allows_more(budget: BudgetSpec | None, used: Mapping[str, Any] | None) -> bool:
    """Does this budget leave room beyond ``status.usage`` (a stopped run may resume)?"""
    if budget is None:
        return True
    used = used or {}
    for limit, key in (
        (budget.max_core_hours, "coreSeconds"),
        (budget.max_gpu_hours, "gpuSeconds"),
    ):
        if limit is not None and float(used.get(key) or 0.0) >= limit * 3600:
            return False
    return True


def budget_leaves_room(budget: BudgetSpec | None, used: Mapping[str, Any] | None) -> bool:
    """Would this budget let a run stopped at ``status.usage`` start another pod: what is
    used plus what one of its pods used on average stays within every limit?"""
    if budget is None:
        return True
    used = used or {}
    pods = float(used.get("podsStarted") or 0)
    for limit, key in (
        (budget.max_core_hours, "coreSeconds"),
        (budget.max_gpu_hours, "gpuSeconds"),
    ):
        spent = float(used.get(key) or 0.0)
        per_pod = spent / pods if pods else 0.0
        if limit is not None and spent + per_pod >= limit * 3600:
            return False
    return True
