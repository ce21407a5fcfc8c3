"""The real API server refuses out-of-range thresholds and sizes (the CRD's minimum/maximum,
generated from the spec model), and accepts every documented spelling as the README writes
it: the README's own manifest, applied as text with kubectl (server-side dry run)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster import Cluster

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "crds" / "loocvruns.loocv.dev.yaml"


@pytest.fixture
def crd_installed(control_plane: Cluster) -> None:
    control_plane.run_kubectl("apply", "-f", str(CRD))
    control_plane.run_kubectl(
        "wait", "--for=condition=Established", "crd/loocvruns.loocv.dev", "--timeout=60s"
    )


def dry_run(cluster: Cluster, namespace: str, text: str) -> tuple[int, str]:
    result = cluster.run_kubectl(
        "apply", "-n", namespace, "--dry-run=server", "-f", "-", input=text, check=False
    )
    return result.returncode, result.stderr


def readme_manifest(namespace: str) -> str:
    text = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL) if "LOOCVRun" in b)
    return re.sub(r"namespace: \w+", f"namespace: {namespace}", block)


def test_the_readmes_manifest_applies_as_written(
    control_plane: Cluster, crd_installed: None, namespace: str
) -> None:
    code, err = dry_run(control_plane, namespace, readme_manifest(namespace))
    assert code == 0, err


@pytest.mark.parametrize("value", ["auto", "disabled", "approximate", "'off'"])
def test_every_documented_fast_path_spelling_is_accepted(
    control_plane: Cluster, crd_installed: None, namespace: str, value: str
) -> None:
    text = readme_manifest(namespace).replace("fastPath: auto", f"fastPath: {value}")
    code, err = dry_run(control_plane, namespace, text)
    assert code == 0, err


def base(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "loocv.dev/v1alpha1",
        "kind": "LOOCVRun",
        "metadata": {"name": "ranges"},
        "spec": {
            "dataset": {"builtin": "iris"},
            "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
            **spec,
        },
    }


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"gate": {"accuracy": {"min": 1.5}}}, "spec.gate.accuracy.min"),
        ({"gate": {"classRecall": {"min": -0.1}}}, "spec.gate.classRecall.min"),
        ({"gate": {"failureRate": {"max": 2}}}, "spec.gate.failureRate.max"),
        ({"gate": {"logLoss": {"max": -1}}}, "spec.gate.logLoss.max"),
        ({"gate": {"r2": {"min": 1.5}}}, "spec.gate.r2.min"),
        ({"gate": {"missingFolds": {"max": -1}}}, "spec.gate.missingFolds.max"),
        ({"execution": {"foldsPerJob": 100_001}}, "spec.execution.foldsPerJob"),
        ({"execution": {"seed": -1}}, "spec.execution.seed"),
        ({"gate": {}}, "an empty gate passes everything"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_out_of_range_values_are_refused_at_admission(
    control_plane: Cluster, crd_installed: None, namespace: str, spec: dict[str, Any], field: str
) -> None:
    code, err = dry_run(control_plane, namespace, yaml.safe_dump(base(**spec)))
    assert code != 0
    assert field in err
