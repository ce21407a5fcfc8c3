"""What the store says about a run's folds, for progress, the next decision and the status's
metrics while the run goes on: a tally, read from the segments' headers only.

``StoredResults`` keeps a ``SummaryLedger`` (summaries.py): each pass reads the headers of
the segments that appeared since the last one — never a per-sample row, unless overlapping
segments share folds — and merges their partial summaries. The ``Tally`` is read from that
merge: which folds have a result (which batches are done), how many failed and how (the
ResultsIncomplete message, the early stop when the first folds all fail alike), which never
ran (a given-up batch), the paths, the fold seconds (the probe's sizing), and the pooled
metrics over the folds stored so far. Those are partial: no interval (the report Job
computes them from the rows), never a gate verdict (only the report judges the gate).
"""

from __future__ import annotations

import heapq
import math
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from ..columns import SummaryFrame
from ..outcome import EARLY_STOP_FOLDS, error_shape
from ..results import FoldError
from ..store import RunLocation, Store
from ..summaries import MergedSummary, SummaryLedger
from ..usage import FAST_PATH_PREFIXES, FoldCompute

METRICS_OVER = "metricsOver"  # the mid-run summary's marker: {"folds": done, "total": n}


@dataclass(frozen=True)
class Tally:
    """The counted folds of a run, from its merged segment summaries."""

    n_folds: int
    stored: frozenset[int] = frozenset()  # every fold with a counted result (not-run too)
    not_run: frozenset[int] = frozenset()  # recorded by the operator, never ran
    failed: int = 0  # computed, and raised (not "not run")
    succeeded: int = 0
    failure_types: dict[str, int] = field(default_factory=dict)
    paths: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # fit + predict of the succeeded folds
    # The first computed folds' errors by fold index (None: it succeeded), for the early stop.
    first_errors: tuple[FoldError | None, ...] = ()
    merged: MergedSummary | None = None

    @property
    def computed(self) -> int:
        return self.succeeded + self.failed

    def has(self, folds: list[int]) -> bool:
        return all(f in self.stored for f in folds)

    def fold_seconds(self) -> list[float]:
        """Each succeeded fold at the mean fit + predict time: the probe's sizing needs
        only their sum and count (batching.size_from_probe), and the headers hold sums."""
        if not self.succeeded or not math.isfinite(self.seconds) or self.seconds < 0:
            return []
        return [self.seconds / self.succeeded] * self.succeeded

    def compute(self) -> FoldCompute:
        """Fold seconds and fast-path folds for the usage (the saved time needs the rows'
        brute-force samples: the report Job adds it)."""
        fast = sum(n for path, n in self.paths.items() if path.startswith(FAST_PATH_PREFIXES))
        return FoldCompute(self.seconds, fast)

    def summary(self) -> dict[str, Any] | None:
        """The run's summary so far, for the status while the run goes on (the report's
        replaces it at the end): the pooled metrics over the folds stored so far, marked
        with how many folds they are over (the status shows them partial, sections.py)."""
        if self.merged is None or not self.stored:
            return None
        data = self.merged.summary().to_dict()
        data[METRICS_OVER] = {"folds": self.succeeded, "total": self.n_folds}
        return data


def tally_of(merged: MergedSummary) -> Tally:
    partial = merged.partial
    not_run = frozenset(partial.not_run)
    failures = {f.fold: f for f in partial.failures if f.fold not in not_run}
    first = sorted(heapq.nsmallest(EARLY_STOP_FOLDS, merged.stored - not_run))
    first_errors = tuple(
        FoldError(failures[i].type, failures[i].message) if i in failures else None for i in first
    )
    return Tally(
        n_folds=merged.frame.n_folds,
        stored=merged.stored,
        not_run=not_run,
        failed=partial.failed,
        succeeded=partial.succeeded,
        failure_types=dict(partial.failure_types),
        paths=dict(partial.paths),
        seconds=partial.ok_seconds,
        first_errors=first_errors,
        merged=merged,
    )


def failing_alike(tally: Tally) -> str | None:
    """Why to stop creating Jobs when the first folds all failed with one error (a
    configuration only the folds reveal), else None: repeating it N times tells nothing."""
    computed = tally.computed
    if computed < EARLY_STOP_FOLDS or computed >= tally.n_folds:
        return None
    first = tally.first_errors[:EARLY_STOP_FOLDS]
    if len(first) < EARLY_STOP_FOLDS or tally.failed != computed:
        return None
    errors = [e for e in first if e is not None]
    if len(errors) < EARLY_STOP_FOLDS or len({error_shape(e) for e in errors}) != 1:
        return None  # a failure past the summary's first 20 listed is not known: go on
    error = errors[0]
    return (
        f"the first {computed} folds all failed with the same error, so no more "
        f"Jobs are created: {error.type}: {error.message[:400]}"
    )


@dataclass(frozen=True)
class Collected:
    """What a refresh added, for the telemetry's counters: each fold counted once."""

    folds: int = 0  # folds with a result for the first time
    failed: int = 0  # of them, failures (not-run ones too)
    fold_seconds: tuple[float, ...] = ()  # each new succeeded fold, at the new folds' mean


def collected(before: Tally, after: Tally) -> Collected:
    new_succeeded = after.succeeded - before.succeeded
    seconds = after.seconds - before.seconds
    mean = seconds / new_succeeded if new_succeeded > 0 else math.nan
    failures_before = before.failed + len(before.not_run)
    return Collected(
        folds=len(after.stored - before.stored),
        failed=max(0, after.failed + len(after.not_run) - failures_before),
        fold_seconds=(mean,) * new_succeeded if math.isfinite(mean) and mean >= 0 else (),
    )


class StoredResults:
    """The tally of one run, refreshed from the segments that appeared since the last pass."""

    def __init__(self, store: Store, location: RunLocation, frame: SummaryFrame) -> None:
        self.ledger = SummaryLedger(store, location, frame)
        self.tally = Tally(frame.n_folds)

    def refresh(self, reader: Executor | None = None) -> Collected:
        """Read the new segments' headers and merge; what was added since the last pass (a
        fold whose counting segment changed is re-tallied, not recounted)."""
        before = self.tally
        self.tally = tally_of(self.ledger.refresh(reader))
        return collected(before, self.tally)
