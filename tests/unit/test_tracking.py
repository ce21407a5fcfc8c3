"""MLflow tracking without a server: what is logged, and refusals naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from loocv_operator import cli
from loocv_operator.gate import GateVerdict
from loocv_operator.spec import parse_spec
from loocv_operator.tracking import mlflow as tracking
from tests.unit.test_report import make_plan

MANIFEST: dict[str, Any] = {
    "apiVersion": "loocv.dev/v1alpha1",
    "kind": "LOOCVRun",
    "metadata": {"name": "iris-lda", "namespace": "ml"},
    "spec": {
        "dataset": {"builtin": "iris"},
        "model": {"estimator": "sklearn.discriminant_analysis.LinearDiscriminantAnalysis"},
        "gate": {"accuracy": {"min": 0.9}},
    },
}


def manifest(tmp_path: Path, uri: str) -> Path:
    body = {**MANIFEST, "spec": {**MANIFEST["spec"], "tracking": {"mlflow": {"trackingUri": uri}}}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_tracking_is_parsed_and_does_not_change_the_digest() -> None:
    plain = parse_spec(MANIFEST["spec"])
    tracked = parse_spec(
        {
            **MANIFEST["spec"],
            "tracking": {
                "mlflow": {
                    "trackingUri": "http://127.0.0.1:5000",
                    "experiment": "e",
                    "runName": "r",
                }
            },
        }
    )
    assert tracked.tracking is not None and tracked.tracking.mlflow is not None
    assert tracked.tracking.mlflow.run_name == "r"
    assert tracked.digest() == plain.digest()  # where a run is logged does not change results


def test_a_run_asking_for_mlflow_without_the_extra_is_refused_before_any_fold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tracking, "available", lambda: False)
    out = tmp_path / "out"
    code = cli.main(
        [
            "run",
            str(manifest(tmp_path, "http://127.0.0.1:9")),
            "--local",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == cli.EXIT_INVALID
    err = capsys.readouterr().err
    assert "spec.tracking.mlflow" in err and "pip install 'loocv-operator[mlflow]'" in err
    assert not list(out.glob("**/folds/*"))


def test_an_unreachable_server_is_a_warning_and_the_report_is_still_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("mlflow")
    from tests.conftest import free_port

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    out = tmp_path / "out"
    code = cli.main(
        ["run", str(manifest(tmp_path, uri)), "--local", "--out", str(out), "--no-progress"]
    )
    assert code == cli.EXIT_OK
    assert len(list(out.glob("**/report.html"))) == 1
    assert "could not log iris-lda to MLflow" in caplog.text


def test_params_metrics_and_tags() -> None:
    plan = make_plan("classification", ["a", "b", "c"], 3, "iris")
    summary = {
        "folds": {"total": 3, "failed": 1, "missing": 0},
        "failureRate": 1 / 3,
        "metrics": {
            "accuracy": 0.5,
            "accuracyCI95": [0.1, 0.9],
            "logLoss": None,
            "perClass": {"a": {"recall": 1.0, "support": 1}, "c": {"recall": None, "support": 0}},
        },
    }
    verdict = GateVerdict(False, ["accuracy 0.5 < min 0.99"])
    params = tracking.params_of(plan)
    assert params["model"] == "sklearn.discriminant_analysis.LinearDiscriminantAnalysis"
    assert params["pipeline"] == "LinearDiscriminantAnalysis()"
    assert params["strategy"] == "LeaveOneOut" and params["seed"] == "0"
    metrics = tracking.metrics_of(summary, verdict)
    assert metrics["accuracy"] == 0.5 and "log_loss" not in metrics
    assert (metrics["accuracy_ci95_low"], metrics["accuracy_ci95_high"]) == (0.1, 0.9)
    assert metrics["recall.a"] == 1.0 and "recall.c" not in metrics
    assert metrics["gate_passed"] == 0.0 and metrics["folds_failed"] == 1
    tags = tracking.tags_of(plan, verdict)
    assert tags["loocv.uid"] == "uid-123" and tags["loocv.namespace"] == "team-a"
    assert tags["loocv.specDigest"] == plan.spec_digest and tags["loocv.gate"] == "failed"
