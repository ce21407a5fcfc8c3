"""Usage and budget of one tracked run, as the run service calls them (kube/usage.py holds
the arithmetic; kube/acts.py makes the calls):

- ``record``   every full pass, with the run's trainer pods as listed: the pod ledger
  (persisted as pods.json beside the run's folds when it changes, read back after a
  restart, so a pod is neither lost nor counted twice);
- ``within``   after ``reconcile.decide``: the Jobs to create trimmed to what the budget
  allows (``blocked`` says why, for the BudgetExceeded condition); none once it stopped;
- ``stops``    the run must end now: Jobs held back by the budget and none active;
- ``usage``    the usage record for the status, usage.json and so the report;
- ``set_budget`` the spec's budget, which may change on a live run.

Fold compute (fit + predict seconds, what a fast path saved) is summed over the fold
results the run's tally has read anyway (kube/tally.py); no row of data is involved.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ..errors import StoreError
from ..plan import Plan
from ..spec import BudgetSpec
from ..store import Store
from ..usage import USAGE_ARTIFACT, FoldCompute, Prices, Usage, usage_bytes
from . import conditions as cond
from .reconcile import Decision
from .status import BUDGET_EXCEEDED
from .usage import (
    BUDGET_REASON,
    PodLedger,
    PodUsage,
    Requests,
    budget_allows_more,
    budget_leaves_room,
    check_budget,
    container_requests,
    expected_job_seconds,
    pod_usage,
)

log = logging.getLogger("loocv.operator")
LEDGER_ARTIFACT = "pods.json"


@dataclass
class RunAccounting:
    store: Store
    plan: Plan
    budget: BudgetSpec | None = None
    prices: Prices | None = None
    ledger: PodLedger | None = None
    blocked: str | None = None  # the figures, while the budget holds new Jobs back
    per_job: Requests = field(default_factory=Requests)
    stopped: str | None = None  # the run ended on the budget
    seen_at: float | None = None  # when the pods were last listed (epoch seconds)

    def _ledger(self) -> PodLedger:
        if self.ledger is None:
            self.ledger = PodLedger.empty()
            try:
                raw = self.store.get(self.plan.location.artifact(LEDGER_ARTIFACT))
                self.ledger = PodLedger.from_json(json.loads(raw))
            except KeyError:
                pass
            except (ValueError, TypeError) as exc:
                log.warning("ignoring an unreadable %s: %s", LEDGER_ARTIFACT, exc)
        return self.ledger

    def observe(self, pods: Iterable[Mapping[str, Any]], now: float) -> None:
        """A listing of the run's pods as the API server returns them."""
        self.record([u for u in (pod_usage(p, now) for p in pods) if u is not None], now)

    def record(self, listed: Sequence[PodUsage], now: float) -> None:
        """The run's trainer pods as listed at ``now`` (observe.observe_pod read them)."""
        ledger = self._ledger()
        self.seen_at = now
        if ledger.observe([replace(p, seen=now) for p in listed]):
            key = self.plan.location.artifact(LEDGER_ARTIFACT)
            try:
                self.store.put(key, json.dumps(ledger.to_json()).encode())
            except StoreError as exc:  # kept in memory; written with the next change
                log.warning("could not write %s: %s", key, exc)

    def set_job_shape(self, job: Mapping[str, Any]) -> None:
        """The requests of the run's trainer pods, from a Job the builder made."""
        pod = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
        self.per_job = container_requests(pod.get("containers") or [])

    def set_budget(self, budget: BudgetSpec | None) -> None:
        """The spec's budget now. Raised past what was used on a run it stopped (still
        tracked: its report Job may be running), the run goes on."""
        if budget == self.budget:
            return
        self.budget = budget
        if self.stopped is not None and budget_allows_more(
            budget, self._ledger().usage(self.seen_at or 0.0).to_json()
        ):
            self.stopped = self.blocked = None

    def within(self, decision: Decision, plan: Plan, now: float) -> Decision:
        ledger = self._ledger()
        if self.stopped is not None:  # the run is ending: nothing new starts
            return _without_new(decision, 0)
        if self.budget is None:
            self.blocked = None
            return decision
        batching = plan.batching  # the plan as sized now (the probe re-cuts the batches)
        folds = max((len(b) for b in plan.batches), default=1)
        seconds = expected_job_seconds(
            ledger, folds, batching.per_fold_seconds, batching.pod_overhead_seconds
        )
        check = check_budget(
            self.budget,
            ledger.usage(now),
            ledger.running(now),
            self.per_job,
            seconds,
            len(decision.create),
        )
        if check.message is None:
            if decision.create:
                self.blocked = None  # a raised budget, or the next Job fits again
            return decision
        self.blocked = check.message
        return _without_new(decision, check.allowed)

    def stops(self, decision: Decision) -> bool:
        """Held back by the budget with no Job left running: the run ends Failed now, its
        computed folds kept (a raised budget reopens it: ``reopened_status``)."""
        if self.blocked is not None and decision.active == 0:
            self.stopped = self.blocked
        return self.stopped is not None

    def usage(self, compute: FoldCompute, retries: int, preemptions: int, now: float) -> Usage:
        """The pods' usage, with ``compute`` (fold seconds from the tally's summaries; the
        report Job adds what only the rows hold: the brute-force time a fast path saved)."""
        used = self._ledger().usage(now, retries, preemptions)
        return used.with_folds(compute).priced(self.prices)

    def current(self, compute: FoldCompute, retries: int, preemptions: int) -> Usage:
        """The usage as of the last listing of the pods (what the status shows)."""
        return self.usage(compute, retries, preemptions, self.seen_at or 0.0)

    def write(self, usage: Usage) -> None:
        """usage.json beside the folds: the report Job (`loocv finish`) puts it in
        report.json, `loocv report` shows it again."""
        self.store.put(self.plan.location.artifact(USAGE_ARTIFACT), usage_bytes(usage))


