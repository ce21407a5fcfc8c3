"""Fold results in checkpointed segments: one stored object per few seconds of compute.

One object per fold made every store a bottleneck (a file create per fold locally, a PUT per
fold on S3, and as many GETs for whoever reads them). A trainer now keeps the folds it
computes in memory and writes them as one *segment* at checkpoints: after
``checkpoint_seconds`` of compute or ``max_folds`` folds, at the end of its batch, and when it
is told to stop (SIGTERM, Ctrl-C: the loop ends after the fold in flight and the writer
flushes on the way out). A killed process loses at most one checkpoint interval.

A segment is written atomically (like every object) and names its run, batch, attempt,
writer and sequence number in its key, so two pods that overlap — a preempted pod and its
retry — never overwrite each other:

    <run prefix>/segments/<batch:06d>-<attempt:03d>-<seq:06d>-<writer>.json

Readers (``ledger.py``) count every fold exactly once by a deterministic rule: the segment
whose key sorts first wins.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from .results import FoldResult
from .store import RunLocation, Store

LAYOUT_VERSION = 2  # 1: one object per fold (folds/<index>.json); 2: segments
SEGMENTS_DIR = "segments/"
CHECKPOINT_SECONDS = float(os.environ.get("LOOCV_CHECKPOINT_SECONDS", "2.0"))
MAX_FOLDS = int(os.environ.get("LOOCV_CHECKPOINT_FOLDS", "1000"))
OPERATOR_ATTEMPT = 999  # folds the operator records without computing sort after any trainer's


def segments_prefix(location: RunLocation) -> str:
    return location.prefix + SEGMENTS_DIR


def segment_key(location: RunLocation, batch: int, attempt: int, seq: int, writer: str) -> str:
    return f"{segments_prefix(location)}{batch:06d}-{attempt:03d}-{seq:06d}-{writer}.json"


def new_writer_id() -> str:
    """Unique per process: two pods of one attempt (a Job's own retry) never collide."""
    return f"{os.getpid()}{secrets.token_hex(3)}"


def encode(
    location: RunLocation,
    batch: int,
    attempt: int,
    seq: int,
    writer: str,
    folds: list[FoldResult],
) -> bytes:
    """The segment's bytes: one strict-JSON document, encoded in one call (a call per fold
    cost more than the fast paths' whole computation)."""
    document = {
        "layout": LAYOUT_VERSION,
        "run": location.prefix.rstrip("/"),
        "batch": batch,
        "attempt": attempt,
        "seq": seq,
        "writer": writer,
        "indices": [f.index for f in folds],
        "folds": [f.to_dict() for f in folds],
    }
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()


@dataclass(frozen=True)
class Segment:
    key: str
    batch: int
    attempt: int
    folds: list[FoldResult]


def decode(key: str, raw: bytes) -> Segment:
    """Raises ValueError (or KeyError/TypeError) for anything that is not a whole segment:
    a truncated or hand-edited object is unreadable, and its folds count as missing."""
    data: dict[str, Any] = json.loads(raw)
    if data.get("layout") != LAYOUT_VERSION:
        raise ValueError(f"{key}: not a layout-{LAYOUT_VERSION} segment")
    folds = [FoldResult.from_dict(f) for f in data["folds"]]
    return Segment(key, int(data["batch"]), int(data["attempt"]), folds)


class SegmentWriter:
    """Buffers fold results and writes them as segments at checkpoints (see the module)."""

    def __init__(
        self,
        store: Store,
        location: RunLocation,
        batch: int,
        attempt: int = 0,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
        max_folds: int = MAX_FOLDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.location = location
        self.batch = batch
        self.attempt = attempt
        self.checkpoint_seconds = checkpoint_seconds
        self.max_folds = max(1, max_folds)
        self.clock = clock
        self.writer = new_writer_id()
        self.seq = 0
        self.written = 0  # folds stored so far
        self._buffer: list[FoldResult] = []
        self._since = clock()
        self._failed = False

    def add(self, result: FoldResult) -> None:
        self._buffer.append(result)
        if (
            len(self._buffer) >= self.max_folds
            or self.clock() - self._since >= self.checkpoint_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Write what is buffered as one segment (nothing when the buffer is empty)."""
        if self._buffer:
            key = segment_key(self.location, self.batch, self.attempt, self.seq, self.writer)
            self.store.put(
                key,
                encode(
                    self.location, self.batch, self.attempt, self.seq, self.writer, self._buffer
                ),
            )
            self.seq += 1
            self.written += len(self._buffer)
            self._buffer = []
        self._since = self.clock()

    def __enter__(self) -> SegmentWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Flush on the way out, also when interrupted: Ctrl-C and SIGTERM lose nothing.
        A store error is not retried here (it is what is propagating)."""
        from .errors import StoreError

        if kind is None or not issubclass(kind, StoreError):
            self.flush()
