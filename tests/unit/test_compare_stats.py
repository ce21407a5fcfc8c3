"""The paired statistics against independent implementations: the exact McNemar p-values
by enumerating every outcome of the discordant coin flips (and scipy's binomtest), the
paired bootstrap on cases whose answer is known."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from scipy.stats import binomtest

from loocv_operator.compare.stats import mcnemar_exact, paired_bootstrap


def brute_force(b: int, c: int) -> tuple[Fraction, Fraction]:
    """Every sequence of n = b + c fair flips ("regression" or "improvement"): the one-sided
    p-value is the share with at least b regressions; the two-sided one the share of
    sequences whose count is no likelier than the observed (the "minimum likelihood"
    definition, which does not rely on symmetry)."""
    n = b + c
    counts = [sum(seq) for seq in itertools.product((0, 1), repeat=n)]
    total = Fraction(len(counts))
    freq = {k: counts.count(k) for k in range(n + 1)}
    worse = Fraction(sum(1 for k in counts if k >= b)) / total
    two = Fraction(sum(freq[k] for k in freq if freq[k] <= freq[b])) / total
    return worse, two


CASES = [(0, 0), (1, 0), (0, 1), (3, 3), (5, 5), (6, 1), (1, 6), (7, 2), (0, 9), (10, 0), (4, 7)]


@pytest.mark.parametrize(("b", "c"), CASES)
def test_exact_mcnemar_equals_brute_force(b: int, c: int) -> None:
    test = mcnemar_exact(b, c)
    worse, two = brute_force(b, c)
    assert test.p_worse == pytest.approx(float(worse), abs=1e-15)
    assert test.p_two_sided == pytest.approx(float(min(two, Fraction(1))), abs=1e-15)
    assert (test.b, test.c, test.discordant) == (b, c, b + c)


def test_no_discordant_pair_and_ties_give_p_one() -> None:
    assert mcnemar_exact(0, 0).p_two_sided == 1.0
    assert mcnemar_exact(0, 0).p_worse == 1.0
    for k in (1, 4, 25):
        assert mcnemar_exact(k, k).p_two_sided == 1.0
        assert 0.5 < mcnemar_exact(k, k).p_worse < 1.0  # a tie is no evidence of "worse"


@pytest.mark.parametrize(("b", "c"), [(40, 20), (20, 40), (6, 29), (100, 130), (57, 0)])
def test_exact_mcnemar_equals_scipy_binomtest_for_larger_counts(b: int, c: int) -> None:
    test = mcnemar_exact(b, c)
    n = b + c
    assert test.p_worse == pytest.approx(binomtest(b, n, 0.5, alternative="greater").pvalue)
    assert test.p_two_sided == pytest.approx(binomtest(b, n, 0.5).pvalue)


def test_exact_mcnemar_refuses_negative_counts() -> None:
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_paired_bootstrap_of_a_constant_shift_is_exact() -> None:
    rng = np.random.default_rng(1)
    a = rng.exponential(size=200)
    result = paired_bootstrap(a, a + 0.25)
    assert result.difference == pytest.approx(0.25)
    assert result.low == pytest.approx(0.25) and result.high == pytest.approx(0.25)


def test_paired_bootstrap_is_tighter_than_unpaired_and_deterministic() -> None:
    rng = np.random.default_rng(2)
    a = rng.exponential(size=300)
    b = a + rng.normal(0.05, 0.05, size=300)
    one, two = paired_bootstrap(a, b), paired_bootstrap(a, b)
    assert one == two
    assert one.low < one.difference < one.high
    assert one.low > 0  # the pairing removes the (large) between-sample spread
    unpaired_se = np.sqrt(a.var() / a.size + b.var() / b.size)
    assert (one.high - one.low) < unpaired_se  # far narrower than 2 x 1.96 unpaired SEs


def test_paired_bootstrap_root_is_rmse() -> None:
    errors_a = np.array([1.0, 2.0, 3.0, 4.0])
    result = paired_bootstrap(errors_a**2, (2 * errors_a) ** 2, root=True)
    assert result.baseline == pytest.approx(np.sqrt(np.mean(errors_a**2)))
    assert result.difference == pytest.approx(result.baseline)
