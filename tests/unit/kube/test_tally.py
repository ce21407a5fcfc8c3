"""The operator's tally and its mid-run metrics, read from the segments' headers only: each
segment once, the figures those of the report over the same folds, marked partial in the
status, never with an interval or a gate verdict."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jsonschema
import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import Ridge
from sklearn.model_selection import LeaveOneOut
from sklearn.naive_bayes import GaussianNB

from loocv_operator.columns import SummaryFrame
from loocv_operator.gate import GateVerdict
from loocv_operator.kube.crd import build_crd
from loocv_operator.kube.sections import metrics_of, worst_samples_of
from loocv_operator.kube.status import RunView, build_status
from loocv_operator.kube.tally import METRICS_OVER, StoredResults, collected
from loocv_operator.kube.wire import FoldCounts, JobCounts
from loocv_operator.results import NOT_RUN_PATH, FoldError, FoldResult
from loocv_operator.segments import OPERATOR_ATTEMPT, SegmentWriter
from loocv_operator.store import LocalStore, RunLocation
from tests.unit.test_summaries import expected, fold_results

LOCATION = RunLocation("ns", "run", "key")
NOW = datetime(2026, 12, 2, tzinfo=UTC)
STATUS_SCHEMA = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
    "status"
]
INTERVALS = ("accuracyCI95", "maeCI95", "rmseCI95", "r2CI95")


class CountingStore(LocalStore):
    """A local store that counts the objects read."""

    def __init__(self, root: Any) -> None:
        super().__init__(root)
        self.gets: list[str] = []

    def get(self, key: str) -> bytes:
        self.gets.append(key)
        return super().get(key)


def store_segments(
    store: LocalStore, results: list[FoldResult], frame: SummaryFrame, batch: int, size: int
) -> None:
    with SegmentWriter(store, LOCATION, batch, max_folds=size, frame=frame) as writer:
        for result in results:
            writer.add(result)


def iris() -> tuple[SummaryFrame, list[FoldResult]]:
    X, y = load_iris(return_X_y=True)
    results = fold_results(GaussianNB(), X, y, LeaveOneOut(), proba=True)
    return SummaryFrame.of("classification", [0, 1, 2], len(results)), results


def view_of(results: StoredResults, finished: bool = False) -> RunView:
    tally = results.tally
    return RunView(
        generation=1,
        folds=FoldCounts(
            total=tally.n_folds,
            done=tally.computed,
            succeeded=tally.succeeded,
            failed=tally.failed,
        ),
        jobs=JobCounts(total=1, batches=3, active=1),
        summary=tally.summary(),
        results_uri="s3://b/ns/run/key/",
        finished=finished,
    )


def test_the_tally_reads_each_new_segment_header_once_and_no_row(tmp_path: Any) -> None:
    frame, results = iris()
    store = CountingStore(tmp_path)
    stored = StoredResults(store, LOCATION, frame)
    store_segments(store, results[:60], frame, batch=0, size=20)  # 3 segments
    first = stored.refresh()
    assert stored.ledger.rows_read == 0  # whole segments with summaries: headers only
    assert len(store.gets) == 3
    tally = stored.tally
    failed = [r.index for r in results[:60] if r.error is not None]
    assert tally.stored == frozenset(range(60)) and tally.failed == len(failed)
    assert tally.succeeded == 60 - len(failed) and tally.computed == 60
    assert tally.failure_types == {"ValueError": 2, "LinAlgError": 2}
    assert first.folds == 60 and first.failed == len(failed)
    ok = [r for r in results[:60] if r.error is None]
    mean = sum(r.fit_seconds + r.predict_seconds for r in ok) / len(ok)
    assert first.fold_seconds == pytest.approx([mean] * len(ok))
    assert tally.fold_seconds() == pytest.approx([mean] * len(ok))

    assert stored.refresh().folds == 0 and len(store.gets) == 3  # nothing new: nothing read
    store_segments(store, results[60:], frame, batch=1, size=50)  # 2 more segments
    second = stored.refresh()
    assert len(store.gets) == 5 and stored.ledger.rows_read == 0
    assert second.folds == 90 and stored.tally.stored == frozenset(range(150))


def test_mid_run_metrics_after_every_fold_are_the_reports_point_estimates(
    tmp_path: Any,
) -> None:
    frame, results = iris()
    store = LocalStore(tmp_path)
    stored = StoredResults(store, LOCATION, frame)
    store_segments(store, results, frame, batch=0, size=40)
    stored.refresh()
    partial = build_status(None, view_of(stored), NOW)["metrics"]
    final = metrics_of(expected(frame, results))  # the aggregator: what the report writes
    assert final is not None and final.accuracy_ci95 is not None
    figures = final.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert partial.pop("partial") is True
    assert partial.pop("folds") == stored.tally.succeeded
    assert partial.pop("message").startswith(f"partial: over {stored.tally.succeeded} of 150")
    assert set(figures) - set(partial) == {"accuracyCI95"}  # the only figure left out
    per_class = partial.pop("perClass")
    assert per_class.keys() == figures["perClass"].keys() == {"0", "1", "2"}
    for label, stats in per_class.items():
        assert stats == pytest.approx(figures["perClass"][label], rel=1e-12), label
    for key, value in partial.items():
        assert value == pytest.approx(figures[key], rel=1e-12), key
    worst = worst_samples_of(stored.tally.summary())
    assert worst == worst_samples_of(expected(frame, results))


def test_regression_mid_run_metrics_have_no_interval(tmp_path: Any) -> None:
    X, y = load_diabetes(return_X_y=True)
    X, y = X[:120], y[:120]
    results = fold_results(Ridge(), X, y, LeaveOneOut(), proba=False)
    frame = SummaryFrame.of("regression", None, len(results))
    store = LocalStore(tmp_path)
    stored = StoredResults(store, LOCATION, frame)
    store_segments(store, results[:70], frame, batch=0, size=30)
    stored.refresh()
    metrics = build_status(None, view_of(stored), NOW)["metrics"]
    assert metrics["partial"] is True and not set(INTERVALS) & set(metrics)
    ok = [r for r in results[:70] if r.error is None]
    errors = np.array([s.y_pred - s.y_true for r in ok for s in r.samples])
    assert metrics["mae"] == pytest.approx(float(np.mean(np.abs(errors))), rel=1e-12)
    assert metrics["rmse"] == pytest.approx(float(np.sqrt(np.mean(errors**2))), rel=1e-12)


def test_a_mid_run_status_is_partial_and_never_says_passed(tmp_path: Any) -> None:
    frame, results = iris()
    store = LocalStore(tmp_path)
    stored = StoredResults(store, LOCATION, frame)
    store_segments(store, results[:120], frame, batch=0, size=60)
    stored.refresh()
    summary = stored.tally.summary()
    assert summary is not None and summary[METRICS_OVER] == {"folds": 113, "total": 150}
    status = build_status(None, view_of(stored), NOW)
    jsonschema.validate(status, STATUS_SCHEMA)
    assert status["phase"] == "Running"
    metrics = status["metrics"]
    assert metrics["partial"] is True and metrics["folds"] == 113
    assert metrics["message"] == (
        "partial: over 113 of 150 folds; intervals and the gate come with the report"
    )
    assert "accuracyCI95" not in metrics and 0.0 < metrics["accuracy"] <= 1.0
    assert "gate" not in status
    assert "GatePassed" not in {c["type"] for c in status["conditions"]}
    assert [s["id"] for s in status["worstSamples"]]  # as far as the summary has them

    # At the end, the report's summary: no partial mark, the interval back, the gate judged.
    final_view = RunView(
        generation=1,
        folds=FoldCounts(total=150, done=150, succeeded=141, failed=9),
        jobs=JobCounts(total=3, batches=3, succeeded=3),
        summary=expected(frame, results),
        results_uri="s3://b/ns/run/key/",
        finished=True,
        verdict=GateVerdict(True, [], True, "GatePassed"),
    )
    final = build_status(status, final_view, NOW)
    jsonschema.validate(final, STATUS_SCHEMA)
    assert "partial" not in final["metrics"] and "folds" not in final["metrics"]
    assert "accuracyCI95" in final["metrics"] and final["gate"]["passed"] is True


def test_no_fold_evaluated_yet_shows_no_metrics(tmp_path: Any) -> None:
    frame = SummaryFrame.of("classification", [0, 1], 4)
    store = LocalStore(tmp_path)
    stored = StoredResults(store, LOCATION, frame)
    assert stored.tally.summary() is None and metrics_of(stored.tally.summary()) is None
    failed = [FoldResult(i, [], error=FoldError("ValueError", "bad")) for i in range(2)]
    store_segments(store, failed, frame, batch=0, size=2)
    stored.refresh()
    assert stored.tally.failed == 2 and metrics_of(stored.tally.summary()) is None


def test_operator_records_and_overlapping_segments_count_each_fold_once(
    tmp_path: Any,
) -> None:
    frame, results = iris()
    store = LocalStore(tmp_path)
    stored = StoredResults(store, LOCATION, frame)
    store_segments(store, results[:30], frame, batch=0, size=30)
    # A retry re-stored folds 20..39 (they count in the first segment), and the operator
    # gave up folds 40..44 (its records sort after every trainer's).
    with SegmentWriter(store, LOCATION, 0, attempt=1, max_folds=20, frame=frame) as retry:
        for result in results[20:40]:
            retry.add(result)
    not_run = [
        FoldResult(i, [], error=FoldError("RetriesExhausted", "gave up"), path=NOT_RUN_PATH)
        for i in range(40, 45)
    ]
    with SegmentWriter(store, LOCATION, 1, OPERATOR_ATTEMPT, max_folds=5) as writer:
        for record in not_run:
            writer.add(record)
    added = stored.refresh()
    tally = stored.tally
    assert tally.stored == frozenset(range(45)) and tally.not_run == frozenset(range(40, 45))
    assert tally.computed == 40 and stored.ledger.rows_read == 1  # the retry, read whole
    assert added.folds == 45 and added.failed == 5 + sum(r.error is not None for r in results[:40])
    merged = metrics_of(tally.summary())
    assert merged is not None and merged.folds == tally.succeeded
    full = metrics_of(expected(frame, results[:40] + not_run))
    assert full is not None and merged.accuracy == pytest.approx(full.accuracy, rel=1e-12)


def test_collected_counts_only_what_is_new() -> None:
    from .conftest import tally_from

    ok = [FoldResult(i, [], 0.2, 0.1) for i in range(4)]
    before = tally_from(10, ok[:2])
    after = tally_from(10, [*ok, FoldResult(4, [], error=FoldError("ValueError", "x"))])
    added = collected(before, after)
    assert added.folds == 3 and added.failed == 1
    assert added.fold_seconds == pytest.approx((0.3, 0.3))
    assert collected(after, after).folds == 0 and collected(after, after).fold_seconds == ()


def test_the_usage_fold_compute_comes_from_the_headers(tmp_path: Any) -> None:
    """status.usage's fold seconds and fast-path folds while a run goes on: the tally's
    sums, equal to what the rows say for the succeeded folds (the report Job adds the
    saved time, which only the rows' brute-force samples hold)."""
    frame, results = iris()
    fast = [
        FoldResult(r.index, r.samples, r.fit_seconds, r.predict_seconds, path="exact:nb")
        for r in results[:30]
        if r.error is None
    ]
    store = LocalStore(tmp_path)
    stored = StoredResults(store, LOCATION, frame)
    store_segments(store, fast, frame, batch=0, size=30)
    store_segments(store, results[30:], frame, batch=1, size=60)
    stored.refresh()
    compute = stored.tally.compute()
    ok = [r for r in [*fast, *results[30:]] if r.error is None]
    assert compute.fold_seconds == pytest.approx(sum(r.fit_seconds + r.predict_seconds for r in ok))
    assert compute.fast_path_folds == len(fast) and compute.saved_seconds is None
