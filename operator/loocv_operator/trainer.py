"""The trainer: runs one batch of folds and writes them as segments (segments.py).

Folds an exact fast path can compute (fastpaths: one pass over the data for every held-out
row of the batch) are written with the path recorded; the rest are fitted one by one.

The same code runs in a trainer pod (``loocv train --plan URI --batch N``, what the
operator's Jobs call) and in the local executor's worker processes. It loads the data once,
skips folds already in the store (a retried or preempted batch resumes), and isolates a
failing fold: the error is recorded and the batch carries on.

Exit codes (a contract with the Job's podFailurePolicy): 0 done, even with failed folds;
2 invalid input, retrying cannot help; anything else a retryable failure.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .columns import SummaryFrame
from .errors import EXIT_ERROR, EXIT_INVALID, EXIT_OK, InvalidInput, StoreError, last_word
from .estimators import allowlist_from_env
from .fastpaths.timing import with_brute_force_timing
from .foldrunner import FoldRunner, limit_math_threads
from .inputs import load_inputs
from .ledger import stored_indices
from .outcome import error_shape
from .plan import Plan
from .results import FoldError
from .segments import SegmentWriter
from .store import Store, open_store, read_uri

log = logging.getLogger("loocv.trainer")
# Set by SIGTERM/SIGINT in `loocv train` (a deleted, evicted or suspended pod): the batch stops
# after the fold in flight, every computed fold is written, and the process exits 143.
STOP = threading.Event()
EXIT_TERMINATED = 128 + signal.SIGTERM
LOGGED_FAILURES = 3  # failed folds logged one by one per batch; the rest are counted


@dataclass(frozen=True)
class BatchOutcome:
    computed: int
    skipped: int
    failed: int
    first_error: FoldError | None = None  # the first failed fold's error
    mixed_errors: bool = False  # the failed folds did not all raise the same error


def run_batch(runner: FoldRunner, batch: int, store: Store, attempt: int = 0) -> BatchOutcome:
    """Run the folds of one batch that are not yet in the store."""
    plan = runner.plan
    if not 0 <= batch < len(plan.batches):
        raise InvalidInput("--batch", f"batch {batch} does not exist (0..{len(plan.batches) - 1})")
    return run_folds(runner, plan.batches[batch], store, batch=batch, attempt=attempt)


def fast_pass(
    runner: FoldRunner,
    indices: Sequence[int],
    writer: SegmentWriter,
    done: set[int] | frozenset[int] = frozenset(),
) -> tuple[BatchOutcome, list[int]]:
    """Store what the fast path computes of these folds (but the ``done`` ones); return the
    outcome and the folds still to fit by brute force."""
    plan = runner.plan
    pending = [i for i in indices if i not in done]
    skipped = len(indices) - len(pending)
    fast = runner.run_fast([plan.folds[i] for i in pending]) if runner.fast else {}
    if fast:  # a few folds timed by brute force too: what the fast path saved (usage.py)
        fast = with_brute_force_timing(runner, fast)
    for index in pending:
        if index in fast:
            writer.add(fast[index])
    if runner.fast is not None and pending:
        log.info("fast path %s: %d of %d folds", runner.fast.name, len(fast), len(pending))
    return BatchOutcome(len(fast), skipped, 0), [i for i in pending if i not in fast]


def run_folds(
    runner: FoldRunner,
    indices: Sequence[int],
    store: Store,
    check_store: bool = True,
    batch: int = 0,
    attempt: int = 0,
) -> BatchOutcome:
    """The fast pass, then brute force for the rest, written as segments at checkpoints; a
    failing fold is recorded and the rest carried on. ``check_store=False``: the caller has
    just found which folds are stored (and passed only the others)."""
    plan = runner.plan
    computed = failed = 0
    first: FoldError | None = None
    mixed = False
    done = stored_folds(store, plan, indices) if check_store else set()
    frame = SummaryFrame.of(plan.task, plan.classes, plan.n_folds)
    with SegmentWriter(store, plan.location, batch, attempt, frame=frame) as writer:
        outcome, rest = fast_pass(runner, indices, writer, done)
        computed = outcome.computed
        for index in rest:
            if STOP.is_set():
                break
            result = runner.run(plan.folds[index])
            writer.add(result)
            computed += 1
            if result.error:
                failed += 1
                first = first or result.error
                mixed = mixed or error_shape(result.error) != error_shape(first)
                if failed <= LOGGED_FAILURES:  # the same line N times would bury the rest
                    log.warning(
                        "fold %d failed: %s: %s", index, result.error.type, result.error.message
                    )
    if failed > LOGGED_FAILURES:
        log.warning("%d more folds of this batch failed (see the report)", failed - LOGGED_FAILURES)
    return BatchOutcome(computed, outcome.skipped, failed, first, mixed)


def stored_folds(store: Store, plan: Plan, indices: Sequence[int]) -> set[int]:
    """The folds among ``indices`` already stored in a readable segment: one listing of the
    run's segments and one GET per segment (a fresh run reads nothing)."""
    return stored_indices(store, plan.location, indices)


