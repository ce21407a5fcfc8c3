"""Prometheus metrics of the operator, on their own registry.

Labels are aggregate only (phase, namespace): a sample id or a fold index never becomes a
label value, so the series count does not grow with the data.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

PHASES = ("Pending", "Running", "Suspended", "Succeeded", "Failed")


class Telemetry:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.runs = Gauge(
            "loocv_runs", "LOOCVRuns the operator tracks, by phase", ["phase"], registry=r
        )
        self.folds_completed = Counter(
            "loocv_folds_completed", "fold results collected", ["namespace"], registry=r
        )
        self.folds_failed = Counter(
            "loocv_folds_failed", "fold results that are failures", ["namespace"], registry=r
        )
        self.jobs_created = Counter(
            "loocv_jobs_created", "trainer Jobs created", ["namespace"], registry=r
        )
        self.job_retries = Counter(
            "loocv_job_retries", "Jobs resubmitted after a failure", ["namespace"], registry=r
        )
        self.job_preemptions = Counter(
            "loocv_job_preemptions", "trainer pods preempted or evicted", ["namespace"], registry=r
        )
        self.batches_given_up = Counter(
            "loocv_batches_given_up",
            "batches recorded as failed after retries",
            ["namespace"],
            registry=r,
        )
        self.status_patches = Counter(
            "loocv_status_patches", "status patches written", ["namespace"], registry=r
        )
        self.reconcile_errors = Counter(
            "loocv_reconcile_errors",
            "reconciles that failed (retried next interval)",
            ["namespace"],
            registry=r,
        )
        self.fold_seconds = Histogram(
            "loocv_fold_duration_seconds",
            "fit + predict time of one fold",
            ["namespace"],
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800),
        )
        self.reconcile_seconds = Histogram(
            "loocv_reconcile_duration_seconds", "time of one reconcile of one run", registry=r
        )
        self.run_seconds = Histogram(
            "loocv_run_duration_seconds",
            "startTime to completionTime of a finished run",
            ["namespace"],
            registry=r,
            buckets=(10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
        )
        for phase in PHASES:
            self.runs.labels(phase).set(0)

    def set_phases(self, counts: dict[str, int]) -> None:
        for phase in PHASES:
            self.runs.labels(phase).set(counts.get(phase, 0))

    def serve(self, port: int, address: str = "0.0.0.0") -> None:
        """Serve /metrics on a background thread."""
        start_http_server(port, addr=address, registry=self.registry)
