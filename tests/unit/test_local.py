"""The local executor: store checked once in the parent, small batches, the pool's workers
writing one result per fold; and what the speed work must not change."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from loocv_operator.estimators import DEFAULT_ALLOWLIST
from loocv_operator.ledger import load_results
from loocv_operator.local import (
    LOCAL_MAX_FOLDS_PER_BATCH,
    LocalRun,
    execute,
    local_batches,
    prepare,
)
from loocv_operator.spec import parse_run
from loocv_operator.store import LocalStore
from tests.segment_tools import drop_fold, segment_files, truncate_segment

MakeDoc = Callable[..., dict[str, Any]]


class CountingStore(LocalStore):
    """A LocalStore that counts reads and listings (in this process)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gets: list[str] = []
        self.lists: list[str] = []

    def get(self, key: str) -> bytes:
        self.gets.append(key)
        return super().get(key)

    def list(self, prefix: str) -> list[str]:
        self.lists.append(prefix)
        return super().list(prefix)


def local_run(store: LocalStore, doc: dict[str, Any], workers: int = 1) -> LocalRun:
    plan, runner = prepare(parse_run(doc), store, DEFAULT_ALLOWLIST)
    return execute(plan, runner, store, workers)


def logreg(run_doc: MakeDoc) -> dict[str, Any]:
    return run_doc(
        model={
            "estimator": "sklearn.linear_model.LogisticRegression",
            "preprocessing": [{"estimator": "sklearn.preprocessing.StandardScaler"}],
        },
        execution={"fastPath": "off"},
    )


def test_a_fresh_run_lists_the_folds_once_and_reads_none(tmp_path: Path, run_doc: MakeDoc) -> None:
    store = CountingStore(tmp_path)
    outcome = local_run(store, logreg(run_doc))
    assert (outcome.computed, outcome.skipped, outcome.failed) == (150, 0, 0)
    assert store.gets == [] and len(store.lists) == 1


def test_a_rerun_reads_only_stored_folds_and_recomputes_a_broken_one(
    tmp_path: Path, run_doc: MakeDoc
) -> None:
    doc = logreg(run_doc)
    first = local_run(LocalStore(tmp_path), doc)
    location = first.plan.location
    drop_fold(tmp_path, location, 4)
    drop_fold(tmp_path, location, 70)
    lost = truncate_segment(tmp_path, location, 9)  # edited by hand: not trusted
    segments = len(segment_files(tmp_path, location))
    store = CountingStore(tmp_path)
    again = local_run(store, doc, workers=2)
    assert (again.computed, again.skipped) == (2 + len(lost), 148 - len(lost))
    assert len(store.gets) == segments and len(store.lists) == 1  # every segment, once
    assert [r.index for r in load_results(store, location)] == list(range(150))


def test_two_workers_give_the_results_of_one(tmp_path: Path, run_doc: MakeDoc) -> None:
    doc = run_doc(
        dataset={"builtin": "breast_cancer"},
        model={"estimator": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 3}},
    )
    runs = {}
    for workers in (1, 2):
        store = LocalStore(tmp_path / str(workers))
        run = local_run(store, doc, workers)
        assert (run.computed, run.failed) == (569, 0)
        results = load_results(store, run.plan.location)
        runs[workers] = [(r.index, r.samples) for r in results]
    assert runs[1] == runs[2]


def test_local_batches_are_small_even_and_cover_every_fold_once() -> None:
    for n, workers in [(1, 4), (150, 2), (569, 2), (10_000, 2), (7, 8)]:
        batches = local_batches(n, workers)
        assert sorted(i for b in batches for i in b) == list(range(n))
        sizes = [len(b) for b in batches]
        assert max(sizes) <= LOCAL_MAX_FOLDS_PER_BATCH and min(sizes) >= 1
        assert max(sizes) - min(sizes[:-1] or sizes) == 0  # only the last may be short
        # enough batches that the last one costs little waiting: the tail is one batch
        assert len(batches) >= min(n, 16 * workers)


def test_progress_counts_every_fold_once_on_a_rerun(tmp_path: Path, run_doc: MakeDoc) -> None:
    doc = logreg(run_doc)
    local_run(LocalStore(tmp_path), doc)
    seen: list[int] = []
    plan, runner = prepare(parse_run(doc), LocalStore(tmp_path), DEFAULT_ALLOWLIST)
    outcome = execute(plan, runner, LocalStore(tmp_path), 2, progress=seen.append)
    assert seen == [150] and (outcome.skipped, outcome.computed) == (150, 0)
