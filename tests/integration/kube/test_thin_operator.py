"""The operator process never imports what reads user data or fits models (issue 12 part 3):
a whole run — planner, trainers, report — and then the operator's own ``sys.modules``.

The operator runs as in a cluster, in its own process (the test process imports scikit-learn
itself, so only the operator's modules count); at exit it writes the names of every module
it imported, and the test reads them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes import client as k8s

from .apiserver import Cluster
from .conftest import OperatorProcess, create_run, job_creations, manifest, wait_condition
from .jobcontroller import JobController

pytestmark = pytest.mark.integration
FORBIDDEN = ("sklearn", "scipy", "pyarrow", "pandas", "matplotlib")


def test_a_whole_run_leaves_no_data_library_in_the_operator(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    namespace: str,
    tmp_path: Path,
) -> None:
    modules = tmp_path / "operator-modules.json"
    process = operator(record_modules=modules)
    spec = {
        "dataset": {"builtin": "iris"},
        "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
        "strategy": {"subset": {"indices": list(range(0, 150, 5))}},
        "execution": {"foldsPerJob": 10, "maxConcurrentJobs": 2},
        "gate": {"accuracy": {"min": 0.5}},
    }
    create_run(api, manifest("thin", namespace, spec))
    run = wait_condition(api, namespace, "thin", "Complete", process)
    status = run["status"]
    assert status["folds"]["succeeded"] == 30 and status["metrics"]["accuracy"] > 0.5
    assert {c["type"]: c["status"] for c in status["conditions"]}["GatePassed"] == "True"
    names = [e.name or "" for e in job_creations(cluster.log, namespace, None) if e.status == 201]
    assert names[0].endswith("-plan") and names[-1].endswith("-report") and len(names) == 5

    process.stop()
    assert process.process is not None and process.process.returncode == 0
    imported = set(json.loads(modules.read_text()))
    assert {"kopf", "kubernetes", "loocv_operator.kube.service"} <= imported
    leaked = sorted(m for m in imported if m.split(".")[0] in FORBIDDEN)
    assert leaked == [], f"the operator imported {leaked[:10]}"
