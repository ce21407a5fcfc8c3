"""Builders for manifests and runs that the unit tests share."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

BASE: dict[str, Any] = {
    "apiVersion": "loocv.dev/v1alpha1",
    "kind": "LOOCVRun",
    "metadata": {"name": "t"},
    "spec": {
        "dataset": {"builtin": "iris"},
        "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
    },
}


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def run_doc() -> Callable[..., dict[str, Any]]:
    """A LOOCVRun document: the base with ``spec`` overrides merged in."""

    def make(**spec: Any) -> dict[str, Any]:
        return merge(BASE, {"spec": spec})

    return make


@pytest.fixture
def manifest_file(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    def write(document: dict[str, Any], name: str = "run.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(document))
        return path

    return write
