"""Segments: checkpointed writes, nothing lost on interrupt, every fold counted exactly once
when segments overlap, torn segments never trusted, and a plan's layout checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loocv_operator.errors import InvalidInput, StoreError
from loocv_operator.ledger import ResultsLedger, load_results
from loocv_operator.plan import Plan
from loocv_operator.results import FoldResult, SampleResult
from loocv_operator.segments import SegmentWriter, segments_prefix
from loocv_operator.store import LocalStore, RunLocation

LOCATION = RunLocation("ns", "run", "key")


def fold(index: int, y_pred: int = 0) -> FoldResult:
    return FoldResult(index, [SampleResult(index, str(index), 0, y_pred, None, 0.0)])


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def segment_keys(store: LocalStore) -> list[str]:
    return store.list(segments_prefix(LOCATION))


def test_a_segment_is_written_per_checkpoint(tmp_path: Path) -> None:
    store, clock = LocalStore(tmp_path), Clock()
    with SegmentWriter(
        store, LOCATION, 3, 1, checkpoint_seconds=2.0, max_folds=4, clock=clock
    ) as w:
        for i in range(6):  # four folds fill a segment
            w.add(fold(i))
        assert len(segment_keys(store)) == 1
        clock.now = 2.5  # two seconds of compute since: the next fold checkpoints
        w.add(fold(6))
        assert len(segment_keys(store)) == 2
        w.add(fold(7))
    keys = segment_keys(store)
    assert len(keys) == 3  # and the rest at the end
    assert all(k.rsplit("/", 1)[1].startswith("000003-001-") for k in keys)
    assert [r.index for r in load_results(store, LOCATION)] == list(range(8))
    head = json.loads(store.get(keys[0]).split(b"\n", 1)[0])
    assert (head["run"], head["batch"], head["attempt"], head["indices"]) == (
        "ns/run/key",
        3,
        1,
        [[0, 3]],
    )


def test_an_interrupt_loses_nothing_computed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(KeyboardInterrupt), SegmentWriter(store, LOCATION, 0) as writer:
        writer.add(fold(0))
        writer.add(fold(1))
        raise KeyboardInterrupt
    assert [r.index for r in load_results(store, LOCATION)] == [0, 1]


def test_a_failing_store_is_not_written_again_on_the_way_out(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    writer = SegmentWriter(store, LOCATION, 0)
    with pytest.raises(StoreError), writer:
        writer.add(fold(0))
        raise StoreError("down")
    assert segment_keys(store) == []


def test_overlapping_segments_count_each_fold_once_whatever_the_order(tmp_path: Path) -> None:
    """A preempted pod (attempt 0) and its retry (attempt 1) both stored fold 2, with
    different results: the earlier attempt's segment counts, for every reader, even when it
    is listed (or lands) after the retry's."""
    store = LocalStore(tmp_path)
    with SegmentWriter(store, LOCATION, 0, attempt=1) as retry:
        for i in (2, 3):
            retry.add(fold(i, y_pred=1))
    late = ResultsLedger(store, LOCATION)
    assert [(r.index, r.samples[0].y_pred) for r in late.refresh()] == [(2, 1), (3, 1)]
    with SegmentWriter(store, LOCATION, 0, attempt=0) as first:
        for i in (1, 2):
            first.add(fold(i, y_pred=0))
    changed = late.refresh()  # the earlier attempt's segment landed later
    assert [(r.index, r.samples[0].y_pred) for r in changed] == [(1, 0), (2, 0)]
    fresh = load_results(store, LOCATION)
    assert [(r.index, r.samples[0].y_pred) for r in fresh] == [(1, 0), (2, 0), (3, 1)]
    assert {i: r.samples[0].y_pred for i, r in late.results.items()} == {1: 0, 2: 0, 3: 1}


def test_a_torn_segment_counts_as_missing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for batch in (0, 1):
        with SegmentWriter(store, LOCATION, batch) as writer:
            writer.add(fold(batch))
    torn = segment_keys(store)[1]
    (tmp_path / torn).write_bytes((tmp_path / torn).read_bytes()[:30])
    ledger = ResultsLedger(store, LOCATION)
    assert [r.index for r in ledger.refresh()] == [0]
    assert ledger.unreadable == [torn]


def test_a_plan_in_another_layout_is_refused_in_words(tmp_path: Path) -> None:
    old = {"version": 1, "run": {"namespace": "ns", "name": "r", "uid": "u"}}
    with pytest.raises(InvalidInput, match=r"stored in layout 1 \(1: one object per fold\)"):
        Plan.from_json(json.dumps(old), "ns/r/u/plan.json")
