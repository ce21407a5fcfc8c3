"""Per-run gauges read from the LOOCVRuns' own status, for dashboards and alerts.

The reconciler's counters say what the operator did; these say what users ask: did the
run pass its gate, how accurate and calibrated was it, is it still making progress. They
come from kopf's watch events of LOOCVRun (no extra API calls, no annotations), so they
show the status exactly as ``kubectl get loocvruns`` does. Labels are a run's namespace and
name — one series per run that exists, dropped when the run is deleted — never a sample.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

RESULTS = ("passed", "gate_failed", "succeeded", "failed", "invalid")
QUALITY = ("accuracy", "logLoss", "brier", "ece", "mae", "rmse", "r2")
ACTIVE_PHASES = ("Pending", "Running", "Suspended")
# status.usage (kube/usage.py) -> counters loocv_usage_<name>_total{run_namespace}
USAGE = {
    "coreSeconds": ("core_seconds", "requested CPU cores x trainer pod running time"),
    "gpuSeconds": ("gpu_seconds", "requested GPUs x trainer pod running time"),
    "memoryGiBSeconds": ("memory_gib_seconds", "requested memory (GiB) x pod running time"),
    "foldSeconds": ("fold_seconds", "fit + predict time of the folds"),
    "podsStarted": ("pods_started", "trainer pods that started"),
    "savedSeconds": ("saved_seconds", "brute-force compute the fast paths saved (estimated)"),
    "cost": ("cost", "estimated cost, with the operator's --price"),
}
MAX_ERROR_TYPES = 20  # per run: exception class names, a handful in practice
# The ResultsIncomplete condition's message (kube/status.py): "3 of 150 folds failed
# (KeyError x1, ValueError x2)" — the one place the status carries failures by type.
_TYPES = re.compile(r"folds failed(?: so far)? \((.*)\)")
_TYPE = re.compile(r"^([A-Za-z_][\w.]{0,100}) x(\d+)$")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _condition(status: Mapping[str, Any], type_: str) -> str | None:
    for item in status.get("conditions") or []:
        if isinstance(item, Mapping) and item.get("type") == type_:
            return str(item.get("status"))
    return None


def result_of(status: Mapping[str, Any]) -> str | None:
    """passed / gate_failed (a gate was evaluated), succeeded (no gate), failed, invalid (a
    manifest the operator refused: the user's to fix, not the pipeline's); None while the run
    is not finished."""
    phase = status.get("phase")
    if phase == "Failed":
        return "invalid" if _condition(status, "Invalid") == "True" else "failed"
    if phase != "Succeeded":
        return None
    gate = _condition(status, "GatePassed")
    if gate == "True":
        return "passed"
    if gate == "False":
        return "gate_failed"
    return "succeeded"


def report_of(results_uri: Any) -> str:
    """Where the run's report.html is (or will be), from status.resultsUri."""
    if not isinstance(results_uri, str) or not results_uri:
        return ""
    return results_uri.rstrip("/") + "/report.html"


def failure_types(status: Mapping[str, Any]) -> dict[str, int]:
    """Failed folds by error type, from the ResultsIncomplete condition's message."""
    for item in status.get("conditions") or []:
        if not isinstance(item, Mapping) or item.get("type") != "ResultsIncomplete":
            continue
        found = _TYPES.search(str(item.get("message") or ""))
        if item.get("status") != "True" or found is None:
            return {}
        counts = {}
        for part in found.group(1).split(", ")[:MAX_ERROR_TYPES]:
            match = _TYPE.match(part.strip())
            if match:
                counts[match.group(1)] = int(match.group(2))
        return counts
    return {}


@dataclass(frozen=True)
class RunSnapshot:
    """What one LOOCVRun's status says, plus when its fold count last moved."""

    namespace: str
    name: str
    phase: str
    result: str | None
    folds_total: int
    folds_done: int
    folds_failed: int
    retried: int
    preempted: int
    quality: dict[str, float] = field(default_factory=dict)
    progressed_at: float = 0.0
    uid: str = ""
    report: str = ""
    failures: dict[str, int] = field(default_factory=dict)
    usage: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, body: Mapping[str, Any], now: float) -> RunSnapshot:
        meta = body.get("metadata") or {}
        status = body.get("status") or {}
        folds = status.get("folds") or {}
        jobs = status.get("jobs") or {}
        metrics = status.get("metrics") or {}
        quality = {k: v for k in QUALITY if (v := _number(metrics.get(k))) is not None}
        return cls(
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            phase=str(status.get("phase") or "Pending"),
            result=result_of(status),
            folds_total=int(folds.get("total") or 0),
            folds_done=int(folds.get("done") or 0),
            folds_failed=int(folds.get("failed") or 0),
            retried=int(jobs.get("retried") or 0),
            preempted=int(jobs.get("preempted") or 0),
            quality=quality,
            progressed_at=now,
            uid=str(meta.get("uid") or ""),
            report=report_of(status.get("resultsUri")),
            failures=failure_types(status),
            usage={
                k: v
                for k in USAGE
                if (v := _number((status.get("usage") or {}).get(k))) is not None
            },
        )


