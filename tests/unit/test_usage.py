"""The shared usage record: fold compute and fast-path savings from results, prices, the
local process clock, and the brute-force timing the fast pass records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loocv_operator.errors import InvalidInput
from loocv_operator.estimators import DEFAULT_ALLOWLIST
from loocv_operator.fastpaths.timing import SAMPLE_FOLDS
from loocv_operator.ledger import load_results
from loocv_operator.local import execute, prepare
from loocv_operator.plan import Plan
from loocv_operator.results import NOT_RUN_PATH, FoldError, FoldResult, SampleResult
from loocv_operator.spec import parse_run
from loocv_operator.store import LocalStore
from loocv_operator.usage import (
    BRUTE_FORCE_KEY,
    USAGE_ARTIFACT,
    Prices,
    ProcessClock,
    Usage,
    finished_usage,
    fold_compute,
    parse_prices,
    usage_bytes,
)


def result(index: int, seconds: float, path: str = "brute-force", **extra: float) -> FoldResult:
    return FoldResult(
        index=index,
        samples=[SampleResult(row=index, id=str(index), y_true=0)],
        fit_seconds=seconds,
        path=path,
        extra=dict(extra),
    )


def test_fold_compute_sums_the_folds_and_estimates_what_the_fast_path_saved() -> None:
    results = [
        result(0, 0.001, "exact:ridge-hat", **{BRUTE_FORCE_KEY: 0.02}),
        result(1, 0.001, "exact:ridge-hat", **{BRUTE_FORCE_KEY: 0.04}),
        result(2, 0.001, "exact:ridge-hat"),
        result(3, 0.5),  # a tie the fast path left to brute force
        FoldResult(index=4, samples=[], error=FoldError("X", "y"), path=NOT_RUN_PATH),
    ]
    compute = fold_compute(results)
    assert compute.fold_seconds == pytest.approx(0.503)
    assert compute.fast_path_folds == 3 and compute.brute_force_samples == 2
    assert compute.brute_force_fold_seconds == pytest.approx(0.03)
    assert compute.saved_seconds == pytest.approx(3 * 0.03 - 0.003)
    brute_only = fold_compute([result(0, 1.0), result(1, 2.0)])
    assert brute_only.saved_seconds is None and brute_only.fold_seconds == pytest.approx(3.0)


def test_the_report_job_completes_the_operators_usage_from_the_rows(tmp_path: Path) -> None:
    """On a cluster the operator's usage.json has the pods and the headers' fold seconds;
    the report Job (no measurement of its own) adds the rows' figures, the saved time too."""
    results = [
        result(0, 0.001, "exact:ridge-hat", **{BRUTE_FORCE_KEY: 0.02}),
        result(1, 0.001, "exact:ridge-hat"),
    ]
    store = LocalStore(tmp_path)
    plan = _plan_stub(store)
    operators = Usage(executor="cluster", core_seconds=120.0, fold_seconds=0.002)
    store.put(plan.location.artifact(USAGE_ARTIFACT), usage_bytes(operators))
    usage = finished_usage(store, plan, results, None, Prices(core_hour=3.6))
    assert usage is not None and usage.core_seconds == 120.0 and usage.executor == "cluster"
    assert usage.fast_path_folds == 2 and usage.saved_seconds == pytest.approx(2 * 0.02 - 0.002)
    assert usage.cost == pytest.approx(0.12)


def _plan_stub(store: LocalStore) -> Plan:
    run = parse_run(
        {
            "apiVersion": "loocv.dev/v1alpha1",
            "kind": "LOOCVRun",
            "metadata": {"name": "u"},
            "spec": {
                "dataset": {"builtin": "diabetes"},
                "model": {"estimator": "sklearn.linear_model.Ridge"},
            },
        }
    )
    plan, _ = prepare(run, store, DEFAULT_ALLOWLIST)
    return plan


