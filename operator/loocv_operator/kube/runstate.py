"""What the operator keeps in memory about a run it tracks — and nothing it could observe.

Progress is never kept here: every pass recomputes it from the Jobs, pods and stored folds
(progress.py). What is kept is what cannot be observed again: the spec as accepted, the
plan once read, the store's tally (so each segment is read once), the last status written
(to patch only what changed), when things last happened (the pass rates), what was already
told in an Event or a counter, the decision to stop creating Jobs, and the pod ledger
(pods are deleted with their Jobs: what they used cannot be listed again).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from ..columns import SummaryFrame
from ..plan import Plan
from ..spec import LOOCVRunSpec
from ..store import RunLocation, Store
from .accounting import RunAccounting
from .stopping import Stop
from .tally import StoredResults


@dataclass
class Clocks:
    """When things last happened (the service's monotonic clock)."""

    reconcile: float = float("-inf")  # the last pass
    full: float = float("-inf")  # the last pass that read the pods and the store
    patch: float = float("-inf")  # the last status written
    probe_results: float | None = None  # when every probe fold had a result


@dataclass
class Told:
    """Things already said once (an Event, a counter), never to be said twice."""

    finished_jobs: set[str] = field(default_factory=set)  # seen finished by a full pass
    failed_pods: set[str] = field(default_factory=set)  # failures told in an Event
    preempted_pods: set[str] = field(default_factory=set)  # counted in the telemetry
    given_up: set[int] = field(default_factory=set)  # batches told in an Event
    # trainer pods seen disrupted, by (batch, attempt): a real kubelet's are gone once stopped
    disrupted: dict[tuple[int, int], str] = field(default_factory=dict)


@dataclass
class TrackedRun:
    ref: RunLocation
    spec: LOOCVRunSpec  # as accepted; only suspend, maxConcurrentJobs and budget change
    store: Store
    generation: int | None
    status: dict[str, Any]  # the last status written
    plan: Plan | None = None  # None until the planner Job has written plan.json
    results: StoredResults | None = None
    stop: Stop | None = None  # why no more Jobs are created
    accounting: RunAccounting | None = None  # usage and budget, once planned (acts.py)
    waiting: bool = True  # batches wait for a Job slot, the planner or the report: poll often
    finished: bool = False
    clocks: Clocks = field(default_factory=Clocks)
    told: Told = field(default_factory=Told)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def suspend(self) -> bool:
        return self.spec.suspend

    @property
    def budget_stop(self) -> str | None:
        """Why the budget ended the run (its computed folds go to the report), if it did."""
        return self.accounting.stopped if self.accounting is not None else None

    @property
    def max_concurrent_jobs(self) -> int:
        return self.spec.execution.max_concurrent_jobs

    def attach(self, plan: Plan) -> None:
        self.plan = plan
        # The summaries' frame from plan.json (task, classes, folds), never from the data.
        frame = SummaryFrame.of(plan.task, plan.classes, plan.n_folds)
        self.results = StoredResults(self.store, plan.location, frame)

    @property
    def uri(self) -> str:
        return self.store.uri(self.ref.prefix)
