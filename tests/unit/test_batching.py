"""foldsPerJob: explicit, fast path, probe, and the size the probe's timing gives."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from loocv_operator.batching import (
    MIN_OVERHEAD_SECONDS,
    PROBE_FOLDS,
    Batching,
    ProbeTiming,
    initial_batches,
    measured_size,
    size_from_probe,
)
from loocv_operator.datasets import load_dataset
from loocv_operator.estimators import DEFAULT_ALLOWLIST, build_estimator
from loocv_operator.plan import Plan
from loocv_operator.planning import make_plan
from loocv_operator.spec import parse_spec
from loocv_operator.store import RunLocation


def test_an_explicit_folds_per_job_wins() -> None:
    batches, batching = initial_batches(10, 4, fast_path="exact:ridge-hat")
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert (batching.mode, batching.folds_per_job) == ("explicit", 4)


def test_a_fast_path_run_is_one_batch() -> None:
    batches, batching = initial_batches(442, "auto", fast_path="exact:ridge-hat")
    assert batches == [list(range(442))]
    assert batching.mode == "fast-path" and "exact:ridge-hat" in batching.message


def test_brute_force_starts_with_a_probe_batch_only() -> None:
    batches, batching = initial_batches(569, "auto", fast_path=None)
    assert batches == [list(range(PROBE_FOLDS))]
    assert batching.probing and batching.folds_per_job is None


def test_few_folds_are_one_batch_without_a_probe() -> None:
    batches, batching = initial_batches(2 * PROBE_FOLDS, "auto", fast_path=None)
    assert batches == [list(range(2 * PROBE_FOLDS))] and batching.mode == "single"


def test_local_runs_leave_batching_to_the_executor() -> None:
    batches, batching = initial_batches(569, "auto", fast_path=None, local=True)
    assert batches == [list(range(569))] and batching.mode == "local"


@pytest.mark.parametrize(
    ("per_fold", "overhead", "remaining", "slots", "expected"),
    [
        # 20 x 3 s / 2 ms = 30,000 folds: 34 Jobs, evened to 36 (9 waves of 4 slots)
        (0.002, 3.0, 1_000_000, 4, math.ceil(1_000_000 / 36)),
        (0.002, 3.0, 10_000, 4, 2_500),  # capped: every one of 4 slots gets a Job
        (60.0, 3.0, 1_000, 8, 1),  # a minute per fold: one fold per pod is right
        (0.5, 2.0, 1_000, 4, 63),  # 80 folds x 0.5 s = 20 x 2 s: 13 Jobs, evened to 16
        (0.0, 2.0, 1_000, 4, 250),  # no measurable compute: the cap
        # The bench's probe: 3,046 wanted would make 3 full Jobs and one of 857 on 2 slots;
        # 4 even Jobs make two full waves.
        (0.0318, 4.84, 9_995, 2, 2_499),
    ],
)
def test_measured_size(
    per_fold: float, overhead: float, remaining: int, slots: int, expected: int
) -> None:
    assert measured_size(per_fold, overhead, remaining, slots) == expected


def probing() -> Batching:
    return initial_batches(1000, "auto", fast_path=None)[1]


def test_the_probe_gives_per_fold_time_and_pod_overhead() -> None:
    timing = ProbeTiming(fold_seconds=[0.4, 0.6, 0.5, 0.5, 0.5], wall_seconds=4.5)
    decided = size_from_probe(probing(), timing, 995, 4, fallback_size=50)
    assert decided.mode == "measured"
    assert decided.per_fold_seconds == pytest.approx(0.5)
    assert decided.pod_overhead_seconds == pytest.approx(2.0)  # 4.5 s wall - 2.5 s of folds
    assert decided.folds_per_job == 63  # 80 wanted: 13 Jobs, evened to 16 on 4 slots
    assert "measured" in decided.message and "63 folds per Job" in decided.message
    assert decided.probe_folds == PROBE_FOLDS


def test_overhead_has_a_floor_for_second_resolution_timestamps() -> None:
    timing = ProbeTiming(fold_seconds=[0.001] * 5, wall_seconds=0.0)  # same second
    decided = size_from_probe(probing(), timing, 995, 4, fallback_size=50)
    assert decided.pod_overhead_seconds == MIN_OVERHEAD_SECONDS
    assert decided.folds_per_job == 249  # 20 s of 1 ms folds, capped at 995/4


def test_an_unreadable_wall_time_assumes_an_overhead_and_says_so() -> None:
    timing = ProbeTiming(fold_seconds=[1.0] * 5, wall_seconds=None)
    decided = size_from_probe(probing(), timing, 995, 4, fallback_size=50)
    assert decided.folds_per_job == 125 and "assumed" in decided.message  # 200 → 8 Jobs


def test_a_probe_without_fold_times_falls_back_to_the_fold_count() -> None:
    decided = size_from_probe(probing(), ProbeTiming([], 30.0), 995, 4, fallback_size=50)
    assert decided.folds_per_job == 50 and "no fold times" in decided.message


def test_batching_round_trips_through_json() -> None:
    decided = size_from_probe(probing(), ProbeTiming([0.5] * 5, 4.5), 995, 4, 50)
    assert Batching.from_json(decided.to_json()) == decided
    with pytest.raises(ValueError, match="mode"):
        Batching.from_json({"foldsPerJob": 3})


def cluster_plan(estimator: str, execution: dict[str, Any]) -> Plan:
    """The operator's plan of an iris run."""
    spec = parse_spec(
        {"dataset": {"builtin": "iris"}, "model": {"estimator": estimator}, "execution": execution}
    )
    dataset = load_dataset(spec.dataset, spec.storage)
    model = build_estimator(spec.model, DEFAULT_ALLOWLIST, 0)
    return make_plan(RunLocation("ns", "r", "u"), spec, dataset, model, executor="cluster")


def test_a_sized_plan_keeps_the_probe_batch_and_covers_every_fold_once() -> None:
    plan = cluster_plan("sklearn.tree.DecisionTreeClassifier", {"maxConcurrentJobs": 4})
    assert plan.batching.probing and plan.batches == [list(range(PROBE_FOLDS))]
    assert plan.pending == list(range(PROBE_FOLDS, 150))
    decided = size_from_probe(plan.batching, ProbeTiming([0.01] * 5, 3.0), 145, 4, 10)
    sized = plan.sized(decided)
    assert sized.batches[0] == plan.batches[0]
    assert sorted(f for b in sized.batches for f in b) == list(range(150))
    assert max(len(b) for b in sized.batches[1:]) == decided.folds_per_job == 37
    assert sized.pending == []
    again = Plan.from_json(sized.to_json())
    assert again.batches == sized.batches and again.batching == decided


def test_a_plan_from_before_batching_was_recorded_reads_as_explicit() -> None:
    plan = cluster_plan("sklearn.naive_bayes.GaussianNB", {"foldsPerJob": 50})
    data = json.loads(plan.to_json())
    del data["batching"]
    old = Plan.from_json(json.dumps(data))
    assert old.batching.mode == "explicit" and old.batches == plan.batches
