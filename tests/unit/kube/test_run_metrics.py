"""Per-run gauges from the LOOCVRun status: gate outcome, quality, progress, completions."""

from __future__ import annotations

from typing import Any

from loocv_operator.kube.run_metrics import RunMetrics, result_of


def _body(name: str, status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"namespace": "ml", "name": name, "uid": f"u-{name}"}, "status": status}


def _gate(passed: bool) -> dict[str, Any]:
    return {"type": "GatePassed", "status": "True" if passed else "False"}


def _values(metrics: RunMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in metrics.collect()
        for s in family.samples
    }


def _get(values: dict[Any, float], name: str, **labels: str) -> float | None:
    return values.get((name, tuple(sorted(labels.items()))))


def test_result_of_a_status() -> None:
    assert result_of({"phase": "Running"}) is None
    assert result_of({"phase": "Failed"}) == "failed"
    invalid = {"phase": "Failed", "conditions": [{"type": "Invalid", "status": "True"}]}
    assert result_of(invalid) == "invalid"  # never pages: the manifest is the user's to fix
    assert result_of({"phase": "Succeeded", "conditions": [_gate(True)]}) == "passed"
    assert result_of({"phase": "Succeeded", "conditions": [_gate(False)]}) == "gate_failed"
    assert result_of({"phase": "Succeeded"}) == "succeeded"


def test_a_run_seen_finishing_counts_one_completion_and_shows_its_quality() -> None:
    clock = [100.0]
    metrics = RunMetrics(clock=lambda: clock[0])
    running = {"phase": "Running", "folds": {"total": 10, "done": 3, "failed": 0}}
    metrics.observe(_body("a", running))
    clock[0] = 160.0
    metrics.observe(_body("a", running))  # nothing moved: progress time stays
    values = _values(metrics)
    assert (
        _get(values, "loocv_run_last_progress_timestamp_seconds", run_namespace="ml", run="a")
        == 100.0
    )
    assert _get(values, "loocv_run_completions_total", run_namespace="ml", result="failed") == 0
    finished = {
        "phase": "Succeeded",
        "folds": {"total": 10, "done": 10, "failed": 1},
        "jobs": {"retried": 2, "preempted": 1},
        "metrics": {"accuracy": 0.9, "ece": 0.05, "brier": float("nan")},
        "conditions": [_gate(False)],
        "resultsUri": "s3://b/ml/a/u-a/",
    }
    metrics.observe(_body("a", finished))
    metrics.observe(_body("a", finished))  # the same state again is no second completion
    values = _values(metrics)
    labels = {"run_namespace": "ml", "run": "a"}
    assert (
        _get(values, "loocv_run_completions_total", run_namespace="ml", result="gate_failed") == 1
    )
    assert _get(values, "loocv_run_gate_passed", **labels) == 0.0
    assert _get(values, "loocv_run_quality", metric="accuracy", **labels) == 0.9
    assert _get(values, "loocv_run_quality", metric="brier", **labels) is None  # not finite
    assert _get(values, "loocv_run_folds", state="failed", **labels) == 1
    assert _get(values, "loocv_run_jobs", kind="retried", **labels) == 2
    assert _get(values, "loocv_runs_finished", run_namespace="ml", result="gate_failed") == 1
    assert _get(values, "loocv_runs_finished", run_namespace="ml", result="passed") == 0
    assert _get(values, "loocv_run_last_progress_timestamp_seconds", **labels) is None
    report = "s3://b/ml/a/u-a/report.html"
    assert _get(values, "loocv_run_info", uid="u-a", report=report, **labels) == 1


def test_a_run_already_finished_when_first_seen_is_no_completion() -> None:
    metrics = RunMetrics()
    metrics.observe(_body("old", {"phase": "Failed"}))
    values = _values(metrics)
    assert _get(values, "loocv_run_completions_total", run_namespace="ml", result="failed") == 0
    assert _get(values, "loocv_runs_finished", run_namespace="ml", result="failed") == 1


def test_a_deleted_run_drops_its_series() -> None:
    metrics = RunMetrics()
    body = _body("a", {"phase": "Running"})
    metrics.observe(body)
    metrics.observe(body, deleted=True)
    assert not any(
        name.startswith("loocv_run_") and "run" in dict(labels) for name, labels in _values(metrics)
    )


def test_failed_folds_by_error_type_come_from_the_results_incomplete_condition() -> None:
    from types import SimpleNamespace

    from loocv_operator.kube.run_metrics import failure_types
    from loocv_operator.kube.status import _failure_message

    # the message exactly as the status writes it
    view = SimpleNamespace(
        summary={"failureTypes": {"ValueError": 2, "KeyError": 1}},
        folds=SimpleNamespace(failed=3, total=150),
    )
    message = _failure_message(view)  # type: ignore[arg-type]
    condition = {"type": "ResultsIncomplete", "status": "True", "message": message}
    assert failure_types({"conditions": [condition]}) == {"KeyError": 1, "ValueError": 2}
    running = {**condition, "message": message + " so far"}
    assert failure_types({"conditions": [running]}) == {"KeyError": 1, "ValueError": 2}
    assert failure_types({"conditions": [{**condition, "status": "False"}]}) == {}
    metrics = RunMetrics()
    metrics.observe(_body("a", {"phase": "Running", "conditions": [running]}))
    values = _values(metrics)
    labels = {"run_namespace": "ml", "run": "a"}
    assert _get(values, "loocv_run_failed_folds", error_type="ValueError", **labels) == 2


def test_usage_counters_add_what_each_run_used_by_namespace_only() -> None:
    metrics = RunMetrics()
    metrics.observe(_body("a", {"phase": "Pending"}))
    metrics.observe(_body("b", {"phase": "Running", "usage": {"coreSeconds": 50.0}}))  # restart
    metrics.observe(_body("a", {"phase": "Running", "usage": {"coreSeconds": 30.0, "cost": 1}}))
    metrics.observe(_body("a", {"phase": "Running", "usage": {"coreSeconds": 100.0, "cost": 2}}))
    metrics.observe(_body("b", {"phase": "Running", "usage": {"coreSeconds": 70.0}}))
    values = _values(metrics)
    # a: 100; b: only what it used after it was first seen (20)
    assert _get(values, "loocv_usage_core_seconds_total", run_namespace="ml") == 120.0
    assert _get(values, "loocv_usage_cost_total", run_namespace="ml") == 2.0
    assert _get(values, "loocv_usage_gpu_seconds_total", run_namespace="ml") == 0.0
    metrics.observe(_body("a", {}), deleted=True)  # a counter never goes down
    values = _values(metrics)
    assert _get(values, "loocv_usage_core_seconds_total", run_namespace="ml") == 120.0
    assert not [k for k in values if k[0].startswith("loocv_usage_") and "run" in dict(k[1])]