def test_prices_parse_and_refuse_naming_the_flag() -> None:
    assert parse_prices("core-hour=0.04, gpu-hour=2.5,gib-hour=0.005") == Prices(0.04, 2.5, 0.005)
    assert parse_prices(None) is None and parse_prices(" ") is None
    for bad in ("cpu=1", "core-hour", "core-hour=cheap", "gpu-hour=-1", "core-hour=nan"):
        with pytest.raises(InvalidInput) as caught:
            parse_prices(bad)
        assert caught.value.where == "--price"


def test_cost_of_a_cluster_run_is_requested_resources_times_prices() -> None:
    used = Usage(
        executor="cluster", core_seconds=7200, gpu_seconds=1800, memory_gib_seconds=36000
    ).priced(Prices(core_hour=0.05, gpu_hour=2.0, gib_hour=0.01))
    assert used.cost == pytest.approx(2 * 0.05 + 0.5 * 2.0 + 10 * 0.01)
    assert used.prices == "core-hour=0.05,gpu-hour=2,gib-hour=0.01"
    assert Usage(executor="cluster", core_seconds=1).priced(None).cost is None


def test_a_local_run_prices_its_cpu_seconds_as_core_seconds() -> None:
    used = Usage(executor="local", process_cpu_seconds=3600).priced(Prices(core_hour=0.1))
    assert used.cost == pytest.approx(0.1)


def test_usage_round_trips_through_json_with_camel_case_keys() -> None:
    used = Usage(executor="cluster", core_seconds=1.5, memory_gib_seconds=2.0, saved_seconds=3.0)
    wire = json.loads(json.dumps(used.to_json()))
    assert wire["memoryGiBSeconds"] == 2.0 and wire["coreSeconds"] == 1.5
    assert "cost" not in wire  # None is left out
    assert Usage.from_json(wire) == used


def test_the_summary_rows_say_what_was_used() -> None:
    cluster = Usage(
        executor="cluster", core_seconds=7200, pods_started=4, retries=1, preemptions=2
    ).priced(Prices(core_hour=1.0))
    text = dict(cluster.rows())
    assert text["resources"].startswith("2.000 core-h")
    assert text["pods"] == "4 started, 1 retries, 2 preempted"
    assert text["cost"].startswith("~2 estimated (prices core-hour=1")
    assert max(len(label) for label, _ in cluster.rows()) <= len("computed by")
    local = dict(Usage(executor="local", process_cpu_seconds=1.25, wall_seconds=1.0).rows())
    assert local["resources"].startswith("1.25 CPU-s in 1.00 s")


def test_the_process_clock_counts_this_process_cpu_time() -> None:
    clock = ProcessClock.start()
    total = 0
    for i in range(2_000_000):  # a little real work
        total += i * i
    used = clock.usage()
    assert total > 0
    assert used.process_cpu_seconds > 0 and used.wall_seconds > 0
    assert used.executor == "local"


def test_a_fast_path_run_times_a_few_folds_by_brute_force(tmp_path: Path) -> None:
    run = parse_run(
        {
            "apiVersion": "loocv.dev/v1alpha1",
            "kind": "LOOCVRun",
            "metadata": {"name": "ridge"},
            "spec": {
                "dataset": {"builtin": "diabetes"},
                "model": {"estimator": "sklearn.linear_model.Ridge"},
            },
        }
    )
    store = LocalStore(tmp_path)
    plan, runner = prepare(run, store, DEFAULT_ALLOWLIST)
    execute(plan, runner, store, workers=1)
    results = load_results(store, plan.location)
    timed = sorted(r.index for r in results if BRUTE_FORCE_KEY in r.extra)
    assert timed == list(range(SAMPLE_FOLDS))
    assert all(r.path == "exact:ridge-hat" for r in results)
    compute = fold_compute(results)
    assert compute.fast_path_folds == plan.n_folds == 442
    assert compute.saved_seconds is not None and compute.saved_seconds > 0
