"""A whole run through the real operator: Jobs, trainer processes, results, status."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from kubernetes import client as k8s
from sklearn.datasets import load_iris
from sklearn.model_selection import LeaveOneOut, cross_val_predict
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from loocv_operator.estimators import DEFAULT_ALLOWLIST
from loocv_operator.ledger import load_results
from loocv_operator.local import execute, prepare
from loocv_operator.metrics import summarize
from loocv_operator.spec import parse_run
from loocv_operator.store import LocalStore, RunLocation, open_store

from .apiserver import Cluster
from .conftest import (
    OperatorProcess,
    create_run,
    events,
    job_creations,
    manifest,
    max_active_jobs,
    status_patches,
    wait_condition,
)
from .jobcontroller import JobController

pytestmark = pytest.mark.integration

SPEC = {
    "dataset": {"builtin": "iris"},
    "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
    "execution": {"foldsPerJob": 50, "maxConcurrentJobs": 2, "retries": 1},
    "gate": {"accuracy": {"min": 0.9}, "failedFolds": {"max": 0}},
}


def test_a_run_completes_with_the_metrics_of_the_local_run(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    namespace: str,
    s3_prefix: str,
    tmp_path: Path,
) -> None:
    process = operator()
    created = create_run(api, manifest("iris-nb", namespace, SPEC))
    run = wait_condition(api, namespace, "iris-nb", "Complete", process)
    status = run["status"]

    assert status["phase"] == "Succeeded"
    assert status["progress"] == "150/150"
    assert status["folds"] == {
        "total": 150,
        "done": 150,
        "succeeded": 150,
        "failed": 0,
        "running": 0,
        "missing": 0,
    }
    assert status["observedGeneration"] == 1
    gate = {c["type"]: c for c in status["conditions"]}["GatePassed"]
    assert gate["status"] == "True"
    assert status["gate"] == {"passed": True, "failures": []}
    assert status["jobs"]["retried"] == 0 and status["jobs"]["givenUp"] == 0

    # The same manifest run locally gives the same metrics.
    local_run = parse_run(manifest("iris-nb", "default", SPEC))
    local_store = LocalStore(tmp_path / "local")
    plan, runner = prepare(local_run, local_store, DEFAULT_ALLOWLIST)
    execute(plan, runner, local_store, workers=1)
    local = summarize(plan, load_results(local_store, plan.location))["metrics"]
    for key in ("accuracy", "accuracyCI95", "logLoss", "brier", "ece"):
        assert status["metrics"][key] == pytest.approx(local[key], rel=1e-12), key

    # ... and the stored predictions are sklearn's brute-force LOO predictions.
    location = RunLocation(namespace, "iris-nb", created["metadata"]["uid"])
    store = open_store(s3_prefix)
    results = load_results(store, location)
    predicted = np.array([r.samples[0].y_pred for r in results])
    X, y = load_iris(return_X_y=True)
    np.testing.assert_array_equal(
        predicted, cross_val_predict(GaussianNB(), X, y, cv=LeaveOneOut())
    )
    report = json.loads(store.get(location.artifact("report.json")))
    assert report["summary"]["folds"]["done"] == 150
    assert report["gate"]["passed"] is True
    assert store.exists(location.artifact("predictions.csv"))
    assert store.exists(location.artifact("report.html"))
    assert status["resultsUri"] == store.uri(location.prefix)

    # The planner, three batches' trainers (never more than two at once), the report: each
    # created once, in that order.
    log = cluster.log
    created_jobs = [e.name for e in job_creations(log, namespace, None) if e.status == 201]
    assert len(created_jobs) == len(set(created_jobs)) == 5
    assert [n.rsplit("-", 1)[-1] for n in created_jobs[:1] + created_jobs[-1:]] == [
        "plan",
        "report",
    ]
    assert len(job_creations(log, namespace)) == 3
    assert max_active_jobs(log, namespace) <= 2
    # Jobs and pods are observed per run: namespaced lists with a server-side selector,
    # never a cluster-wide list or watch, and no handler writes to a Job.
    uid = created["metadata"]["uid"]
    operator_lists = [
        e
        for e in log
        if e.resource in ("jobs", "pods")
        and e.action in ("LIST", "WATCH")
        and e.params.get("labelSelector")
    ]
    assert operator_lists
    assert all(e.namespace == namespace for e in operator_lists)
    assert {e.params["labelSelector"] for e in operator_lists} == {f"loocv.dev/run-uid={uid}"}
    assert not [e for e in log if e.resource == "jobs" and e.action == "WATCH"]
    job_writes = [
        e
        for e in log
        if e.resource == "jobs" and e.action == "UPDATE" and e.subresource != "status"
    ]
    assert job_writes == []  # no finalizers or annotations put on Jobs
    reasons = [e["reason"] for e in events(log, namespace)]
    assert "Completed" in reasons and "GatePassed" in reasons


def test_auto_batching_times_a_probe_job_then_sizes_the_rest(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    namespace: str,
    s3_prefix: str,
) -> None:
    spec = {
        "dataset": {"builtin": "iris"},
        "model": {"estimator": "sklearn.tree.DecisionTreeClassifier"},
        "execution": {"maxConcurrentJobs": 2, "retries": 1},  # foldsPerJob: auto
    }
    process = operator()
    created = create_run(api, manifest("iris-tree", namespace, spec))
    run = wait_condition(api, namespace, "iris-tree", "Complete", process)
    batching = run["status"]["batching"]
    # The probe pod is a real process importing scikit-learn: its overhead dwarfs a
    # millisecond tree fit, so the remaining 145 folds go to one Job per slot.
    assert batching["mode"] == "measured" and batching["probeFolds"] == 5
    assert batching["podOverheadSeconds"] >= 1.0
    assert 0 < batching["perFoldSeconds"] < 0.5
    assert batching["foldsPerJob"] == 73
    log = cluster.log
    creations = [e for e in job_creations(log, namespace) if e.status == 201]
    assert [e.name.rsplit("-", 2)[-2] for e in creations] == ["b0", "b1", "b2"]
    probe_done = next(
        i
        for i, e in enumerate(log)
        if e.resource == "jobs"
        and e.subresource == "status"
        and e.name == creations[0].name
        and any(
            c.get("type") == "Complete"
            for c in ((e.data or {}).get("status") or {}).get("conditions") or []
        )
    )
    assert log.index(creations[1]) > probe_done  # the rest waited for the probe's timing
    assert "Batched" in [e["reason"] for e in events(log, namespace)]

    location = RunLocation(namespace, "iris-tree", created["metadata"]["uid"])
    store = open_store(s3_prefix)
    results = load_results(store, location)
    predicted = np.array([r.samples[0].y_pred for r in results])
    X, y = load_iris(return_X_y=True)
    expected = cross_val_predict(DecisionTreeClassifier(random_state=0), X, y, cv=LeaveOneOut())
    np.testing.assert_array_equal(predicted, expected)
    assert json.loads(store.get(location.plan))["batching"]["foldsPerJob"] == 73


def test_the_status_shows_partial_metrics_while_running_then_the_reports(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    namespace: str,
) -> None:
    """One trainer Job at a time: the statuses written between two batches carry the pooled
    metrics over the folds stored so far, marked partial, without an interval or a gate;
    once every fold is stored they are the report's point estimates."""
    spec = {**SPEC, "execution": {"foldsPerJob": 50, "maxConcurrentJobs": 1, "retries": 1}}
    process = operator()
    create_run(api, manifest("iris-midrun", namespace, spec))
    final = wait_condition(api, namespace, "iris-midrun", "Complete", process)["status"]

    written = [e.data["status"] for e in status_patches(cluster.log, namespace, "iris-midrun")]
    running = [s for s in written if s.get("phase") == "Running"]
    partial = [s["metrics"] for s in running if s.get("metrics")]
    over = {m["folds"] for m in partial}
    assert {50, 100, 150} <= over, over  # after each batch (150: the report Job runs)
    for metrics in partial:
        assert metrics["partial"] is True
        assert metrics["message"].startswith(f"partial: over {metrics['folds']} of 150 folds")
        assert "accuracyCI95" not in metrics and 0.8 <= metrics["accuracy"] <= 1.0
    for status in running:  # the gate is the report's: never judged mid-run
        assert not status.get("gate")
        assert "GatePassed" not in {c["type"] for c in status.get("conditions") or []}
        if status.get("metrics"):
            assert status["worstSamples"]

    everything = next(m for m in partial if m["folds"] == 150)
    metrics = final["metrics"]
    assert "partial" not in metrics and "folds" not in metrics and "message" not in metrics
    assert len(metrics["accuracyCI95"]) == 2 and final["gate"]["passed"] is True
    for key in ("accuracy", "logLoss", "brier", "ece", "lossMean"):
        assert everything[key] == pytest.approx(metrics[key], rel=1e-12), key
    for label, stats in metrics["perClass"].items():
        assert everything["perClass"][label] == pytest.approx(stats, rel=1e-12), label
