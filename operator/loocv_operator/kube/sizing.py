"""``foldsPerJob: auto``: once the probe batch is done, the rest of the folds are cut into
batches sized from what it measured (batching.py decides; this reads the observations).

Pure: the plan, the tally of stored folds and the run's Jobs in, the sized plan out (or
None: not yet). The probe's wall time comes from its Job's start and completion times; a
Job whose results are stored but that has not completed yet is waited for, briefly.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..batching import Batching, ProbeTiming, size_from_probe
from ..folds import auto_folds_per_job
from ..plan import Plan
from .observe import FINISHED_SUCCEEDED, ObservedJob
from .reconcile import latest_attempts
from .tally import Tally

PROBE_COMPLETION_GRACE = 60.0  # seconds to wait for the probe Job's completionTime


def probe_done(plan: Plan, tally: Tally) -> bool:
    return plan.batching.probing and all(tally.has(b) for b in plan.batches)


def sized_after_probe(
    plan: Plan,
    tally: Tally,
    jobs: Sequence[ObservedJob],
    max_concurrent_jobs: int,
    waited: float,
) -> Batching | None:
    """The batching decision once the probe is done; None while its Job is still finishing
    (``waited``: seconds since every probe fold had a result)."""
    if not probe_done(plan, tally):
        return None
    attempts = latest_attempts(j for j in jobs if j.batch < len(plan.batches))
    if any(j.finished is None for j in attempts.values()) and waited < PROBE_COMPLETION_GRACE:
        return None  # results are in, the pod is exiting: wait for its completion time
    walls = [
        j.wall_seconds
        for j in attempts.values()
        if j.finished == FINISHED_SUCCEEDED and j.wall_seconds is not None
    ]
    pending = len(plan.pending)
    timing = ProbeTiming(
        fold_seconds=tally.fold_seconds(),  # while probing, every stored fold is the probe's
        wall_seconds=max(walls, default=None),
    )
    return size_from_probe(
        plan.batching,
        timing,
        pending,
        max_concurrent_jobs,
        fallback_size=auto_folds_per_job(pending, max_concurrent_jobs),
    )