def _without_new(decision: Decision, allowed: int) -> Decision:
    """The decision with only the first ``allowed`` Jobs to create."""
    if allowed >= len(decision.create):
        return decision
    dropped = len(decision.create) - allowed
    return replace(decision, create=decision.create[:allowed], active=decision.active - dropped)


def budget_of(spec: Mapping[str, Any] | None) -> BudgetSpec | None:
    """spec.execution.budget of a resource body (already validated by the API server)."""
    raw = ((spec or {}).get("execution") or {}).get("budget")
    if not raw:
        return None
    try:
        return BudgetSpec.model_validate(raw)
    except ValueError:
        return None


def reopened_status(body: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
    """A run that ended on its budget, whose spec changed since and whose budget now leaves
    room for another pod: its status reopened (Running, Failed and Complete gone,
    BudgetExceeded False) for the operator to go on from the folds it kept; None for any
    other run (an operator restart reopens nothing)."""
    status = dict(body.get("status") or {})
    conditions = status.get("conditions") or []
    failed = cond.find(conditions, cond.FAILED)
    if failed is None or failed.get("status") != "True" or failed.get("reason") != BUDGET_REASON:
        return None
    generation = (body.get("metadata") or {}).get("generation")
    ended_at = failed.get("observedGeneration")
    if ended_at is not None and ended_at == generation:
        return None  # the spec the budget ended the run with
    if not budget_leaves_room(budget_of(body.get("spec")), status.get("usage")):
        return None
    ended = (cond.FAILED, cond.COMPLETE, cond.GATE_PASSED, cond.RESULTS_INCOMPLETE)
    kept = [dict(c) for c in conditions if c.get("type") not in ended]
    message = "the budget was raised: the run goes on from the folds it kept"
    updates: tuple[tuple[str, cond.ConditionStatus], ...] = (
        (BUDGET_EXCEEDED, "False"),
        (cond.PROGRESSING, "True"),
    )
    for type_, value in updates:
        kept = cond.set_condition(kept, type_, value, "BudgetRaised", message, now, generation)
    for key in ("completionTime", "gate", "baseline"):
        status.pop(key, None)
    status.update(phase="Running", conditions=kept)
    if generation is not None:
        status["observedGeneration"] = generation
    return status
