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

A segment is two lines of strict JSON: a small *header* (run, batch, attempt, the fold
indices, the mergeable summary of its folds, partial.py, and the length and CRC-32 of the
rest), then the *body* with every fold's rows. A reader that wants progress or pooled
metrics (summaries.py) parses the header only; the checksum makes a torn or edited body
unreadable for it too, so both readers agree on which folds are stored.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from .columns import SummaryFrame
from .partial import summarize_folds, to_json
from .results import FoldResult
from .store import RunLocation, Store

# 1: one object per fold (folds/<index>.json); 2: segments; 3: segments whose first line
# is a header with their folds' mergeable summary
LAYOUT_VERSION = 3
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


def runs_of(indices: list[int]) -> list[list[int]]:
    """Fold indices as [first, last] runs: a segment's folds are mostly consecutive, and
    the header stays a few hundred bytes whatever the segment's size."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return runs


def indices_of(runs: list[list[int]]) -> list[int]:
    return [i for first, last in runs for i in range(int(first), int(last) + 1)]


def segment_summary(folds: list[FoldResult], frame: SummaryFrame | None) -> dict[str, Any] | None:
    """The folds' partial summary as JSON. Without the plan's frame (the operator's not-run
    records) only folds with no evaluated sample can be summarised; otherwise None, and
    readers summarise the rows themselves."""
    if frame is None:
        if any(f.ok and any(s.y_pred is not None for s in f.samples) for f in folds):
            return None
        frame = SummaryFrame("regression")
    return to_json(summarize_folds(folds, frame))


def encode(
    location: RunLocation,
    batch: int,
    attempt: int,
    seq: int,
    writer: str,
    folds: list[FoldResult],
    frame: SummaryFrame | None = None,
) -> bytes:
    """The segment's bytes: the header line, then the body (every fold), each encoded in
    one call (a call per fold cost more than the fast paths' whole computation)."""
    body = json.dumps(
        {"folds": [f.to_dict() for f in folds]}, separators=(",", ":"), allow_nan=False
    ).encode()
    header = {
        "layout": LAYOUT_VERSION,
        "run": location.prefix.rstrip("/"),
        "batch": batch,
        "attempt": attempt,
        "seq": seq,
        "writer": writer,
        "indices": runs_of([f.index for f in folds]),
        "summary": segment_summary(folds, frame),
        "body": {"bytes": len(body), "crc32": zlib.crc32(body)},
    }
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    return head + b"\n" + body


@dataclass(frozen=True)
class SegmentHeader:
    key: str
    batch: int
    attempt: int
    indices: list[int]
    summary: dict[str, Any] | None  # partial.to_json of its folds, None if not summarised


@dataclass(frozen=True)
class Segment:
    key: str
    batch: int
    attempt: int
    folds: list[FoldResult]


def _split(key: str, raw: bytes) -> tuple[dict[str, Any], bytes]:
    head, newline, body = raw.partition(b"\n")
    if not newline:
        raise ValueError(f"{key}: not a layout-{LAYOUT_VERSION} segment (no header line)")
    header: dict[str, Any] = json.loads(head)
    if not isinstance(header, dict) or header.get("layout") != LAYOUT_VERSION:
        raise ValueError(f"{key}: not a layout-{LAYOUT_VERSION} segment")
    size = header["body"]
    if len(body) != int(size["bytes"]) or zlib.crc32(body) != int(size["crc32"]):
        raise ValueError(f"{key}: torn or edited (its body does not match its header)")
    return header, body


def decode_header(key: str, raw: bytes) -> SegmentHeader:
    """The header only, after checking the body is whole (no row is parsed). Raises like
    decode."""
    header, _ = _split(key, raw)
    indices = indices_of(header["indices"])
    summary = header.get("summary")
    if summary is not None and not isinstance(summary, dict):
        raise TypeError(f"{key}: its summary is not an object")
    return SegmentHeader(key, int(header["batch"]), int(header["attempt"]), indices, summary)


def decode(key: str, raw: bytes) -> Segment:
    """Raises ValueError (or KeyError/TypeError) for anything that is not a whole segment:
    a truncated or hand-edited object is unreadable, and its folds count as missing."""
    header, body = _split(key, raw)
    folds = [FoldResult.from_dict(f) for f in json.loads(body)["folds"]]
    if [f.index for f in folds] != indices_of(header["indices"]):
        raise ValueError(f"{key}: its folds are not the ones its header names")
    return Segment(key, int(header["batch"]), int(header["attempt"]), folds)


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
        frame: SummaryFrame | None = None,
    ) -> None:
        self.store = store
        self.frame = frame  # the plan's task and classes, for each segment's summary
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
                    self.location,
                    self.batch,
                    self.attempt,
                    self.seq,
                    self.writer,
                    self._buffer,
                    self.frame,
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
