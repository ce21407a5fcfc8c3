"""The paired statistics: the exact McNemar test and the paired bootstrap.

McNemar looks only at the discordant pairs: b samples the baseline got right and the
candidate wrong (regressions), c the reverse (improvements). Under "no difference" each
discordant pair is a fair coin, so b ~ Binomial(b + c, 1/2). The exact test sums binomial
probabilities with integer arithmetic: no normal approximation, which is badly off for the
handful of discordant pairs small data sets give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
_CHUNK = 200  # resamples per block: bounds memory at 200 x n indices


def _tail(n: int, k: int) -> Fraction:
    """P(X >= k) for X ~ Binomial(n, 1/2), exactly."""
    if k <= 0:
        return Fraction(1)
    if k > n:
        return Fraction(0)
    return Fraction(sum(math.comb(n, i) for i in range(k, n + 1)), 2**n)


@dataclass(frozen=True)
class McNemar:
    b: int  # baseline right, candidate wrong: regressions
    c: int  # baseline wrong, candidate right: improvements
    p_two_sided: float  # any difference
    p_worse: float  # one-sided: the candidate is worse (b large)

    @property
    def discordant(self) -> int:
        return self.b + self.c


def mcnemar_exact(b: int, c: int) -> McNemar:
    """The exact (binomial) McNemar test. With no discordant pair both p-values are 1; with
    b == c the two-sided p-value is 1 (capped: the two tails overlap in the middle)."""
    if b < 0 or c < 0:
        raise ValueError(f"counts must be >= 0, got b={b}, c={c}")
    n = b + c
    two_sided = min(Fraction(1), 2 * _tail(n, max(b, c)))
    return McNemar(b=b, c=c, p_two_sided=float(two_sided), p_worse=float(_tail(n, b)))


def p_text(value: float) -> str:
    """4 significant digits, but never a p-value below 1 shown as 1."""
    text = f"{value:.4g}"
    return f"{value:.6f}" if text == "1" and value < 1 else text


@dataclass(frozen=True)
class PairedInterval:
    """candidate - baseline for one metric: the difference and its bootstrap interval."""

    baseline: float
    candidate: float
    difference: float
    low: float
    high: float
    level: float = 0.95


def paired_bootstrap(
    baseline: NDArray[np.float64],
    candidate: NDArray[np.float64],
    *,
    root: bool = False,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> PairedInterval:
    """Percentile interval of mean(candidate) - mean(baseline) over per-sample values, the
    same resampled rows for both runs (that pairing is what makes it tight). ``root``: the
    metric is sqrt(mean) (RMSE from squared errors). Deterministic: a fixed seed."""
    a = np.asarray(baseline, dtype=np.float64)
    b = np.asarray(candidate, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError("need two equally long, non-empty vectors of per-sample values")

    def metric(values: NDArray[np.float64]) -> NDArray[np.float64]:
        means: NDArray[np.float64] = values.mean(axis=-1)
        return np.sqrt(means) if root else means

    point_a, point_b = float(metric(a)), float(metric(b))
    rng = np.random.default_rng(seed)
    diffs: list[NDArray[np.float64]] = []
    for start in range(0, resamples, _CHUNK):
        size = min(_CHUNK, resamples - start)
        idx = rng.integers(0, a.size, size=(size, a.size))
        diffs.append(metric(b[idx]) - metric(a[idx]))
    dist = np.concatenate(diffs)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(dist, [tail, 1.0 - tail])
    return PairedInterval(
        baseline=point_a,
        candidate=point_b,
        difference=point_b - point_a,
        low=float(low),
        high=float(high),
        level=level,
    )
