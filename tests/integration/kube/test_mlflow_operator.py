"""On a cluster the run is logged to MLflow where the report is written: by the operator,
when it finishes the run (real kopf operator, kmock API server, a real `mlflow server` on
loopback). Skipped only when the mlflow extra is not installed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes import client as k8s

from tests.conftest import free_port
from tests.tracking import server as mlflow_server

from .apiserver import Cluster
from .conftest import OperatorProcess, create_run, manifest, wait_condition
from .jobcontroller import JobController

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
pytest.importorskip("mlflow", reason="the mlflow extra is not installed")


def test_the_operator_logs_the_finished_run_to_mlflow(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    namespace: str,
    tmp_path: Path,
) -> None:
    from mlflow.tracking import MlflowClient

    server = mlflow_server.start(tmp_path / "mlflow", free_port())
    try:
        process = operator()
        spec = {
            "dataset": {"builtin": "iris"},
            "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
            "execution": {"foldsPerJob": 75, "maxConcurrentJobs": 2},
            "gate": {"accuracy": {"min": 0.99}},
            "tracking": {"mlflow": {"trackingUri": server.uri, "experiment": "cluster"}},
        }
        created = create_run(api, manifest("iris-tracked", namespace, spec))
        wait_condition(api, namespace, "iris-tracked", "Complete", process)
        client = MlflowClient(tracking_uri=server.uri)
        experiment = client.get_experiment_by_name("cluster")
        assert experiment is not None
        (run,) = client.search_runs([experiment.experiment_id])
        tags = run.data.tags
        assert tags["loocv.uid"] == created["metadata"]["uid"]
        assert (tags["loocv.namespace"], tags["loocv.name"]) == (namespace, "iris-tracked")
        assert tags["loocv.gate"] == "failed" and run.data.metrics["gate_passed"] == 0.0
        assert run.info.run_name == "iris-tracked"
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert artifacts == {"report.json", "report.html", "predictions.csv"}
    finally:
        server.stop()
