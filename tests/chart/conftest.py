"""Fixtures for the chart tests: the pinned helm, and rendering the chart with given values.

Helm is built (once per machine, ~2 min cold) before the first test runs, outside
pytest-timeout's per-test limit, and cached under ~/.cache/loocv-operator/helm/.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.helmbin import ensure_helm

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "loocv-operator"
RELEASE = "loocv"
NAMESPACE = "loocv-system"
KUBE_VERSION = "1.34.4"  # the e2e control plane's version; schemas are validated for it

_HELM: dict[str, Path] = {}


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    if any(str(item.path).startswith(str(Path(__file__).parent)) for item in session.items):
        try:
            _HELM["bin"] = ensure_helm()
        except Exception as exc:
            pytest.exit(f"[chart] could not build helm: {exc}", returncode=3)


@dataclass
class Helm:
    binary: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, timeout=120, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{done.stderr}")
        return done

    def template(
        self,
        values: dict[str, Any] | None = None,
        *extra: str,
        tmp_dir: Path,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
        args += ["--kube-version", KUBE_VERSION]
        if values is not None:
            path = tmp_dir / "values.json"
            path.write_text(json.dumps(values))
            args += ["--values", str(path)]
        return self.run(*args, *extra, check=check)


@pytest.fixture(scope="session")
def helm() -> Helm:
    binary = _HELM.get("bin") or ensure_helm()
    return Helm(binary)


Manifests = list[dict[str, Any]]


@pytest.fixture
def render(helm: Helm, tmp_path: Path) -> Callable[..., Manifests]:
    """``render(values)``: the chart's manifests (CRDs included) for these values."""

    def _render(values: dict[str, Any] | None = None, *extra: str) -> Manifests:
        out = helm.template(values, "--include-crds", *extra, tmp_dir=tmp_path).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]

    return _render


def find(manifests: Manifests, kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        m
        for m in manifests
        if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)
    ]


def only(manifests: Manifests, kind: str) -> dict[str, Any]:
    found = find(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]
