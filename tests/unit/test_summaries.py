"""Merged segment summaries equal the aggregator's summary of every fold: classification
(binary, multiclass, with and without probabilities), regression, failed and not-run folds,
overlapping segments (first key wins), segments without a summary and torn ones."""

from __future__ import annotations

import functools
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.linear_model import LogisticRegression, Ridge, RidgeClassifier
from sklearn.model_selection import KFold, LeaveOneOut, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loocv_operator.aggregator import Aggregator
from loocv_operator.columns import SummaryFrame
from loocv_operator.ledger import load_results
from loocv_operator.results import NOT_RUN_PATH, FoldError, FoldResult, SampleResult
from loocv_operator.segments import OPERATOR_ATTEMPT, SegmentWriter, segments_prefix
from loocv_operator.store import LocalStore, RunLocation
from loocv_operator.summaries import SummaryLedger, merged_summary

LOCATION = RunLocation("ns", "run", "key")
EPS = float(np.finfo(np.float64).eps)
# Medians and the regression bootstrap intervals do not merge: None until the report.
UNMERGED = {"fitSecondsMedian", "predictSecondsMedian", "maeCI95", "rmseCI95", "r2CI95"}


def fold_results(
    estimator: Any, X: np.ndarray, y: np.ndarray, cv: Any, proba: bool
) -> list[FoldResult]:
    """Results as a trainer stores them, from a real cross_val_predict; every 17th fold fails."""
    classes = np.unique(y) if proba is not None else None
    if proba:
        p = cross_val_predict(estimator, X, y, cv=cv, method="predict_proba")
        predicted = classes[p.argmax(axis=1)]  # type: ignore[index]
    else:
        p = None
        predicted = cross_val_predict(estimator, X, y, cv=cv)
    regression = y.dtype.kind == "f"
    results = []
    for index, (_, test) in enumerate(cv.split(X, y)):
        if index % 17 == 5:
            error = FoldError("ValueError" if index % 2 else "LinAlgError", f"fold {index} broke")
            samples = [SampleResult(int(r), f"s{r}", y[r].item()) for r in test]
            results.append(FoldResult(index, samples, 0.5, error=error))
            continue
        samples = []
        for r in test:
            if regression:
                loss = float((y[r] - predicted[r]) ** 2)
                samples.append(
                    SampleResult(int(r), f"s{r}", float(y[r]), float(predicted[r]), None, loss)
                )
            elif p is not None:
                row = p[r].tolist()
                loss = -math.log(max(row[int(np.searchsorted(classes, y[r]))], EPS))
                samples.append(
                    SampleResult(int(r), f"s{r}", y[r].item(), predicted[r].item(), row, loss)
                )
            else:
                loss = float(predicted[r] != y[r])
                samples.append(
                    SampleResult(int(r), f"s{r}", y[r].item(), predicted[r].item(), None, loss)
                )
        path = "fast" if index % 3 else "brute-force"
        results.append(
            FoldResult(index, samples, 0.01 * (index % 7 + 1), 0.001 * (index % 5), path=path)
        )
    return results


def write_segments(
    store: LocalStore,
    results: list[FoldResult],
    frame: SummaryFrame | None,
    size: int,
    batch: int = 0,
    attempt: int = 0,
) -> None:
    with SegmentWriter(store, LOCATION, batch, attempt, max_folds=size, frame=frame) as writer:
        for result in results:
            writer.add(result)


def expected(frame: SummaryFrame, results: list[FoldResult]) -> dict[str, Any]:
    aggregator = Aggregator(frame.task, list(frame.classes), frame.n_folds)
    for result in results:
        aggregator.add(result)
    return aggregator.summary()


def assert_same(merged: Any, full: Any, path: str = "") -> None:
    """Equal, floats to 1e-12 (only the order of additions differs), the unmerged figures None."""
    if isinstance(full, dict):
        assert isinstance(merged, dict) and list(merged) == list(full), path
        for key in full:
            if key in UNMERGED:
                assert merged[key] is None, path + key
            else:
                assert_same(merged[key], full[key], f"{path}{key}.")
    elif isinstance(full, list):
        assert isinstance(merged, list) and len(merged) == len(full), path
        for a, b in zip(merged, full, strict=True):
            assert_same(a, b, path)
    elif isinstance(full, float) and not isinstance(merged, bool):
        assert merged == pytest.approx(full, rel=1e-12, abs=1e-15), path
    else:
        assert merged == full, path


CASES = {
    "iris-logreg-loo": (
        load_iris,
        lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        LeaveOneOut(),
        True,
    ),
    "cancer-logreg-kfold": (
        load_breast_cancer,
        lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        KFold(10),
        True,
    ),
    "wine-ridgeclassifier-loo-no-proba": (
        load_wine,
        lambda: make_pipeline(StandardScaler(), RidgeClassifier()),
        LeaveOneOut(),
        False,
    ),
    "diabetes-ridge-loo": (load_diabetes, lambda: Ridge(alpha=1.0), LeaveOneOut(), False),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request: pytest.FixtureRequest) -> tuple[SummaryFrame, list[FoldResult]]:
    load, model, cv, proba = CASES[request.param]
    X, y = load(return_X_y=True)
    results = fold_results(model(), X, y, cv, proba)
    regression = y.dtype.kind == "f"
    frame = SummaryFrame.of(
        "regression" if regression else "classification",
        None if regression else np.unique(y).tolist(),
        len(results),
    )
    return frame, results


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_merged_segment_summaries_equal_the_aggregator(
    tmp_path: Path, case: tuple[SummaryFrame, list[FoldResult]], size: int
) -> None:
    frame, results = case
    store = LocalStore(tmp_path)
    write_segments(store, results, frame, size)
    merged, stored = merged_summary(store, LOCATION, frame)
    assert stored == frozenset(range(len(results)))
    full = expected(frame, results)
    assert full["folds"]["failed"] > 0 and full["failureTypes"]
    assert_same(merged.summary().to_dict(), full)


