"""Which folds are stored, read from a run's segments, each fold counted exactly once.

The rule is deterministic whatever order a store lists objects in or a reader finds them:
for each fold, the result in the segment whose key sorts first wins (an earlier batch
attempt before its retry; the operator's not-run records, attempt 999, after every
trainer's). A segment that does not parse (truncated, edited by hand) is skipped: its folds
count as missing, and a trainer computes them again.

A ledger reads each segment once, so a reader that refreshes it (the operator, every pass)
pays for new segments only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import TypeVar

from .results import FoldResult
from .segments import Segment, decode, segments_prefix
from .store import RunLocation, Store

log = logging.getLogger("loocv.ledger")
T = TypeVar("T")


class ResultsLedger:
    def __init__(self, store: Store, location: RunLocation) -> None:
        self.store = store
        self.location = location
        self.prefix = segments_prefix(location)
        self._seen: set[str] = set()  # segment keys read (readable or not)
        self._winner: dict[int, str] = {}  # fold index -> key of the segment that counts
        self._results: dict[int, FoldResult] = {}
        self.unreadable: list[str] = []

    @property
    def results(self) -> dict[int, FoldResult]:
        return self._results

    def stored(self) -> set[int]:
        return set(self._results)

    def ordered(self) -> list[FoldResult]:
        return [self._results[i] for i in sorted(self._results)]

    def refresh(self, reader: Executor | None = None) -> list[FoldResult]:
        """Read the segments that appeared since the last refresh; return the results that
        now count and did not before (a new fold, or a fold whose winner changed)."""
        keys = sorted(k for k in self.store.list(self.prefix) if k.endswith(".json"))
        fresh = [k for k in keys if k not in self._seen]
        if not fresh:
            return []
        read: Callable[[str], Segment | None] = self._read
        segments = list(reader.map(read, fresh)) if reader is not None else [read(k) for k in fresh]
        changed: dict[int, FoldResult] = {}
        for key, segment in zip(fresh, segments, strict=True):
            self._seen.add(key)
            if segment is None:
                continue
            for result in segment.folds:
                current = self._winner.get(result.index)
                if current is None or key < current:
                    self._winner[result.index] = key
                    self._results[result.index] = result
                    changed[result.index] = result
        return [changed[i] for i in sorted(changed)]

    def _read(self, key: str) -> Segment | None:
        return read_or_skip(self.store, key, decode, self.unreadable)


def read_or_skip(
    store: Store, key: str, decoder: Callable[[str, bytes], T], unreadable: list[str]
) -> T | None:
    """One stored segment decoded (whole or its header), or None: deleted between listing and
    reading, or unreadable — then named in ``unreadable`` and its folds count as missing."""
    try:
        return decoder(key, store.get(key))
    except KeyError:
        return None
    except (ValueError, TypeError) as exc:
        unreadable.append(key)
        log.warning("unreadable segment %s (its folds count as missing): %s", key, exc)
        return None


def load_results(store: Store, location: RunLocation) -> list[FoldResult]:
    """Every readable fold result of a run, each once, ordered by fold index."""
    ledger = ResultsLedger(store, location)
    ledger.refresh()
    return ledger.ordered()


def stored_indices(store: Store, location: RunLocation, among: Iterable[int]) -> set[int]:
    """The folds among ``among`` that already have a counted result (a resumed batch)."""
    ledger = ResultsLedger(store, location)
    ledger.refresh()
    wanted = set(among)
    return {i for i in ledger.stored() if i in wanted}
