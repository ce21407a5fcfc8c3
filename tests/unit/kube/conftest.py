"""Builders shared by the operator's unit tests."""

from __future__ import annotations

from typing import Any

import pytest

from loocv_operator.kube.jobs import JobDefaults
from loocv_operator.spec import LOOCVRunSpec, parse_spec
from loocv_operator.store import RunLocation

RUN = RunLocation(name="iris-nb", namespace="team-a", uid="0f9c4d5e-1111-2222-3333-444455556666")


def spec_of(**overrides: Any) -> LOOCVRunSpec:
    data: dict[str, Any] = {
        "dataset": {"builtin": "iris"},
        "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
    }
    data.update(overrides)
    return parse_spec(data)


@pytest.fixture
def run() -> RunLocation:
    return RUN


@pytest.fixture
def defaults() -> JobDefaults:
    return JobDefaults(
        image="registry.example/loocv-trainer:1.0",
        allowlist_extra=("xgboost",),
        s3_endpoint="http://minio:9000",
        storage_secret="default-s3",
    )