def test_overlapping_segments_count_each_fold_once_by_the_first_key(
    tmp_path: Path, case: tuple[SummaryFrame, list[FoldResult]]
) -> None:
    """A preempted pod (attempt 0) stored folds 0..59; its retry (attempt 1) recomputed
    40..end with different results. Folds 40..59 count from attempt 0, as for the ledger."""
    frame, results = case
    if len(results) < 100:
        pytest.skip("needs 100 folds")
    store = LocalStore(tmp_path)
    write_segments(store, results[:60], frame, 25, attempt=0)
    retried = [
        FoldResult(r.index, r.samples, r.fit_seconds + 1.0, path="retry") for r in results[40:]
    ]
    write_segments(store, retried, frame, 25, attempt=1)
    ledger = SummaryLedger(store, LOCATION, frame)
    with ThreadPoolExecutor(2) as reader:  # as the operator reads a remote store
        merged = ledger.refresh(reader)
    counted = load_results(store, LOCATION)
    assert [r.index for r in counted] == list(range(len(results)))
    assert_same(merged.summary().to_dict(), expected(frame, counted))
    assert ledger.rows_read == 1  # only the retry's first segment (40..64) shares folds
    assert merged.summary().paths["retry"] == len(results) - 60


def test_a_late_earlier_key_takes_its_folds_back(tmp_path: Path) -> None:
    frame, results = iris_case()
    store = LocalStore(tmp_path)
    later = [FoldResult(r.index, r.samples, 9.0, path="late") for r in results]
    write_segments(store, later, frame, 50, attempt=1)
    ledger = SummaryLedger(store, LOCATION, frame)
    assert ledger.refresh().summary().paths == {"late": 150}
    write_segments(store, results[:30], frame, 50, attempt=0)  # sorts first: it wins 0..29
    merged = ledger.refresh()
    assert_same(merged.summary().to_dict(), expected(frame, load_results(store, LOCATION)))
    assert merged.summary().paths["late"] == 120


@functools.cache
def iris_case() -> tuple[SummaryFrame, list[FoldResult]]:
    X, y = load_iris(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    results = fold_results(model, X, y, KFold(150), True)
    return SummaryFrame.of("classification", [0, 1, 2], 150), results


def test_segments_without_a_summary_torn_ones_and_not_run_folds(tmp_path: Path) -> None:
    frame, results = iris_case()
    store = LocalStore(tmp_path)
    write_segments(store, results[:50], None, 20)  # no frame: summarised from the rows
    write_segments(store, results[50:100], frame, 20, batch=1)
    write_segments(store, results[100:120], frame, 20, batch=2)
    torn = sorted(store.list(segments_prefix(LOCATION)))[-1]
    (tmp_path / torn).write_bytes((tmp_path / torn).read_bytes()[:-5])  # body no longer whole
    not_run = [
        FoldResult(
            i,
            results[i].samples[:1],
            error=FoldError("BackoffLimitExceeded", "gave up"),
            path=NOT_RUN_PATH,
            trainer_version="operator",
        )
        for i in range(100, 140)
    ]
    # The operator's not-run records carry no frame: no sample evaluated, still summarised.
    write_segments(
        store,
        [
            FoldResult(
                n.index,
                [SampleResult(s.row, s.id, s.y_true) for s in n.samples],
                error=n.error,
                path=n.path,
                trainer_version=n.trainer_version,
            )
            for n in not_run
        ],
        None,
        100,
        batch=3,
        attempt=OPERATOR_ATTEMPT,
    )
    ledger = SummaryLedger(store, LOCATION, frame)
    merged = ledger.refresh()
    counted = load_results(store, LOCATION)
    assert merged.stored == frozenset(r.index for r in counted)
    assert ledger.unreadable == [torn]
    assert ledger.rows_read == 3  # the three segments written without a frame
    summary = merged.summary().to_dict()
    assert_same(summary, expected(frame, counted))
    assert summary["folds"]["notRun"] == 40 and summary["folds"]["missingIndices"][0] == 100


def test_no_segment_yet(tmp_path: Path) -> None:
    frame = SummaryFrame.of("regression", None, 12)
    merged, stored = merged_summary(LocalStore(tmp_path), LOCATION, frame)
    assert stored == frozenset()
    assert_same(merged.summary().to_dict(), expected(frame, []))


def test_the_summary_modules_import_no_heavy_library() -> None:
    """The operator imports the merged summaries: never scikit-learn, scipy, pyarrow,
    pandas or matplotlib."""
    code = (
        "import sys, loocv_operator.summaries, loocv_operator.summary, loocv_operator.finish\n"
        "heavy = ('sklearn', 'scipy', 'pyarrow', 'pandas', 'matplotlib')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
