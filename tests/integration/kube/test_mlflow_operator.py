"""On a cluster the run is logged to MLflow where the report is written: by the report Job's
pod, with the credentials of the Secret the run names (real kopf operator, kmock API server
and Job controller, a real `mlflow server` on loopback behind a bearer-token gate). Skipped
only when the mlflow extra is not installed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes import client as k8s

from tests.conftest import free_port
from tests.tracking import server as mlflow_server
from tests.tracking.tokengate import token_gate

from .apiserver import Cluster
from .conftest import OperatorProcess, create_run, manifest, wait_condition
from .jobcontroller import JobController

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
pytest.importorskip("mlflow", reason="the mlflow extra is not installed")


TOKEN = "s3cr3t-token"  # a test credential


def test_the_report_pod_logs_the_finished_run_to_mlflow_with_the_runs_secret(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    namespace: str,
    tmp_path: Path,
) -> None:
    from mlflow.tracking import MlflowClient

    server = mlflow_server.start(tmp_path / "mlflow", free_port())
    secret = k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name="mlflow-creds"), string_data={"MLFLOW_TRACKING_TOKEN": TOKEN}
    )
    k8s.CoreV1Api(api).create_namespaced_secret(namespace, secret)
    try:
        with token_gate(server.uri, TOKEN) as gate:
            _log_a_run(api, operator, namespace, gate.uri)
        # Only the report pod had the token (the operator's environment has none).
        assert gate.counts.allowed > 0 and gate.counts.refused == 0, gate.counts
        client = MlflowClient(tracking_uri=server.uri)
        experiment = client.get_experiment_by_name("cluster")
        assert experiment is not None
        (run,) = client.search_runs([experiment.experiment_id])
        tags = run.data.tags
        created = k8s.CustomObjectsApi(api).get_namespaced_custom_object(
            "loocv.dev", "v1alpha1", namespace, "loocvruns", "iris-tracked"
        )
        assert tags["loocv.uid"] == created["metadata"]["uid"]
        assert (tags["loocv.namespace"], tags["loocv.name"]) == (namespace, "iris-tracked")
        assert tags["loocv.gate"] == "failed" and run.data.metrics["gate_passed"] == 0.0
        assert run.info.run_name == "iris-tracked"
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert artifacts == {"report.json", "report.html", "predictions.csv"}
    finally:
        server.stop()


def _log_a_run(
    api: k8s.ApiClient, operator: Callable[..., OperatorProcess], namespace: str, uri: str
) -> None:
    process = operator()
    mlflow = {"trackingUri": uri, "experiment": "cluster", "secretRef": {"name": "mlflow-creds"}}
    spec = {
        "dataset": {"builtin": "iris"},
        "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
        "execution": {"foldsPerJob": 75, "maxConcurrentJobs": 2},
        "gate": {"accuracy": {"min": 0.99}},
        "tracking": {"mlflow": mlflow},
    }
    create_run(api, manifest("iris-tracked", namespace, spec))
    wait_condition(api, namespace, "iris-tracked", "Complete", process)
