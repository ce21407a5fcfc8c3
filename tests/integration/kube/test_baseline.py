"""gate.baseline through the real operator: a finished run on S3 is the baseline of the
next; a candidate significantly worse fails its gate with the figures in status.baseline."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kubernetes import client as k8s

from .apiserver import Cluster
from .conftest import OperatorProcess, create_run, manifest, wait_condition
from .jobcontroller import JobController

pytestmark = pytest.mark.integration

SUBSET = {"indices": list(range(0, 150, 5))}  # 30 folds, 10 of each class


def spec(estimator: str, gate: dict[str, object] | None = None) -> dict[str, object]:
    out: dict[str, object] = {
        "dataset": {"builtin": "iris"},
        "model": {"estimator": estimator},
        "strategy": {"subset": SUBSET},
        "execution": {"foldsPerJob": 30, "maxConcurrentJobs": 1, "retries": 0},
    }
    if gate:
        out["gate"] = gate
    return out


def test_a_candidate_worse_than_its_baseline_fails_the_gate(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    namespace: str,
) -> None:
    process = operator()
    create_run(api, manifest("prod", namespace, spec("sklearn.naive_bayes.GaussianNB")))
    wait_condition(api, namespace, "prod", "Complete", process)
    gate = {"baseline": {"run": "prod", "maxRegressions": 0}}
    create_run(api, manifest("dummy", namespace, spec("sklearn.dummy.DummyClassifier", gate)))
    run = wait_condition(api, namespace, "dummy", "Complete", process)
    status = run["status"]
    condition = {c["type"]: c for c in status["conditions"]}["GatePassed"]
    assert condition["status"] == "False" and condition["reason"] == "WorseThanBaseline"
    baseline = status["baseline"]
    assert baseline["baseline"].startswith(f"{namespace}/prod/")
    assert baseline["c"] == 0 and baseline["b"] >= 25  # the dummy is wrong on all 30
    assert baseline["regressions"] == baseline["b"] and baseline["pValue"] < 1e-6
    assert baseline["pairedSamples"] == 30
    assert status["gate"]["passed"] is False
