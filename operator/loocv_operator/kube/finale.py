"""The end of a run as the report Job left it: report.json read back, and what to say.

The report Job (``loocv finish``) aggregates the folds, judges the gate and the baseline and
writes report.json; the operator only reads its summary and verdicts (a few kilobytes) to
copy them into the status, and never aggregates folds itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..gate import REASON_BREACHED, REASON_INCOMPLETE, REASON_MET, GateVerdict, missing_text
from ..plan import Plan
from ..store import Store
from . import conditions as cond
from .wire import Condition, FoldCounts, LOOCVRunStatus, dump

REPORT = "report.json"


@dataclass(frozen=True)
class Report:
    summary: dict[str, Any]
    verdict: GateVerdict
    baseline: dict[str, Any] | None
    usage: dict[str, Any] | None = None  # the usage.json the operator wrote before the Job


def verdict_of(gate: Mapping[str, Any]) -> GateVerdict:
    """report.json's ``gate`` as the verdict it was written from."""
    evaluated = bool(gate.get("evaluated"))
    passed = bool(gate.get("passed")) if evaluated else True
    reason = str(gate.get("reason") or "")
    override = (
        reason if reason not in ("", REASON_MET, REASON_INCOMPLETE, REASON_BREACHED) else None
    )
    return GateVerdict(
        passed=passed,
        failures=[str(f) for f in gate.get("failures") or []],
        evaluated=evaluated,
        incomplete=bool(gate.get("incomplete")) or reason == REASON_INCOMPLETE,
        reason_override=override,
    )


def read_report(store: Store, plan: Plan, computed: int = 0) -> Report | None:
    """report.json, once the report Job has written it (None before: it is written last),
    over at least the ``computed`` folds (an earlier report over fewer, of a run its budget
    stopped and a raised budget reopened, is not this one)."""
    try:
        raw = store.get(plan.location.artifact(REPORT))
    except KeyError:
        return None
    document = json.loads(raw)
    if document.get("specDigest") != plan.spec_digest:
        return None  # a report of another spec (an older run of this key): not ours yet
    summary = dict(document.get("summary") or {})
    if int((summary.get("folds") or {}).get("done") or 0) < computed:
        return None
    return Report(
        summary=summary,
        verdict=verdict_of(document.get("gate") or {}),
        baseline=document.get("baseline"),
        usage=document.get("usage"),
    )


def final_events(
    report: Report, folds: FoldCounts, report_uri: str, halted: str | None, succeeded: bool
) -> list[tuple[str, str, str]]:
    """(type, reason, message) of the Events a finished run posts."""
    events: list[tuple[str, str, str]] = []
    if succeeded:
        events.append(
            (
                "Normal",
                "Completed",
                f"{folds.succeeded}/{folds.total} folds succeeded; report at {report_uri}",
            )
        )
    else:
        events.append(("Warning", "Failed", halted or "no fold succeeded"))
    missing = missing_text(report.summary)
    if missing or folds.failed:
        detail = missing or f"{folds.failed} of {folds.total} folds failed"
        events.append(("Warning", "ResultsIncomplete", detail))
    verdict = report.verdict
    if verdict.evaluated:
        if verdict.passed:
            events.append(("Normal", "GatePassed", "every gate threshold is met"))
        else:
            events.append(("Warning", "GateFailed", "; ".join(verdict.failures)))
    return events


def failed_status(
    previous: Mapping[str, Any] | None,
    generation: int | None,
    now: datetime,
    reason: str,
    message: str,
) -> dict[str, Any]:
    """The run ended without a report (its planner or report Job failed): Failed, saying why."""
    previous = dict(previous or {})
    conditions: list[dict[str, Any]] = list(previous.get("conditions") or [])
    updates: tuple[tuple[str, cond.ConditionStatus], ...] = (
        (cond.PROGRESSING, "False"),
        (cond.FAILED, "True"),
    )
    for type_, status_ in updates:
        conditions = cond.set_condition(
            conditions, type_, status_, reason, message, now, generation
        )
    previous.update(
        observedGeneration=generation,
        phase="Failed",
        startTime=previous.get("startTime") or cond.timestamp(now),
        completionTime=previous.get("completionTime") or cond.timestamp(now),
        conditions=[
            Condition.model_validate(c).model_dump(by_alias=True, exclude_none=True)
            for c in conditions
        ],
    )
    return dump(LOOCVRunStatus.model_validate(previous))
