"""The LOOCVRun status, built by pure functions from what the operator knows of a run (a
RunView): the phase, the conditions and the bounded sections (sections.py), validated by the
wire model (wire.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..gate import GateVerdict, missing_text
from ..oomlog import OomLog
from . import conditions as cond
from .sections import (
    baseline_of,
    batching_of,
    fast_path_of,
    metrics_of,
    oom_of,
    usage_of,
    worst_samples_of,
)
from .wire import (
    MAX_GATE_FAILURES,
    Condition,
    FoldCounts,
    GateStatus,
    JobCounts,
    LOOCVRunStatus,
    Phase,
    dump,
)

BUDGET_EXCEEDED = "BudgetExceeded"


@dataclass(frozen=True)
class RunView:
    """What the operator knows about a run at one moment; everything status is made from."""

    generation: int | None
    folds: FoldCounts
    jobs: JobCounts
    summary: Mapping[str, Any] | None
    results_uri: str | None
    suspended: bool = False
    finished: bool = False
    verdict: GateVerdict | None = None
    halted: str | None = None  # why no more Jobs are created (trainer reported bad input)
    halt_reason: str = "TrainerInvalidInput"  # or FoldsFailAlike (the operator stopped it)
    waiting: str | None = None  # why pods are not running (image pull, missing Secret)
    unschedulable: str | None = None  # the scheduler's word on a pod no node can take
    batching: Mapping[str, Any] | None = None  # Batching.to_json() of the plan
    baseline: Mapping[str, Any] | None = None  # compare.gate.BaselineVerdict.to_json()
    awaiting_admission: str | None = None  # Jobs wait for Kueue (admission.waiting_message)
    queue_missing: str | None = None  # the run's LocalQueue does not exist (Kueue says so)
    oom: OomLog | None = None  # the plan's OOM remediation so far
    usage: Mapping[str, Any] | None = None  # usage.Usage.to_json() (kube/accounting.py)
    budget_exceeded: str | None = None  # why the budget holds Jobs back (kube/usage.py)


def phase_of(view: RunView) -> Phase:
    if view.finished:
        return "Failed" if view.halted or view.folds.succeeded == 0 else "Succeeded"
    if view.suspended:
        return "Suspended"
    if view.folds.done == 0 and (view.jobs.total == 0 or view.unschedulable or view.queue_missing):
        return "Pending"  # nothing computed yet, and nothing can start (no node fits, no queue)
    return "Running"


def _progress_message(view: RunView) -> str:
    text = f"{view.folds.done}/{view.folds.total} folds done, {view.jobs.active} Jobs active"
    if view.jobs.retried or view.jobs.preempted:
        text += f", {view.jobs.retried} resubmitted, {view.jobs.preempted} pods preempted"
    if view.waiting:
        text += f"; waiting: {view.waiting}"
    return text


def _failure_message(view: RunView) -> str:
    summary = view.summary or {}
    types = summary.get("failureTypes") or {}
    detail = ", ".join(f"{name} x{count}" for name, count in sorted(types.items()))
    text = f"{view.folds.failed} of {view.folds.total} folds failed"
    return f"{text} ({detail})" if detail else text


def build_status(
    previous: Mapping[str, Any] | None, view: RunView, now: datetime
) -> dict[str, Any]:
    """The whole status for a run: the wire dict to write (None-free, schema-valid)."""
    previous = previous or {}
    conditions: list[dict[str, Any]] = list(previous.get("conditions") or [])
    phase = phase_of(view)
    gen = view.generation

    def put(type_: str, status: cond.ConditionStatus, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = cond.set_condition(conditions, type_, status, reason, message, now, gen)

    if view.finished:
        put(cond.PROGRESSING, "False", "Finished", _progress_message(view))
        if phase == "Succeeded":
            put(cond.COMPLETE, "True", "AllFoldsDone", f"{view.folds.total} folds done")
        else:
            reason = view.halt_reason if view.halted else "NoFoldSucceeded"
            put(cond.FAILED, "True", reason, view.halted or _failure_message(view))
        missing = missing_text(view.summary or {})
        if missing:
            put(cond.RESULTS_INCOMPLETE, "True", "FoldsMissing", missing)
        elif view.folds.failed:
            put(cond.RESULTS_INCOMPLETE, "True", "FoldsFailed", _failure_message(view))
        else:
            put(cond.RESULTS_INCOMPLETE, "False", "AllFoldsSucceeded", "every fold succeeded")
        if view.verdict is not None and view.verdict.evaluated:
            if view.verdict.passed:
                put(cond.GATE_PASSED, "True", view.verdict.reason, "every gate threshold is met")
            else:
                put(
                    cond.GATE_PASSED,
                    "False",
                    view.verdict.reason,
                    "; ".join(view.verdict.failures),
                )
    else:
        if view.suspended:
            put(cond.PROGRESSING, "False", "Suspended", _progress_message(view))
        elif view.queue_missing:
            put(cond.PROGRESSING, "False", "QueueNotFound", view.queue_missing)
        elif view.unschedulable:
            put(
                cond.PROGRESSING,
                "False",
                "Unschedulable",
                f"trainer pods cannot be scheduled: {view.unschedulable}",
            )
        elif view.awaiting_admission:
            text = f"{_progress_message(view)}; {view.awaiting_admission}"
            put(cond.PROGRESSING, "True", "AwaitingAdmission", text)
        else:
            reason = "Waiting" if view.waiting else "JobsRunning"
            put(cond.PROGRESSING, "True", reason, _progress_message(view))
        not_run = int(((view.summary or {}).get("folds") or {}).get("notRun") or 0)
        if not_run:
            put(
                cond.RESULTS_INCOMPLETE,
                "True",
                "FoldsMissing",
                f"{not_run} folds will have no result: their batch was given up",
            )
        elif view.folds.failed:
            put(cond.RESULTS_INCOMPLETE, "True", "FoldsFailed", _failure_message(view) + " so far")

    conditions = budget_condition(conditions, view, now)  # kube/usage.py
    gate = None
    if view.finished and view.verdict is not None and view.verdict.evaluated:
        gate = GateStatus(
            passed=view.verdict.passed, failures=view.verdict.failures[:MAX_GATE_FAILURES]
        )
    status = LOOCVRunStatus(
        observed_generation=gen,
        phase=phase,
        start_time=previous.get("startTime") or cond.timestamp(now),
        completion_time=(previous.get("completionTime") or cond.timestamp(now))
        if view.finished
        else None,
        progress=f"{view.folds.done}/{view.folds.total}",
        folds=view.folds,
        jobs=view.jobs,
        metrics=metrics_of(view.summary),
        gate=gate,
        worst_samples=worst_samples_of(view.summary),
        results_uri=view.results_uri,
        fast_path=fast_path_of(view.summary),
        batching=batching_of(view.batching),
        oom=oom_of(view.oom),
        baseline=baseline_of(view.baseline) if view.finished else None,
        usage=usage_of(view.usage),
        conditions=[Condition.model_validate(c) for c in conditions],
    )
    return dump(status)


def budget_condition(
    conditions: list[dict[str, Any]], view: RunView, now: datetime
) -> list[dict[str, Any]]:
    """BudgetExceeded: True with the figures while the budget holds Jobs back (and on the
    run it ended); False once a raised budget let the run go on (a False one keeps its
    reason: BudgetRaised when the raise reopened a run the budget had ended)."""
    if view.budget_exceeded:
        return cond.set_condition(
            conditions,
            BUDGET_EXCEEDED,
            "True",
            BUDGET_EXCEEDED,
            view.budget_exceeded,
            now,
            view.generation,
        )
    previous = cond.find(conditions, BUDGET_EXCEEDED)
    if previous is None:
        return conditions
    reason, message = "WithinBudget", "the budget leaves room for the next Jobs"
    if previous.get("status") == "False":
        reason = str(previous.get("reason") or reason)
        message = str(previous.get("message") or message)
    return cond.set_condition(
        conditions, BUDGET_EXCEEDED, "False", reason, message, now, view.generation
    )


def pending_status(
    previous: Mapping[str, Any] | None,
    generation: int | None,
    now: datetime,
    message: str,
    reason: str = "Planning",
) -> dict[str, Any]:
    """Accepted, being planned: no Job yet (or the planner Job's queue does not exist:
    reason QueueNotFound, Progressing False)."""
    previous = previous or {}
    conditions = cond.set_condition(
        list(previous.get("conditions") or []),
        cond.PROGRESSING,
        "True" if reason == "Planning" else "False",
        reason,
        message,
        now,
        generation,
    )
    status = LOOCVRunStatus(
        observed_generation=generation,
        phase="Pending",
        start_time=previous.get("startTime") or cond.timestamp(now),
        conditions=[Condition.model_validate(c) for c in conditions],
    )
    return dump(status)


def invalid_status(
    previous: Mapping[str, Any] | None,
    generation: int | None,
    now: datetime,
    problems: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """The run cannot start: Invalid and Failed, the message naming each field."""
    previous = previous or {}
    message = "; ".join(f"{where}: {what}" for where, what in problems)
    conditions: list[dict[str, Any]] = list(previous.get("conditions") or [])
    updates: tuple[tuple[str, cond.ConditionStatus, str], ...] = (
        (cond.INVALID, "True", "InvalidSpec"),
        (cond.PROGRESSING, "False", "InvalidSpec"),
        (cond.FAILED, "True", "InvalidSpec"),
    )
    for type_, status_, reason in updates:
        conditions = cond.set_condition(
            conditions,
            type_,
            status_,
            reason,
            message,
            now,
            generation,
        )
    status = LOOCVRunStatus(
        observed_generation=generation,
        phase="Failed",
        start_time=previous.get("startTime") or cond.timestamp(now),
        completion_time=previous.get("completionTime") or cond.timestamp(now),
        conditions=[Condition.model_validate(c) for c in conditions],
    )
    return dump(status)


def merge_patch(previous: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386) turning ``previous`` into ``new``: fields the new status
    no longer has are removed (null) at every level — the API server merges objects key by
    key, so the report's metrics would otherwise keep the mid-run ones' ``partial`` — and
    the others replaced (lists whole)."""
    patch: dict[str, Any] = {key: None for key in (previous or {}) if key not in new}
    for key, value in new.items():
        old = (previous or {}).get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            patch[key] = merge_patch(old, value)
        else:
            patch[key] = value
    return patch


def is_terminal(status: Mapping[str, Any] | None) -> bool:
    """Finished for good: Complete, Failed or Invalid (a restart must not reopen it)."""
    conditions = (status or {}).get("conditions") or []
    return any(cond.is_true(conditions, t) for t in (cond.COMPLETE, cond.FAILED, cond.INVALID))
