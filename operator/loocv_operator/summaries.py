"""Progress and pooled metrics of a run from its segments' summaries, never their rows.

Each segment's header carries the partial summary of its folds (segments.py, partial.py).
Merging them gives what the aggregator computes from every fold — except the figures that
do not merge (medians, bootstrap intervals: None until the run's report) — by reading
headers only.

Every fold counts once, by the ledger's rule (ledger.py): the segment whose key sorts first
wins. A segment that wins all its folds contributes its summary; one that wins none
contributes nothing; one that wins some (a preempted pod and its retry overlapping, folds
outside the plan) or has no summary is read whole, once, and the folds it wins are
summarised from its rows. Unreadable or torn segments count as missing, as for the ledger.

The operator calls this; it imports numpy and the store only.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import dataclass

from .columns import SummaryFrame
from .finish import first_missing, run_summary
from .ledger import read_or_skip
from .partial import PartialSummary, from_json, merge, summarize_folds
from .segments import SegmentHeader, decode, decode_header, segments_prefix
from .store import RunLocation, Store
from .summary import RunSummary

log = logging.getLogger("loocv.summaries")


@dataclass(frozen=True)
class MergedSummary:
    """The merged partial summary of every stored fold, and which folds those are."""

    frame: SummaryFrame
    partial: PartialSummary
    stored: frozenset[int]  # folds of the plan with a counted result (not-run ones too)

    @property
    def done(self) -> int:
        """Folds computed (succeeded or failed; a not-run fold is missing)."""
        return self.partial.succeeded + self.partial.failed

    def summary(self) -> RunSummary:
        """The run's summary so far (medians and regression intervals None)."""
        missing = first_missing(self.frame.n_folds, self.stored, self.partial.not_run)
        return run_summary(self.partial, self.frame, missing)


@dataclass
class _Contribution:
    winning: frozenset[int]
    partial: PartialSummary | None  # None: wins nothing


class SummaryLedger:
    """Reads each segment's header once; refresh() merges what counts (cached when no new
    segment appeared)."""

    def __init__(self, store: Store, location: RunLocation, frame: SummaryFrame) -> None:
        self.store = store
        self.location = location
        self.frame = frame
        self.prefix = segments_prefix(location)
        self._seen: set[str] = set()
        self._headers: dict[str, SegmentHeader] = {}
        self._contributions: dict[str, _Contribution] = {}
        self._merged: MergedSummary | None = None
        self.unreadable: list[str] = []
        self.rows_read = 0  # segments read whole (no summary, or sharing folds)

    def refresh(self, reader: Executor | None = None) -> MergedSummary:
        """Read the segments that appeared since the last refresh (through ``reader``, a
        thread pool, when the store is remote) and merge what counts."""
        keys = sorted(k for k in self.store.list(self.prefix) if k.endswith(".json"))
        fresh = [k for k in keys if k not in self._seen]
        read = self._read_header
        headers = list(reader.map(read, fresh)) if reader is not None else [read(k) for k in fresh]
        for key, header in zip(fresh, headers, strict=True):
            self._seen.add(key)
            if header is not None:
                self._headers[key] = header
        if self._merged is not None and not fresh:
            return self._merged
        claimed: set[int] = set()
        n_folds = self.frame.n_folds
        for key in sorted(self._headers):
            header = self._headers[key]
            winning = frozenset(i for i in header.indices if 0 <= i < n_folds and i not in claimed)
            claimed.update(winning)
            known = self._contributions.get(key)
            if known is None or known.winning != winning:
                self._contributions[key] = _Contribution(winning, self._partial(header, winning))
        parts = [
            c.partial
            for k, c in sorted(self._contributions.items())
            if k in self._headers and c.partial is not None
        ]
        self._merged = MergedSummary(self.frame, merge(parts), frozenset(claimed))
        return self._merged

    def _read_header(self, key: str) -> SegmentHeader | None:
        return read_or_skip(self.store, key, decode_header, self.unreadable)

    def _partial(self, header: SegmentHeader, winning: frozenset[int]) -> PartialSummary | None:
        if not winning:
            return None
        whole = len(winning) == len(header.indices)
        if whole and header.summary is not None:
            try:
                return from_json(header.summary, self.frame)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("segment %s: unusable summary, reading its rows: %s", header.key, exc)
        try:
            segment = decode(header.key, self.store.get(header.key))
        except (KeyError, TypeError, ValueError) as exc:
            log.warning(
                "segment %s: unreadable rows (its folds count as missing): %s", header.key, exc
            )
            return None
        self.rows_read += 1
        kept = {f.index: f for f in segment.folds if f.index in winning}
        return summarize_folds([kept[i] for i in sorted(kept)], self.frame)


def merged_summary(
    store: Store, location: RunLocation, frame: SummaryFrame, reader: Executor | None = None
) -> tuple[MergedSummary, frozenset[int]]:
    """Merge a run's stored segment summaries in one call: the merged summary and the plan's
    folds that have a counted result. A process that refreshes often keeps a SummaryLedger
    instead (it reads each segment once)."""
    merged = SummaryLedger(store, location, frame).refresh(reader)
    return merged, merged.stored
