from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import KFold, LeaveOneGroupOut

from loocv_operator.errors import InvalidInput
from loocv_operator.folds import (
    auto_folds_per_job,
    plan_batches,
    plan_folds,
    stratified_rows,
)
from loocv_operator.spec import StrategySpec

Y = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])


def strategy(**fields: object) -> StrategySpec:
    return StrategySpec.model_validate(fields)


def test_leave_one_out_holds_out_every_row_once() -> None:
    folds = plan_folds(strategy(), Y, None, 0, True)
    assert [f.test for f in folds] == [(i,) for i in range(10)]
    assert [f.index for f in folds] == list(range(10))


def test_subset_indices_sorted_and_checked() -> None:
    folds = plan_folds(strategy(subset={"indices": [7, 2, 7]}), Y, None, 0, True)
    assert [f.test for f in folds] == [(2,), (7,)]
    with pytest.raises(InvalidInput) as err:
        plan_folds(strategy(subset={"indices": [1, 10]}), Y, None, 0, True)
    assert err.value.where == "spec.strategy.subset.indices[1]"


def test_subset_labels() -> None:
    folds = plan_folds(strategy(subset={"labels": [2, "1"]}), Y, None, 0, True)
    assert [f.test[0] for f in folds] == [4, 5, 6, 7, 8, 9]
    with pytest.raises(InvalidInput) as err:
        plan_folds(strategy(subset={"labels": [5]}), Y, None, 0, True)
    assert err.value.where == "spec.strategy.subset.labels[0]"


def test_stratified_sample_keeps_proportions_and_is_reproducible() -> None:
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    rows = stratified_rows(y, 20, seed=7, classification=True)
    assert len(rows) == 20 and rows == sorted(rows)
    assert np.bincount(y[rows]).tolist() == [12, 6, 2]
    assert rows == stratified_rows(y, 20, seed=7, classification=True)
    assert rows != stratified_rows(y, 20, seed=8, classification=True)


def test_stratified_sample_keeps_a_singleton_class() -> None:
    y = np.array([0] * 99 + [1])
    rows = stratified_rows(y, 10, seed=0, classification=True)
    assert 99 in rows and len(rows) == 10


def test_stratified_sample_larger_than_data_is_all() -> None:
    assert stratified_rows(Y, 50, 0, True) == list(range(10))


def test_kfold_matches_sklearn() -> None:
    folds = plan_folds(strategy(type="KFold", k=3, shuffle=True), Y, None, 5, True)
    expected = [t for _, t in KFold(3, shuffle=True, random_state=5).split(Y)]
    assert [list(f.test) for f in folds] == [t.tolist() for t in expected]
    with pytest.raises(InvalidInput) as err:
        plan_folds(strategy(type="KFold", k=11), Y, None, 0, True)
    assert err.value.where == "spec.strategy.k"


def test_leave_one_group_out() -> None:
    groups = np.array(list("aabbbccdde"))
    folds = plan_folds(strategy(type="LeaveOneGroupOut"), Y, groups, 0, True)
    expected = [t.tolist() for _, t in LeaveOneGroupOut().split(Y, Y, groups)]
    assert [list(f.test) for f in folds] == expected
    with pytest.raises(InvalidInput) as err:
        plan_folds(strategy(type="LeaveOneGroupOut"), Y, None, 0, True)
    assert err.value.where == "spec.dataset.groupColumn"


def test_batches_cover_every_fold_once() -> None:
    batches = plan_batches(10, 4)
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


@pytest.mark.parametrize(
    ("folds", "jobs", "expected"), [(569, 4, 36), (10, 8, 1), (100_000, 4, 250), (0, 4, 1)]
)
def test_auto_batch_size(folds: int, jobs: int, expected: int) -> None:
    assert auto_folds_per_job(folds, jobs) == expected


def test_subset_labels_match_float_targets() -> None:
    y = np.array([0.0, 1.0, 1.0, 2.0])
    folds = plan_folds(strategy(subset={"labels": [1]}), y, None, 0, True)
    assert [f.test[0] for f in folds] == [1, 2]
