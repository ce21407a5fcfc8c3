"""What the store says about a run's folds, for progress and the next decision: a tally.

The operator needs counts, never rows: which folds have a result (to know which batches
are done), how many failed and how (the ResultsIncomplete message, the early stop when the
first folds all fail alike), which never ran (a given-up batch), which paths computed them,
and the probe batch's fit and predict seconds. ``StoredResults`` keeps that tally and
refreshes it from the segments that appeared since the last pass (each read once).

The seam: today the tally is made by reading our own segment JSON through ``ResultsLedger``
(each fold's result parsed once, then only its counts kept). When every segment carries its
small mergeable summary, ``refresh`` becomes ``merged_summary(store, location)`` and the
``Tally`` is read from it — nothing else in the operator changes.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import Executor
from dataclasses import dataclass, field

from ..ledger import ResultsLedger
from ..outcome import EARLY_STOP_FOLDS, error_shape
from ..results import NOT_RUN_PATH, FoldError, FoldResult
from ..store import RunLocation, Store


@dataclass
class Tally:
    """Counts of the folds with a result, by fold index where a decision needs the index."""

    n_folds: int
    stored: set[int] = field(default_factory=set)  # every fold with a counted result
    failed: set[int] = field(default_factory=set)  # computed, and raised (not "not run")
    not_run: set[int] = field(default_factory=set)  # recorded by the operator, never ran
    failure_types: Counter[str] = field(default_factory=Counter)
    paths: Counter[str] = field(default_factory=Counter)
    seconds: dict[int, float] = field(default_factory=dict)  # fit + predict, succeeded folds
    # In fold order of arrival: the first computed folds' error shapes (the early stop).
    first_errors: list[tuple[tuple[str, str], FoldError] | None] = field(default_factory=list)

    @property
    def computed(self) -> int:
        return len(self.stored) - len(self.not_run)

    def has(self, folds: list[int]) -> bool:
        return all(f in self.stored for f in folds)

    def summary(self) -> dict[str, object]:
        """The few summary fields the status reads while the run goes on (the report's
        summary replaces it at the end)."""
        return {
            "folds": {"notRun": len(self.not_run)},
            "failureTypes": dict(self.failure_types),
            "paths": dict(self.paths),
        }

    def add(self, result: FoldResult, replaced: FoldResult | None) -> None:
        if replaced is not None:
            self._remove(replaced)
        index = result.index
        self.stored.add(index)
        self.paths[result.path] += 1
        if result.path == NOT_RUN_PATH:
            self.not_run.add(index)
            return
        if result.error is not None:
            self.failed.add(index)
            self.failure_types[result.error.type] += 1
        else:
            self.seconds[index] = result.fit_seconds + result.predict_seconds
        if len(self.first_errors) < EARLY_STOP_FOLDS:
            error = result.error
            self.first_errors.append(None if error is None else (error_shape(error), error))

    def _remove(self, old: FoldResult) -> None:
        self.stored.discard(old.index)
        self.not_run.discard(old.index)
        self.paths[old.path] -= 1
        if self.paths[old.path] <= 0:
            del self.paths[old.path]
        if old.index in self.failed and old.error is not None:
            self.failed.discard(old.index)
            self.failure_types[old.error.type] -= 1
            if self.failure_types[old.error.type] <= 0:
                del self.failure_types[old.error.type]
        self.seconds.pop(old.index, None)


def failing_alike(tally: Tally) -> str | None:
    """Why to stop creating Jobs when the first folds all failed with one error (a
    configuration only the folds reveal), else None: repeating it N times tells nothing."""
    computed = tally.computed
    if computed < EARLY_STOP_FOLDS or computed >= tally.n_folds:
        return None
    first = tally.first_errors[:EARLY_STOP_FOLDS]
    if any(e is None for e in first) or len(first) < EARLY_STOP_FOLDS:
        return None
    shapes = {e[0] for e in first if e is not None}
    if len(shapes) != 1 or len(tally.failed) != computed:
        return None
    error = first[0][1] if first[0] is not None else None
    assert error is not None
    return (
        f"the first {computed} folds all failed with the same error, so no more "
        f"Jobs are created: {error.type}: {error.message[:400]}"
    )


class StoredResults:
    """The tally of one run, refreshed from the segments that appeared since the last pass."""

    def __init__(self, store: Store, location: RunLocation, n_folds: int) -> None:
        self.ledger = ResultsLedger(store, location)
        self.tally = Tally(n_folds)

    def refresh(self, reader: Executor | None = None) -> list[FoldResult]:
        """Read the new segments; returns the folds that have a result for the first time
        (the telemetry counts each fold once; a fold whose counting segment changed is
        re-tallied, not recounted)."""
        before = dict(self.ledger.results)
        fresh = [r for r in self.ledger.refresh(reader) if 0 <= r.index < self.tally.n_folds]
        for result in fresh:
            self.tally.add(result, before.get(result.index))
        return [r for r in fresh if r.index not in before]
