"""Writing fold results while the next folds compute.

A trainer stores one object per fold. Against S3 each PUT is a network round trip: on the
e2e benchmark (docs/benchmarks.md part 4) the serial PUTs took 29 ms a fold against 10 ms
of fit and predict, so pods spent most of their time waiting for the store. ``FoldWriter``
keeps a few PUTs in flight on threads (boto3 clients are thread-safe) and the compute
never waits unless the store falls behind by more than a bounded backlog.

Each object is still written atomically and on its own; a crash loses at most the writes in
flight, whose folds are simply computed again by the retried pod. A write that fails (after
the store's own retries) is raised from the next ``put`` or from ``close``, so the trainer
still exits with its retryable code.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

from .store import S3Store, Store

DEFAULT_IN_FLIGHT = 8


def writes_in_flight(store: Store) -> int:
    """Background writes pay off against a network store; a local directory's atomic
    rename is fast, and writing inline keeps "every finished fold is stored" exact there."""
    return DEFAULT_IN_FLIGHT if isinstance(store, S3Store) else 0


class FoldWriter:
    def __init__(self, store: Store, in_flight: int = DEFAULT_IN_FLIGHT) -> None:
        """``in_flight`` 0 writes inline, in the caller's thread."""
        self.store = store
        self.in_flight = max(0, in_flight)
        self._pool = (
            ThreadPoolExecutor(self.in_flight, thread_name_prefix="loocv-put")
            if self.in_flight
            else None
        )
        self._pending: deque[Future[None]] = deque()
        self.written = 0

    def put(self, key: str, data: bytes) -> None:
        """Queue one object; wait only when the backlog is full (and raise a failed write)."""
        if self._pool is None:
            self.store.put(key, data)
            self.written += 1
            return
        self._reap(block_over=2 * self.in_flight)
        self._pending.append(self._pool.submit(self.store.put, key, data))

    def _reap(self, block_over: int) -> None:
        while self._pending and (self._pending[0].done() or len(self._pending) > block_over):
            self._pending.popleft().result()  # re-raises the write's error
            self.written += 1

    def close(self) -> None:
        """Wait for every queued write; the first failure is raised."""
        try:
            self._reap(block_over=0)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FoldWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        elif self._pool is not None:  # already failing: drop the queue, keep the error
            self._pool.shutdown(wait=False, cancel_futures=True)
