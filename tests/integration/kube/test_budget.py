"""Usage and the budget through the real operator: pods accounted by uid from their
container start and finish times, a run stopped by spec.execution.budget with its folds
kept, and resumed by raising the budget."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from kubernetes import client as k8s

from loocv_operator.kube.crd import GROUP, PLURAL, VERSION
from loocv_operator.ledger import load_results
from loocv_operator.store import RunLocation, open_store

from .apiserver import Cluster
from .conftest import (
    OperatorProcess,
    condition,
    create_run,
    get_run,
    job_creations,
    manifest,
    wait_condition,
)
from .jobcontroller import JobController

# Two halves of a run, each a trainer process or more: minutes on a loaded machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

# Brute force (no fast path): every batch is a trainer process of a second or more, so each
# finished pod has a measurable running time; one Job at a time, one requested core each.
SPEC = {
    "dataset": {"builtin": "iris"},
    "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
    "execution": {
        "foldsPerJob": 50,
        "maxConcurrentJobs": 1,
        "retries": 1,
        "fastPath": "disabled",
        "resources": {"requests": {"cpu": "1", "memory": "512Mi"}},
        # ~1.8 core-seconds: the first pod (>= 1 s) leaves no room for a second one.
        "budget": {"maxCoreHours": 0.0005},
    },
}


def test_the_budget_stops_a_run_and_raising_it_resumes_the_run(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    namespace: str,
    s3_env: str,
    s3_prefix: str,
) -> None:
    process = operator("--price", "core-hour=0.10,gib-hour=0.01")
    created = create_run(api, manifest("iris-budget", namespace, SPEC))
    run = wait_condition(api, namespace, "iris-budget", "Failed", process, timeout=280)
    status = run["status"]
    failed = condition(run, "Failed")
    exceeded = condition(run, "BudgetExceeded")
    assert failed is not None and failed["reason"] == "BudgetExceeded"
    assert exceeded is not None and exceeded["status"] == "True"
    assert "spec.execution.budget.maxCoreHours is 0.0005 core-hours" in exceeded["message"]
    assert status["phase"] == "Failed"

    # Every computed fold is kept: a whole batch or more done, not all of them, none given up.
    done = status["folds"]["done"]
    assert 50 <= done < 150 and done % 50 == 0
    assert status["folds"]["failed"] == 0 and status["jobs"]["givenUp"] == 0
    usage = status["usage"]
    creations = len(job_creations(cluster.log, namespace))
    assert usage["podsStarted"] == creations == done // 50  # one pod per Job, each once
    assert usage["podsRunning"] == 0
    # requested cores x running time: 1 core per pod, 512 MiB = 0.5 GiB per pod
    assert usage["coreSeconds"] >= 1.0 * creations
    assert usage["memoryGiBSeconds"] == pytest.approx(0.5 * usage["coreSeconds"])
    assert usage["foldSeconds"] > 0
    # the operator's --price turns it into an estimated cost
    assert usage["cost"] == pytest.approx(
        usage["coreSeconds"] / 3600 * 0.10 + usage["memoryGiBSeconds"] / 3600 * 0.01
    )

    store = open_store(s3_prefix, s3_env)
    location = RunLocation(namespace, "iris-budget", created["metadata"]["uid"])
    report = json.loads(store.get(location.artifact("report.json")))
    assert report["usage"]["coreSeconds"] == pytest.approx(usage["coreSeconds"])
    assert "Usage and cost" in store.get(location.artifact("report.html")).decode()
    assert len(load_results(store, location)) == done

    # Raising the budget (mutable, like suspend and maxConcurrentJobs) resumes the run from
    # the folds it kept.
    custom = k8s.CustomObjectsApi(api)
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "iris-budget",
        {"spec": {"execution": {"budget": {"maxCoreHours": 1.0}, "maxConcurrentJobs": 2}}},
    )
    run = wait_condition(api, namespace, "iris-budget", "Complete", process, timeout=280)
    status = run["status"]
    assert status["phase"] == "Succeeded"
    assert status["folds"]["done"] == 150 and status["folds"]["failed"] == 0
    assert condition(run, "Failed") is None
    raised = condition(run, "BudgetExceeded")
    assert raised is not None and raised["status"] == "False"
    # No batch computed twice: one Job per batch over both halves of the run.
    assert len(job_creations(cluster.log, namespace)) == 3
    assert status["usage"]["podsStarted"] == 3
    assert status["usage"]["coreSeconds"] >= usage["coreSeconds"]
    assert get_run(api, namespace, "iris-budget")["status"]["usage"]["cost"] > usage["cost"]
