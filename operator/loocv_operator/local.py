"""The local executor: the same manifest, run in-process over a pool of worker processes.

A local run is the cluster's three steps (runsteps.py) in one process: ``prepare`` plans
(what the planner Job does), ``execute`` trains (what the trainer Jobs do), and the CLI's
``finish_run`` writes the report (what the report Job does).

Each worker loads the data and builds the estimator once (pool initializer), then runs
batches with the trainer's own code and writes each fold to the store as it finishes. So
Ctrl-C loses nothing already computed, and a rerun of the same manifest resumes: the run's
directory is keyed by what determines the fold results (data, model, strategy, seed,
trainer version), and stored folds are skipped; a changed gate or batch size reuses them.

Before the fan-out, one trial fit on all the samples catches configuration errors that only a
fit reveals; and if the first folds still all fail with the same error, the run stops there.

When an exact fast path applies, it runs once, in this process, over every fold: starting
workers would cost more than the whole computation. Only the folds it does not claim are
fanned out to the pool.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from . import __version__, trainer
from .columns import SummaryFrame
from .datasets import Dataset
from .errors import InvalidInput
from .foldrunner import FoldRunner, limit_math_threads
from .folds import plan_batches
from .outcome import EARLY_STOP_FOLDS, error_shape
from .plan import Plan
from .privacy import IdHasher
from .results import FoldError
from .runsteps import load_inputs, plan_run
from .segments import SegmentWriter
from .spec import LOOCVRun
from .store import RunLocation, Store
from .trainer import BatchOutcome, fast_pass, run_folds, stored_folds

LOCAL_BATCHES_PER_WORKER = 32
LOCAL_MAX_FOLDS_PER_BATCH = 64

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class LocalRun:
    plan: Plan
    store: Store
    computed: int
    skipped: int
    failed: int


class FoldsFailAlike(InvalidInput):
    """The first folds all failed with one error: repeating it N times would tell nothing."""


def local_location(run: LOOCVRun, dataset: Dataset, hasher: IdHasher) -> RunLocation:
    """A local run has no API-server uid: a digest of what determines the fold results stands
    in (the spec's data, model, strategy and seed, the data's content, the id salt and the
    trainer version), so a rerun finds its earlier folds even with another gate."""
    key = hashlib.sha256(
        "\n".join(
            [run.spec.results_digest(), dataset.digest(), hasher.fingerprint(), __version__]
        ).encode()
    ).hexdigest()
    return RunLocation(run.metadata.namespace, run.metadata.name, f"local-{key[:12]}")


def local_batches(n_folds: int, workers: int) -> list[list[int]]:
    """Small batches locally: a smooth progress bar and even load; the per-batch cost here is
    one task submission (~0.1 ms), not a pod start. The run ends when the last batch does,
    so the other workers idle for up to a batch: 32 per worker keep that tail to a few
    folds (measured: 8 per worker left the 2 workers ending ~80 ms apart, 32 ~10 ms)."""
    size = math.ceil(n_folds / max(1, workers * LOCAL_BATCHES_PER_WORKER))
    return plan_batches(n_folds, max(1, min(LOCAL_MAX_FOLDS_PER_BATCH, size)))


def batches_of(indices: Sequence[int], workers: int) -> list[list[int]]:
    """``local_batches`` over an arbitrary list of fold indices."""
    return [[indices[i] for i in b] for b in local_batches(len(indices), workers)]


def prepare(
    run: LOOCVRun, store: Store, allowlist: Sequence[str], dataset: Dataset | None = None
) -> tuple[Plan, FoldRunner]:
    """Step 1 (runsteps.py), in this process: load and check everything, plan, write
    plan.json, all before the first fold runs."""
    inputs = load_inputs(run.spec, allowlist, dataset)
    location = local_location(run, inputs.dataset, inputs.hasher)
    plan = plan_run(run.spec, location, inputs, store)
    return plan, FoldRunner(plan, inputs.dataset, inputs.estimator, inputs.hasher)


@dataclass
class FailureWatch:
    """Counts outcomes from the start of a run, to stop one whose first folds all fail alike
    (an error only the folds reveal: the same message N times would help nobody)."""

    n_folds: int
    succeeded: int = 0
    failed: int = 0
    error: FoldError | None = None
    mixed: bool = False

    def add(self, outcome: BatchOutcome) -> None:
        self.succeeded += outcome.computed - outcome.failed
        self.failed += outcome.failed
        if outcome.first_error is not None:
            self.mixed = self.mixed or outcome.mixed_errors
            self.error = self.error or outcome.first_error
            self.mixed = self.mixed or error_shape(outcome.first_error) != error_shape(self.error)
        alike = self.succeeded == 0 and not self.mixed and self.error is not None
        # A run that ends anyway (fewer folds than the threshold) is judged at its end.
        if alike and EARLY_STOP_FOLDS <= self.failed < self.n_folds:
            assert self.error is not None
            raise FoldsFailAlike(
                "spec.model",
                f"the first {self.failed} folds all failed with the same error, so the "
                f"run stopped early: {self.error.type}: {self.error.message[:400]}",
            )


# Worker-process state, set once per process by the pool initializer.
_worker: dict[str, Any] = {}


def _init_worker(runner: FoldRunner, store: Store, stop: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C for everyone
    trainer.STOP = stop  # set by the parent on Ctrl-C: finish the fold in flight, flush, return
    _worker["limits"] = limit_math_threads()
    _worker["runner"] = runner
    _worker["store"] = store


def _run_local_batch(batch: int) -> tuple[int, BatchOutcome]:
    runner: FoldRunner = _worker["runner"]
    # The parent checked the store for every fold before batching only the missing ones.
    folds = runner.plan.batches[batch]
    return batch, run_folds(runner, folds, _worker["store"], False, batch=1 + batch)


def _drain(results: Iterator[tuple[int, BatchOutcome]], account: Callable[..., None]) -> None:
    """After Ctrl-C: let every worker finish its fold in flight and store what it computed
    (the batches still queued return at once); a second Ctrl-C stops without waiting."""
    import sys

    print(
        "\nstopping: storing the folds in flight (Ctrl-C again to stop at once)",
        file=sys.stderr,
        flush=True,
    )
    for batch, outcome in results:
        account(outcome, batch)


def execute(
    plan: Plan,
    runner: FoldRunner,
    store: Store,
    workers: int,
    progress: ProgressCallback | None = None,
) -> LocalRun:
    """Run every batch; ``progress`` is told how many folds each finished batch covered."""
    totals = [0, 0, 0]
    watch = FailureWatch(plan.n_folds)
    done = stored_folds(store, plan, range(plan.n_folds))  # once here, not per fold in workers
    indices = [i for i in range(plan.n_folds) if i not in done]
    totals[1] = len(done)
    if progress and done:
        progress(len(done))
    if runner.fast is not None and indices:
        frame = SummaryFrame.of(plan.task, plan.classes, plan.n_folds)
        with limit_math_threads(), SegmentWriter(store, plan.location, 0, frame=frame) as writer:
            outcome, indices = fast_pass(runner, indices, writer)
        totals[0] = outcome.computed
        if progress:
            progress(outcome.computed)
    batches = batches_of(indices, workers)
    local_plan = replace(plan, batches=batches)
    # The pool fits what the fast pass left: asking the fast path again would only repeat it.
    runner = FoldRunner(
        local_plan, runner.dataset, runner.estimator, runner.hasher, fast_paths=False
    )

    def account(outcome: BatchOutcome, size: int) -> None:
        totals[0] += outcome.computed
        totals[1] += outcome.skipped
        totals[2] += outcome.failed
        if progress:
            progress(size)
        watch.add(outcome)

    if workers <= 1 or len(batches) <= 1:  # nothing (or one batch) left: no pool to start
        # One process: Ctrl-C raises in the fold in flight, and the writer flushes the rest.
        with limit_math_threads():
            for b, folds in enumerate(batches):
                outcome = run_folds(runner, folds, store, check_store=False, batch=1 + b)
                account(outcome, len(folds))
        return LocalRun(plan, store, *totals)
    stop = multiprocessing.Event()
    pool = multiprocessing.Pool(workers, initializer=_init_worker, initargs=(runner, store, stop))
    results = pool.imap_unordered(_run_local_batch, range(len(batches)))
    try:
        for b, outcome in results:
            account(outcome, len(batches[b]))
        pool.close()
    except (KeyboardInterrupt, FoldsFailAlike):
        stop.set()
        pool.close()
        try:
            _drain(results, lambda outcome, b: None)
        except BaseException:
            pool.terminate()
        raise
    except BaseException:
        pool.terminate()  # a crash (or an early stop): what the workers wrote is stored
        raise
    finally:
        pool.join()
    return LocalRun(plan, store, *totals)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
