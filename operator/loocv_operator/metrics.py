"""The former home of the pooled metrics, split into stats.py (pure statistics),
aggregator.py (every fold's samples), summary.py (the typed summary), and the mergeable
partial summaries (columns.py, partial.py, finish.py, summaries.py).

Kept for the importers not converted yet (kube/service.py imports Aggregator from here);
new code imports from those modules.
"""

from __future__ import annotations

from .aggregator import Aggregator, Pooled, aggregate
from .aggregator import summarize as summarize_typed
from .columns import MAX_FAILURE_IDS, MAX_FAILURES, MAX_MESSAGE_CHARS
from .finish import MAX_MISSING_LISTED
from .partial import NOISE_CANDIDATES, NOISE_CONFIDENCE, WORST_SAMPLES
from .stats import (
    BOOTSTRAP_EXACT_MAX,
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    ECE_BINS,
    Reliability,
    bootstrap_ci,
    brier_score,
    expected_calibration_error,
    reliability,
    wilson_interval,
)

__all__ = [
    "BOOTSTRAP_EXACT_MAX",
    "BOOTSTRAP_RESAMPLES",
    "BOOTSTRAP_SEED",
    "ECE_BINS",
    "MAX_FAILURES",
    "MAX_FAILURE_IDS",
    "MAX_MESSAGE_CHARS",
    "MAX_MISSING_LISTED",
    "NOISE_CANDIDATES",
    "NOISE_CONFIDENCE",
    "WORST_SAMPLES",
    "Aggregator",
    "Pooled",
    "Reliability",
    "aggregate",
    "bootstrap_ci",
    "brier_score",
    "expected_calibration_error",
    "reliability",
    "summarize",
    "summarize_typed",
    "wilson_interval",
]


def summarize(plan, results):  # type: ignore[no-untyped-def]
    """The dict form of aggregator.summarize (for the importers not converted yet)."""
    return summarize_typed(plan, results).to_dict()
