"""Builders shared by the operator's unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loocv_operator.columns import SummaryFrame
from loocv_operator.kube.jobs import JobDefaults
from loocv_operator.kube.tally import Tally, tally_of
from loocv_operator.partial import summarize_folds
from loocv_operator.results import FoldResult
from loocv_operator.spec import LOOCVRunSpec, parse_spec
from loocv_operator.store import RunLocation
from loocv_operator.summaries import MergedSummary

from .fakekube import Clock, FakeKube

RUN = RunLocation(name="iris-nb", namespace="team-a", uid="0f9c4d5e-1111-2222-3333-444455556666")


def spec_of(**overrides: Any) -> LOOCVRunSpec:
    data: dict[str, Any] = {
        "dataset": {"builtin": "iris"},
        "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
    }
    data.update(overrides)
    return parse_spec(data)


def tally_from(n: int, results: list[FoldResult], classes: tuple[Any, ...] = (0, 1)) -> Tally:
    """The tally the operator reads from segments holding ``results`` (each fold once)."""
    frame = SummaryFrame("classification", classes, n)
    merged = MergedSummary(
        frame, summarize_folds(results, frame), frozenset(r.index for r in results)
    )
    return tally_of(merged)


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


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The run service's store (a directory)."""
    return tmp_path / "store"


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def clock() -> Clock:
    return Clock()
