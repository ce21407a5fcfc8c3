"""MLflow logging against a real `mlflow server` on loopback (tests/tracking/server.py):
`loocv run --local` logs the run when it ends; `loocv report` updates the same MLflow run.
Skipped only when the mlflow extra (the client) is not installed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from loocv_operator import cli
from tests.conftest import free_port
from tests.tracking import server as mlflow_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
pytest.importorskip("mlflow", reason="the mlflow extra is not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[mlflow_server.MlflowServer]:
    running = mlflow_server.start(tmp_path_factory.mktemp("mlflow"), free_port())
    yield running
    running.stop()


def _manifest(tmp_path: Path, uri: str) -> Path:
    body: dict[str, Any] = {
        "apiVersion": "loocv.dev/v1alpha1",
        "kind": "LOOCVRun",
        "metadata": {"name": "wine-lda", "namespace": "ml"},
        "spec": {
            "dataset": {"builtin": "wine"},
            "model": {
                "estimator": "sklearn.discriminant_analysis.LinearDiscriminantAnalysis",
                "preprocessing": [{"estimator": "sklearn.preprocessing.StandardScaler"}],
            },
            "execution": {"seed": 7},
            "gate": {"accuracy": {"min": 0.9}},
            "tracking": {
                "mlflow": {"trackingUri": uri, "experiment": "loocv-e2e", "runName": "wine"}
            },
        },
    }
    path = tmp_path / "wine.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_run_and_report_log_one_mlflow_run(
    server: mlflow_server.MlflowServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow.tracking import MlflowClient

    out = tmp_path / "out"
    code = cli.main(
        ["run", str(_manifest(tmp_path, server.uri)), "--local", "--out", str(out), "--no-progress"]
    )
    assert code == cli.EXIT_OK
    printed = capsys.readouterr().out
    assert f"{server.uri} run " in printed  # the summary names the MLflow run
    (report_json,) = out.glob("*/*/*/report.json")
    report = json.loads(report_json.read_text())

    client = MlflowClient(tracking_uri=server.uri)
    experiment = client.get_experiment_by_name("loocv-e2e")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "wine" and run.info.status == "FINISHED"
    params = run.data.params
    assert params["model"] == "sklearn.discriminant_analysis.LinearDiscriminantAnalysis"
    assert params["pipeline"] == "StandardScaler() → LinearDiscriminantAnalysis()"
    assert params["strategy"] == "LeaveOneOut" and params["seed"] == "7"
    metrics = run.data.metrics
    summary = report["summary"]["metrics"]
    assert metrics["accuracy"] == pytest.approx(summary["accuracy"])
    low, high = summary["accuracyCI95"]
    assert (metrics["accuracy_ci95_low"], metrics["accuracy_ci95_high"]) == pytest.approx(
        (low, high)
    )
    assert metrics["gate_passed"] == 1.0 and metrics["folds_total"] == 178
    tags = run.data.tags
    assert tags["loocv.gate"] == "passed"
    assert tags["loocv.specDigest"] == report["specDigest"]
    assert tags["loocv.datasetDigest"] == report["datasetDigest"]
    assert (tags["loocv.namespace"], tags["loocv.name"], tags["loocv.uid"]) == (
        "ml",
        "wine-lda",
        report["run"]["uid"],
    )
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert artifacts == {"report.json", "report.html", "predictions.csv"}
    local = Path(client.download_artifacts(run.info.run_id, "report.json", str(tmp_path)))
    assert json.loads(local.read_text())["specDigest"] == report["specDigest"]

    # loocv report of the same run updates that MLflow run; it does not add one
    assert cli.main(["report", str(report_json.parent)]) == cli.EXIT_OK
    (again,) = client.search_runs([experiment.experiment_id])
    assert again.info.run_id == run.info.run_id