class RunMetrics(Collector):
    """The latest snapshot of every run, served at scrape time."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._runs: dict[str, RunSnapshot] = {}
        self._completions: dict[tuple[str, str], int] = {}
        self._usage: dict[tuple[str, str], float] = {}  # (namespace, USAGE key) -> total

    def observe(self, body: Mapping[str, Any], deleted: bool = False) -> None:
        """One watch event of a LOOCVRun. A run seen unfinished and then finished counts one
        completion; a run already finished when first seen (an operator restart) does not."""
        uid = str((body.get("metadata") or {}).get("uid") or "")
        if not uid:
            return
        with self._lock:
            if deleted:
                self._runs.pop(uid, None)
                return
            now = self.clock()
            new = RunSnapshot.of(body, now)
            for result in RESULTS:  # zero series first, so increase() sees the first one
                self._completions.setdefault((new.namespace, result), 0)
            for name in USAGE:
                self._usage.setdefault((new.namespace, name), 0.0)
            old = self._runs.get(uid)
            if old is not None:
                # What a run used since the last event (a run first seen after a restart
                # adds nothing: its earlier usage was counted by the previous process).
                for name, value in new.usage.items():
                    grown = value - old.usage.get(name, 0.0)
                    if grown > 0:
                        self._usage[(new.namespace, name)] += grown
                if new.folds_done == old.folds_done and new.phase == old.phase:
                    new = replace(new, progressed_at=old.progressed_at)
                if old.result is None and new.result is not None:
                    key = (new.namespace, new.result)
                    self._completions[key] = self._completions.get(key, 0) + 1
            self._runs[uid] = new

    def snapshots(self) -> list[RunSnapshot]:
        with self._lock:
            return list(self._runs.values())

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        runs = self.snapshots()
        with self._lock:
            completions = dict(self._completions)
            used = dict(self._usage)
        per_run = ["run_namespace", "run"]
        phase = GaugeMetricFamily(
            "loocv_run_phase", "1 for the phase each LOOCVRun is in", labels=[*per_run, "phase"]
        )
        folds = GaugeMetricFamily(
            "loocv_run_folds", "folds of a run: total, done, failed", labels=[*per_run, "state"]
        )
        progressed = GaugeMetricFamily(
            "loocv_run_last_progress_timestamp_seconds",
            "when an unfinished run's done-fold count last moved (or it was first seen)",
            labels=per_run,
        )
        quality = GaugeMetricFamily(
            "loocv_run_quality",
            "pooled LOO metric of a run, as in its status (accuracy, ece, brier, ...)",
            labels=[*per_run, "metric"],
        )
        gate = GaugeMetricFamily(
            "loocv_run_gate_passed", "1 passed, 0 failed; finished runs with a gate", labels=per_run
        )
        jobs = GaugeMetricFamily(
            "loocv_run_jobs",
            "Job resubmissions and pod preemptions of a run",
            labels=[*per_run, "kind"],
        )
        info = GaugeMetricFamily(
            "loocv_run_info",
            "1 per run; its uid and report.html address (per-sample detail lives there)",
            labels=[*per_run, "uid", "report"],
        )
        by_type = GaugeMetricFamily(
            "loocv_run_failed_folds",
            "failed folds of a run by error type (the exception's class name)",
            labels=[*per_run, "error_type"],
        )
        finished = GaugeMetricFamily(
            "loocv_runs_finished",
            "finished LOOCVRuns that exist, by result",
            labels=["run_namespace", "result"],
        )
        counts: dict[tuple[str, str], int] = {}
        for run in runs:
            labels = [run.namespace, run.name]
            phase.add_metric([*labels, run.phase], 1.0)
            info.add_metric([*labels, run.uid, run.report], 1.0)
            folds.add_metric([*labels, "total"], run.folds_total)
            folds.add_metric([*labels, "done"], run.folds_done)
            folds.add_metric([*labels, "failed"], run.folds_failed)
            jobs.add_metric([*labels, "retried"], run.retried)
            jobs.add_metric([*labels, "preempted"], run.preempted)
            for name, value in run.quality.items():
                quality.add_metric([*labels, name], value)
            for error_type, n in run.failures.items():
                by_type.add_metric([*labels, error_type], n)
            if run.result is None:
                progressed.add_metric(labels, run.progressed_at)
            else:
                key = (run.namespace, run.result)
                counts[key] = counts.get(key, 0) + 1
                if run.result in ("passed", "gate_failed"):
                    gate.add_metric(labels, 1.0 if run.result == "passed" else 0.0)
        for namespace in {r.namespace for r in runs}:
            for result in RESULTS:
                finished.add_metric([namespace, result], counts.get((namespace, result), 0))
        completed = CounterMetricFamily(
            "loocv_run_completions",
            "runs seen finishing by this operator process, by result",
            labels=["run_namespace", "result"],
        )
        for (namespace, result), n in sorted(completions.items()):
            completed.add_metric([namespace, result], n)
        usage: dict[str, CounterMetricFamily] = {
            usage_key: CounterMetricFamily(f"loocv_usage_{name}", text, labels=["run_namespace"])
            for usage_key, (name, text) in USAGE.items()
        }
        for (namespace, usage_key), total in sorted(used.items()):
            usage[usage_key].add_metric([namespace], total)
        yield from (
            info,
            phase,
            folds,
            progressed,
            quality,
            gate,
            jobs,
            by_type,
            finished,
            completed,
        )
        yield from usage.values()
