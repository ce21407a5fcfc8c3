"""What a fast path saves: a few of its folds fitted by brute force as well, and timed.

A fast path computes N folds with one fit, so "how much did it save" needs the brute-force
time of a fold, which nothing else measures. The first ``SAMPLE_FOLDS`` folds of the plan
(whichever batch holds them, so a run samples them once however it is batched) are refitted
the ordinary way after the fast pass; their fit + predict seconds travel in the fold's
``extra`` (``usage.BRUTE_FORCE_KEY``) and usage.fold_compute averages them. Sampling stops
early once ``MAX_SECONDS`` are spent: slow brute-force folds are why the fast path exists.
The brute-force results themselves are discarded (the fast path's are the stored ones).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from ..results import FoldResult
from ..usage import BRUTE_FORCE_KEY

if TYPE_CHECKING:
    from ..foldrunner import FoldRunner

SAMPLE_FOLDS = 3
MAX_SECONDS = 5.0


def with_brute_force_timing(
    runner: FoldRunner, fast: Mapping[int, FoldResult]
) -> dict[int, FoldResult]:
    """``fast`` with the sampled folds carrying their brute-force time."""
    out = dict(fast)
    spent = 0.0
    for index in sorted(i for i in fast if i < SAMPLE_FOLDS):
        if spent >= MAX_SECONDS:
            break
        started = time.perf_counter()
        brute = runner.run(runner.plan.folds[index])
        spent += time.perf_counter() - started
        if brute.error is not None:
            continue
        result = out[index]
        extra = {**result.extra, BRUTE_FORCE_KEY: brute.fit_seconds + brute.predict_seconds}
        out[index] = replace(result, extra=extra)
    return out
