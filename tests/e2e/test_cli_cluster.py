"""`loocv run FILE --cluster` against the real control plane: the API server's own admission
(a ValidatingAdmissionPolicy a platform team might set), the real operator, the same exit
codes and summary as a local run."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_operator
import yaml
from cluster import Cluster
from test_operator import CREDENTIALS, LOOCV, Operator, S3Server, manifest

# test_operator's fixtures, visible here by name.
bucket = test_operator.bucket
crd = test_operator.crd
s3 = test_operator.s3
store_credentials = test_operator.store_credentials
operator = test_operator.operator

pytestmark = pytest.mark.e2e

POLICY = "loocvruns-need-a-gate"


def loocv(cluster: Cluster, s3: S3Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), **CREDENTIALS}
    return subprocess.run(
        [str(LOOCV), *args, "--endpoint", s3.endpoint],
        capture_output=True,
        text=True,
        timeout=400,
        env=env,
    )


def write(tmp_path: Path, namespace: str, **spec: Any) -> Path:
    document = manifest("unused", **spec)
    document["metadata"] = {"generateName": "ci-", "namespace": namespace}
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_passing_run_and_a_breached_gate(
    control_plane: Cluster, operator: Operator, namespace: str, s3: S3Server, tmp_path: Path
) -> None:
    passing = write(tmp_path, namespace, gate={"accuracy": {"min": 0.9}})
    proc = loocv(control_plane, s3, "run", str(passing), "--cluster", "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    assert "folds        150/150 done, 0 failed" in proc.stdout
    assert "gate         PASSED" in proc.stdout and "Traceback" not in proc.stderr
    assert (tmp_path / "r" / "report.html").stat().st_size > 0
    failing = write(tmp_path, namespace, gate={"accuracy": {"min": 0.999}})
    proc = loocv(control_plane, s3, "run", str(failing), "--cluster", "--no-progress")
    assert proc.returncode == 3, proc.stderr
    assert "gate failed (ThresholdsBreached)" in proc.stderr


@pytest.fixture
def gate_policy(control_plane: Cluster, crd: None, namespace: str) -> Iterator[str]:
    """An admission policy of the API server itself: every LOOCVRun here must have a gate."""
    documents = [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": POLICY},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["loocv.dev"],
                            "apiVersions": ["*"],
                            "operations": ["CREATE"],
                            "resources": ["loocvruns"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": "has(object.spec.gate)",
                        "message": "spec.gate: runs in this cluster must have a gate",
                    }
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": POLICY},
            "spec": {
                "policyName": POLICY,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
                },
            },
        },
    ]
    control_plane.run_kubectl("apply", "-f", "-", input=yaml.safe_dump_all(documents))
    yield POLICY
    control_plane.run_kubectl(
        "delete",
        "validatingadmissionpolicybinding,validatingadmissionpolicy",
        POLICY,
        "--ignore-not-found",
        check=False,
    )


def test_a_manifest_refused_at_admission_exits_2_with_the_api_servers_words(
    control_plane: Cluster, gate_policy: str, namespace: str, s3: S3Server, tmp_path: Path
) -> None:
    path = write(tmp_path, namespace)  # no gate
    for _ in range(30):  # a new policy takes a moment to be enforced
        proc = loocv(control_plane, s3, "run", str(path), "--cluster", "--detach")
        if proc.returncode != 0:
            break
    assert proc.returncode == 2, proc.stderr
    assert "runs in this cluster must have a gate" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_run_the_operator_refuses_exits_2_naming_the_field(
    control_plane: Cluster, operator: Operator, namespace: str, s3: S3Server, tmp_path: Path
) -> None:
    path = write(tmp_path, namespace, storage={"uri": "/var/results"})
    proc = loocv(control_plane, s3, "run", str(path), "--cluster", "--no-progress")
    assert proc.returncode == 2, proc.stderr
    assert "invalid: spec.storage.uri" in proc.stderr
