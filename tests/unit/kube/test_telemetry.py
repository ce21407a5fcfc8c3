"""Prometheus metrics: aggregate labels only, named so a ServiceMonitor scrape keeps them."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from loocv_operator.kube.telemetry import Telemetry

RUN_LABELS = {"run_namespace", "run", "phase", "state", "metric", "kind", "result", "le"}
INFO_LABELS = {"uid", "report"}  # loocv_run_info only: one series per run


def _run(name: str, status: dict[str, Any], uid: str | None = None) -> dict[str, Any]:
    meta = {"namespace": "ml", "name": name, "uid": uid or f"uid-{name}"}
    return {"metadata": meta, "status": status}


def _samples(telemetry: Telemetry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(telemetry.registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_are_exposed_with_aggregate_labels_only() -> None:
    telemetry = Telemetry()
    telemetry.set_phases({"Running": 2, "Succeeded": 1})
    telemetry.folds_completed.labels("ns").inc(3)
    telemetry.job_preemptions.labels("ns").inc()
    telemetry.fold_seconds.labels("ns").observe(0.2)
    telemetry.observe_run(_run("a", {"phase": "Running", "folds": {"total": 9, "done": 2}}))
    text = generate_latest(telemetry.registry).decode()
    assert 'loocv_runs{phase="Running"} 2.0' in text
    assert 'loocv_runs{phase="Failed"} 0.0' in text
    assert 'loocv_folds_completed_total{run_namespace="ns"} 3.0' in text
    assert 'loocv_job_preemptions_total{run_namespace="ns"} 1.0' in text
    assert "loocv_fold_duration_seconds_bucket" in text
    for line in text.splitlines():
        if line.startswith("loocv_") and "{" in line:
            labels = line[line.index("{") + 1 : line.index("}")]
            keys = {pair.split("=")[0] for pair in labels.split(",") if pair}
            # 'namespace' would be renamed exported_namespace by a Prometheus Operator scrape
            assert "namespace" not in keys, line
            allowed = RUN_LABELS | INFO_LABELS if line.startswith("loocv_run_info") else RUN_LABELS
            assert keys <= allowed, line


def test_the_operator_exports_its_own_cpu_and_memory() -> None:
    samples = _samples(Telemetry())
    names = {name for name, _ in samples}
    assert {"process_resident_memory_bytes", "process_cpu_seconds_total"} <= names
    assert samples["process_resident_memory_bytes", frozenset()] > 1e6
    assert "python_info" in names


def test_a_ticker_pass_is_a_heartbeat() -> None:
    telemetry = Telemetry()
    assert _samples(telemetry)["loocv_operator_last_pass_timestamp_seconds", frozenset()] == 0
    telemetry.set_phases({})
    assert _samples(telemetry)["loocv_operator_last_pass_timestamp_seconds", frozenset()] > 1e9


def test_a_namespace_seen_starts_its_counters_at_zero() -> None:
    telemetry = Telemetry()
    telemetry.observe_run({"metadata": {"namespace": "ml", "name": "a", "uid": "u"}})
    samples = _samples(telemetry)
    for name in (
        "loocv_job_retries_total",
        "loocv_job_preemptions_total",
        "loocv_folds_failed_total",
        "loocv_reconcile_errors_total",
    ):
        assert samples[name, frozenset({("run_namespace", "ml")})] == 0, name
