"""Prometheus metrics of the operator, on their own registry.

Labels are aggregate only (phase, the run's namespace): a sample id or a fold index never
becomes a label value, so the series count does not grow with the data. The namespace
label is ``run_namespace``, not ``namespace``: a Prometheus Operator scrape sets
``namespace`` to the operator's own namespace and renames ours to ``exported_namespace``,
which would point every per-namespace panel at the operator instead of the runs.
The process collectors add the operator's own CPU, memory and open files
(``process_*``) and Python's (``python_*``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    platform_collector,
    process_collector,
    start_http_server,
)

from .run_metrics import RunMetrics

PHASES = ("Pending", "Running", "Suspended", "Succeeded", "Failed")
NS = ["run_namespace"]


class Telemetry:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        process_collector.ProcessCollector(registry=r)
        platform_collector.PlatformCollector(registry=r)
        gc_collector.GCCollector(registry=r)
        self.run_metrics = RunMetrics()
        r.register(self.run_metrics)
        self.runs = Gauge(
            "loocv_runs", "LOOCVRuns the operator tracks, by phase", ["phase"], registry=r
        )
        self.last_pass = Gauge(
            "loocv_operator_last_pass_timestamp_seconds",
            "when the operator's reconcile ticker last ran a pass (stale: not reconciling)",
            registry=r,
        )
        self.folds_completed = Counter(
            "loocv_folds_completed", "fold results collected", NS, registry=r
        )
        self.folds_failed = Counter(
            "loocv_folds_failed", "fold results that are failures", NS, registry=r
        )
        self.jobs_created = Counter("loocv_jobs_created", "trainer Jobs created", NS, registry=r)
        self.job_retries = Counter(
            "loocv_job_retries", "Jobs resubmitted after a failure", NS, registry=r
        )
        self.job_preemptions = Counter(
            "loocv_job_preemptions", "trainer pods preempted or evicted", NS, registry=r
        )
        self.batches_given_up = Counter(
            "loocv_batches_given_up", "batches recorded as failed after retries", NS, registry=r
        )
        self.status_patches = Counter(
            "loocv_status_patches", "status patches written", NS, registry=r
        )
        self.reconcile_errors = Counter(
            "loocv_reconcile_errors",
            "reconciles that failed (retried next interval)",
            NS,
            registry=r,
        )
        self.fold_seconds = Histogram(
            "loocv_fold_duration_seconds",
            "fit + predict time of one fold",
            NS,
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800),
        )
        self.reconcile_seconds = Histogram(
            "loocv_reconcile_duration_seconds", "time of one reconcile of one run", registry=r
        )
        self.run_seconds = Histogram(
            "loocv_run_duration_seconds",
            "startTime to completionTime of a finished run",
            NS,
            registry=r,
            buckets=(10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
        )
        for phase in PHASES:
            self.runs.labels(phase).set(0)
        self._per_namespace: tuple[Counter | Histogram, ...] = (
            self.folds_completed,
            self.folds_failed,
            self.jobs_created,
            self.job_retries,
            self.job_preemptions,
            self.batches_given_up,
            self.status_patches,
            self.reconcile_errors,
            self.fold_seconds,
            self.run_seconds,
        )

    def set_phases(self, counts: dict[str, int]) -> None:
        """Called by every ticker pass: the phase counts, and the pass's heartbeat."""
        for phase in PHASES:
            self.runs.labels(phase).set(counts.get(phase, 0))
        self.last_pass.set(time.time())

    def observe_run(self, body: Mapping[str, Any], deleted: bool = False) -> None:
        """A LOOCVRun watch event: its status feeds the per-run gauges, and the per-namespace
        counters start at 0 for its namespace (so rates and sums of two counters see both)."""
        self.run_metrics.observe(body, deleted)
        namespace = (body.get("metadata") or {}).get("namespace")
        if namespace and not deleted:
            for counter in self._per_namespace:
                counter.labels(str(namespace))

    def serve(self, port: int, address: str = "0.0.0.0") -> None:
        """Serve /metrics on a background thread."""
        start_http_server(port, addr=address, registry=self.registry)
