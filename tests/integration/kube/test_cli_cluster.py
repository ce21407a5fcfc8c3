"""`loocv run FILE --cluster` against the emulated API server and the real operator: the
same command and exit codes as --local, the summary read from the run's report."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import GROUP, VERSION, OperatorProcess
from .jobcontroller import JobController

pytestmark = pytest.mark.integration

SPEC: dict[str, Any] = {
    "dataset": {"builtin": "iris"},
    "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
    "execution": {"foldsPerJob": 75, "maxConcurrentJobs": 2},
}


def write_manifest(tmp_path: Path, namespace: str, **spec: Any) -> Path:
    document = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "LOOCVRun",
        "metadata": {"generateName": "ci-", "namespace": namespace},
        "spec": {**SPEC, **spec},
    }
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def loocv(
    kubeconfig: Path, s3_endpoint: str, *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "LOOCV_S3_ENDPOINT": s3_endpoint,
    }
    return subprocess.run(
        [sys.executable, "-m", "loocv_operator.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_a_passing_run_exits_0_with_the_local_summary(
    kubeconfig: Path,
    s3_env: str,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    namespace: str,
    tmp_path: Path,
) -> None:
    operator()
    path = write_manifest(tmp_path, namespace, gate={"accuracy": {"min": 0.9}})
    out = tmp_path / "report"
    proc = loocv(kubeconfig, s3_env, "run", str(path), "--cluster", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "created loocvrun/ci-" in proc.stderr and f"in {namespace}" in proc.stderr
    assert "Running: " in proc.stderr or "Succeeded: " in proc.stderr  # lines, not a bar
    assert "\r" not in proc.stderr
    assert "folds        150/150 done, 0 failed" in proc.stdout
    assert "gate         PASSED" in proc.stdout and "accuracy" in proc.stdout
    assert {p.name for p in out.iterdir()} == {"report.json", "predictions.csv", "report.html"}
    name = proc.stderr.split("created loocvrun/", 1)[1].split()[0]
    again = loocv(kubeconfig, s3_env, "status", name, "-n", namespace)
    assert again.returncode == 0 and "gate         PASSED" in again.stdout


def test_a_breached_gate_exits_3(
    kubeconfig: Path,
    s3_env: str,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    namespace: str,
    tmp_path: Path,
) -> None:
    operator()
    path = write_manifest(tmp_path, namespace, gate={"accuracy": {"min": 0.999}})
    proc = loocv(kubeconfig, s3_env, "run", str(path), "--cluster", "--no-progress")
    assert proc.returncode == 3, proc.stderr
    assert "gate         FAILED" in proc.stdout
    assert "gate failed (ThresholdsBreached): accuracy" in proc.stderr


def test_a_run_the_operator_refuses_exits_2_naming_the_field(
    kubeconfig: Path,
    s3_env: str,
    operator: Callable[..., OperatorProcess],
    namespace: str,
    tmp_path: Path,
) -> None:
    operator()
    path = write_manifest(tmp_path, namespace, storage={"uri": "/tmp/not-shared"})
    proc = loocv(kubeconfig, s3_env, "run", str(path), "--cluster", "--no-progress")
    assert proc.returncode == 2, proc.stderr
    assert "invalid: spec.storage.uri" in proc.stderr and "Traceback" not in proc.stderr


def test_a_manifest_the_model_refuses_never_reaches_the_cluster(
    kubeconfig: Path, s3_env: str, namespace: str, tmp_path: Path
) -> None:
    path = write_manifest(tmp_path, namespace, gate={"accuracy": {"min": 1.5}})
    proc = loocv(kubeconfig, s3_env, "run", str(path), "--cluster")
    assert proc.returncode == 2
    assert "spec.gate.accuracy.min" in proc.stderr and "created" not in proc.stderr


def test_detach_submits_and_timeout_leaves_the_run_going(
    kubeconfig: Path, s3_env: str, namespace: str, tmp_path: Path
) -> None:
    """No operator here: the run never progresses, and following it times out."""
    path = write_manifest(tmp_path, namespace)
    detached = loocv(kubeconfig, s3_env, "run", str(path), "--cluster", "--detach")
    assert detached.returncode == 0 and detached.stdout.strip().startswith("ci-")
    followed = loocv(kubeconfig, s3_env, "run", str(path), "--cluster", "--timeout", "3")
    assert followed.returncode == 1
    assert "has not ended after 3 s; it goes on: kubectl get loocvrun/ci-" in followed.stderr


def test_an_unreachable_cluster_is_said_in_words(s3_env: str, tmp_path: Path) -> None:
    from tests.conftest import free_port

    config = tmp_path / "kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "c", "cluster": {"server": f"http://127.0.0.1:{free_port()}"}}
                ],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    path = write_manifest(tmp_path, "default")
    proc = loocv(config, s3_env, "run", str(path), "--cluster", timeout=120)
    assert proc.returncode == 1
    assert "cluster error: cannot reach the cluster" in proc.stderr
    assert "Traceback" not in proc.stderr
