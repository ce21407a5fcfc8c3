"""Prometheus metrics: aggregate labels only."""

from __future__ import annotations

from prometheus_client import generate_latest

from loocv_operator.kube.telemetry import Telemetry


def test_metrics_are_exposed_with_aggregate_labels_only() -> None:
    telemetry = Telemetry()
    telemetry.set_phases({"Running": 2, "Succeeded": 1})
    telemetry.folds_completed.labels("ns").inc(3)
    telemetry.job_preemptions.labels("ns").inc()
    telemetry.fold_seconds.labels("ns").observe(0.2)
    text = generate_latest(telemetry.registry).decode()
    assert 'loocv_runs{phase="Running"} 2.0' in text
    assert 'loocv_runs{phase="Failed"} 0.0' in text
    assert 'loocv_folds_completed_total{namespace="ns"} 3.0' in text
    assert 'loocv_job_preemptions_total{namespace="ns"} 1.0' in text
    assert "loocv_fold_duration_seconds_bucket" in text
    for line in text.splitlines():
        if line.startswith("loocv_") and "{" in line:
            labels = line[line.index("{") + 1 : line.index("}")]
            keys = {pair.split("=")[0] for pair in labels.split(",") if pair}
            assert keys <= {"phase", "namespace", "le"}, line
