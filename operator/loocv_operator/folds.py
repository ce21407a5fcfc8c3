"""Fold planning: which samples each fold holds out, and how folds are batched into Jobs.

Deterministic from the spec, the data and the seed: the operator, a restarted operator and
a local rerun all compute the same plan, which is what makes Job names stable and resume safe.
Each fold's training set is every other row in ascending order, exactly as scikit-learn's
cross_val_predict slices it, so predictions match it bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InvalidInput
from .spec import StrategySpec, SubsetSpec

AUTO_BATCHES_PER_SLOT = 4
AUTO_MAX_FOLDS_PER_JOB = 250


@dataclass(frozen=True)
class Fold:
    index: int
    test: tuple[int, ...]


def _same_label(value: object, label: int | str) -> bool:
    """1 matches 1, 1.0 and "1"; "yes" matches "yes"."""
    if str(value) == str(label):
        return True
    try:
        return float(value) == float(label)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _labels_match(y: np.ndarray, labels: Sequence[int | str]) -> np.ndarray:
    return np.array([any(_same_label(v, lab) for lab in labels) for v in y.tolist()], dtype=bool)


def stratified_rows(y: np.ndarray, size: int, seed: int, classification: bool) -> list[int]:
    """A sample of ``size`` rows keeping class proportions (largest remainder, at least one
    row of every class when there is room), reproducible from the seed."""
    n = len(y)
    if size >= n:
        return list(range(n))
    rng = np.random.RandomState(seed)
    if not classification:
        return sorted(rng.choice(n, size=size, replace=False).tolist())
    classes, inverse = np.unique(np.asarray(y).astype(str), return_inverse=True)
    counts = np.bincount(inverse, minlength=len(classes))
    exact = counts * size / n
    take = np.floor(exact).astype(int)
    if size >= len(classes):
        take = np.maximum(take, np.minimum(counts, 1))
    while take.sum() > size:  # the minimum-one rule overshot: trim the largest classes
        take[np.argmax(take)] -= 1
    remainder = exact - take
    while take.sum() < size:
        order = np.argsort(-remainder, kind="stable")
        for c in order:
            if take[c] < counts[c]:
                take[c] += 1
                remainder[c] = -np.inf
                break
    rows: list[int] = []
    for c in range(len(classes)):
        members = np.flatnonzero(inverse == c)
        rows.extend(rng.choice(members, size=int(take[c]), replace=False).tolist())
    return sorted(rows)


def held_out_rows(subset: SubsetSpec | None, y: np.ndarray, classification: bool) -> list[int]:
    """The rows LeaveOneOut holds out, one fold each: all, or the subset asked for."""
    n = len(y)
    if subset is None:
        return list(range(n))
    if subset.indices is not None:
        for i, row in enumerate(subset.indices):
            if row >= n:
                raise InvalidInput(
                    f"spec.strategy.subset.indices[{i}]",
                    f"row {row} is out of range: the dataset has {n} rows",
                )
        return sorted(set(subset.indices))
    if subset.labels is not None:
        mask = _labels_match(y, subset.labels)
        for i, label in enumerate(subset.labels):
            if not _labels_match(y, [label]).any():
                raise InvalidInput(
                    f"spec.strategy.subset.labels[{i}]", f"no sample has label {label!r}"
                )
        return np.flatnonzero(mask).tolist()
    assert subset.stratified_sample is not None
    if subset.stratified_sample > n:
        raise InvalidInput(
            "spec.strategy.subset.stratifiedSample",
            f"{subset.stratified_sample} is more than the {n} samples; give at most {n}, or "
            "drop the subset to hold out every sample",
        )
    return stratified_rows(y, subset.stratified_sample, subset.seed, classification)


def plan_folds(
    strategy: StrategySpec,
    y: np.ndarray,
    groups: np.ndarray | None,
    seed: int,
    classification: bool,
) -> list[Fold]:
    # Here, not at the top: the operator reads Fold from plan.json without scikit-learn.
    from sklearn.model_selection import KFold, LeaveOneGroupOut

    n = len(y)
    if strategy.type == "LeaveOneOut":
        if n < 2:
            raise InvalidInput("spec.dataset", f"LeaveOneOut needs at least 2 samples, got {n}")
        rows = held_out_rows(strategy.subset, y, classification)
        return [Fold(i, (row,)) for i, row in enumerate(rows)]

    placeholder = np.zeros((n, 1))
    if strategy.type == "KFold":
        assert strategy.k is not None
        if strategy.k > n:
            raise InvalidInput("spec.strategy.k", f"k={strategy.k} exceeds the {n} samples")
        splitter = KFold(
            n_splits=strategy.k,
            shuffle=strategy.shuffle,
            random_state=seed if strategy.shuffle else None,
        )
        splits = splitter.split(placeholder)
    else:
        if groups is None:
            raise InvalidInput("spec.dataset.groupColumn", "LeaveOneGroupOut needs a group column")
        if len(np.unique(groups)) < 2:
            raise InvalidInput("spec.dataset.groupColumn", "LeaveOneGroupOut needs 2+ groups")
        splits = LeaveOneGroupOut().split(placeholder, groups=groups)
    return [Fold(i, tuple(int(r) for r in test)) for i, (_, test) in enumerate(splits)]


def auto_folds_per_job(n_folds: int, max_concurrent_jobs: int) -> int:
    """Enough batches to keep every Job slot busy a few times over, no more than needed."""
    target_batches = max(1, max_concurrent_jobs * AUTO_BATCHES_PER_SLOT)
    return max(1, min(AUTO_MAX_FOLDS_PER_JOB, math.ceil(n_folds / target_batches)))


def plan_batches(n_folds: int, folds_per_job: int) -> list[list[int]]:
    """Consecutive runs of fold indices; batch b is always the same folds."""
    return [
        list(range(start, min(start + folds_per_job, n_folds)))
        for start in range(0, n_folds, folds_per_job)
    ]