def runner_for(plan: Plan, allowlist: Sequence[str]) -> FoldRunner:
    """Step 2's inputs, loaded as every step loads them (inputs.py)."""
    inputs = load_inputs(plan.spec, allowlist)
    return FoldRunner(plan, inputs.dataset, inputs.estimator, inputs.hasher)


def open_plan(plan_uri: str, endpoint: str | None) -> tuple[Plan, Store]:
    """Read plan.json and open the store it lives in (its root is the plan's address
    without the run's <namespace>/<run>/<uid>/plan.json suffix)."""
    plan = Plan.from_json(read_uri(plan_uri, endpoint), plan_uri)
    suffix = plan.location.plan
    if not plan_uri.endswith(suffix):
        raise InvalidInput("--plan", f"{plan_uri} is not at <store>/{suffix}")
    store = open_store(plan_uri[: -len(suffix)] or ".", endpoint, plan.spec.storage.region)
    return plan, store


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="loocv train", description="Run one batch of folds of a planned LOOCV run."
    )
    parser.add_argument("--plan", required=True, help="address of plan.json (s3://… or path)")
    parser.add_argument("--batch", required=True, type=int, help="batch number in the plan")
    parser.add_argument(
        "--attempt", type=int, default=0, help="the Job's attempt (names the segments it writes)"
    )
    parser.add_argument("--endpoint", default=None, help="S3 endpoint (else LOOCV_S3_ENDPOINT)")
    parser.add_argument("--allow", action="append", default=[], help="extra allowlist prefix")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    limit_math_threads()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: STOP.set())
    try:
        plan, store = open_plan(args.plan, args.endpoint)
        runner = runner_for(plan, allowlist_from_env(args.allow))
        start = time.perf_counter()
        outcome = run_batch(runner, args.batch, store, args.attempt)
    except InvalidInput as exc:
        print(f"invalid input: {exc}", file=sys.stderr)
        _termination_message(f"invalid input: {exc}")
        return EXIT_INVALID
    except StoreError as exc:
        print(f"store error (retryable): {exc}", file=sys.stderr)
        _termination_message(f"store error (retryable): {exc}")
        return EXIT_ERROR
    if STOP.is_set():
        message = (
            f"stopped by a signal: batch {args.batch} wrote {outcome.computed} folds "
            f"({outcome.skipped} were already stored); a retry resumes from there"
        )
        print(message, file=sys.stderr)
        _termination_message(message)
        return EXIT_TERMINATED
    log.info(
        "batch %d done in %.2fs: %d computed, %d already stored, %d failed",
        args.batch,
        time.perf_counter() - start,
        outcome.computed,
        outcome.skipped,
        outcome.failed,
    )
    return EXIT_OK


def _termination_message(message: str) -> None:
    last_word(message)


if __name__ == "__main__":
    sys.exit(main())
