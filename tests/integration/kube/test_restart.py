"""An operator killed mid-run and started again duplicates nothing and loses nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kubernetes import client as k8s

from loocv_operator.ledger import load_results
from loocv_operator.store import RunLocation, open_store

from .apiserver import Cluster
from .conftest import (
    OperatorProcess,
    create_run,
    job_creations,
    manifest,
    max_active_jobs,
    wait_condition,
    wait_for,
)
from .jobcontroller import Fault, JobController

pytestmark = pytest.mark.integration

SPEC = {
    "dataset": {"builtin": "iris"},
    "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
    "strategy": {"subset": {"stratifiedSample": 40, "seed": 3}},
    "execution": {"foldsPerJob": 10, "maxConcurrentJobs": 2},
}


def test_a_restarted_operator_creates_no_duplicate_jobs_and_counts_every_fold_once(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    faults: dict[int, Fault],
    namespace: str,
    s3_prefix: str,
) -> None:
    faults[0] = Fault(hold=True)
    faults[1] = Fault(hold=True)
    first = operator()
    created = create_run(api, manifest("restarted", namespace, SPEC))
    location = RunLocation(namespace, "restarted", created["metadata"]["uid"])
    store = open_store(s3_prefix)

    def two_jobs() -> list[str]:
        names = [e.name for e in job_creations(cluster.log, namespace) if e.status == 201]
        return names if len(names) == 2 else []

    held = wait_for("the first two Jobs", two_jobs, 60, first)
    plan_before = store.get(location.plan)
    first.kill()  # mid-run, with two Jobs active

    for name in held:  # the Jobs go on without the operator
        controller.release(name)

    def held_finished() -> bool:
        records = [controller.records.get((namespace, name)) for name in held]
        return all(r is not None and r.finished for r in records)

    wait_for("the held Jobs to finish", held_finished, 60)
    second = operator()
    run = wait_condition(api, namespace, "restarted", "Complete", second)

    assert store.get(location.plan) == plan_before  # the plan was reused, not remade
    creations = job_creations(cluster.log, namespace)
    made = [e.name for e in creations if e.status == 201]
    assert len(made) == len(set(made)) == 4  # b0..b3, attempt 0 each, never twice
    assert all(name.endswith("-r0") for name in made)
    assert all(e.status in (201, 409) for e in creations)
    assert max_active_jobs(cluster.log, namespace) <= 2

    status = run["status"]
    assert status["folds"] == {
        "total": 40,
        "done": 40,
        "succeeded": 40,
        "failed": 0,
        "running": 0,
        "missing": 0,
    }
    results = load_results(store, location)
    assert sorted(r.index for r in results) == list(range(40))
    assert status["startTime"] <= status["completionTime"]
