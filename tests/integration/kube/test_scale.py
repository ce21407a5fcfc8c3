"""1,000 folds: the window holds and the status is patched once per interval, not per event."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable

import boto3
import numpy as np
import pytest
from kubernetes import client as k8s

from .apiserver import Cluster
from .conftest import (
    OperatorProcess,
    create_run,
    job_creations,
    manifest,
    max_active_jobs,
    status_patches,
    wait_condition,
)
from .jobcontroller import JobController

pytestmark = pytest.mark.integration
INTERVAL = 2.0


def synthetic_npz() -> bytes:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 4))
    y = (X[:, 0] + 0.5 * rng.normal(size=1000) > 0).astype(np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, X=X, y=y)
    return buffer.getvalue()


def test_a_thousand_folds_keep_the_window_and_a_bounded_status_patch_rate(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    namespace: str,
    s3_bucket: str,
    s3_env: str,
) -> None:
    bucket = s3_bucket.removeprefix("s3://")
    boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1").put_object(
        Bucket=bucket, Key="data/synthetic.npz", Body=synthetic_npz()
    )
    spec = {
        "dataset": {"uri": f"{s3_bucket}/data/synthetic.npz"},
        "model": {"estimator": "sklearn.dummy.DummyClassifier"},
        "execution": {"foldsPerJob": 200, "maxConcurrentJobs": 2},
    }
    process = operator(interval=INTERVAL)
    create_run(api, manifest("thousand", namespace, spec))
    run = wait_condition(api, namespace, "thousand", "Complete", process, timeout=300)
    status = run["status"]

    assert status["folds"]["done"] == status["folds"]["succeeded"] == 1000
    assert len(json.dumps(status)) < 8000  # small whatever the fold count
    assert len(status["worstSamples"]) <= 10

    log = cluster.log
    made = [e for e in job_creations(log, namespace) if e.status == 201]
    assert len(made) == 5
    assert max_active_jobs(log, namespace) <= 2

    patches = status_patches(log, namespace, "thousand")
    duration = patches[-1].time - patches[0].time
    # one per interval, plus the few condition transitions (planning, running, finished)
    assert len(patches) <= duration / INTERVAL + 6, (len(patches), duration)
    gaps = [later.time - earlier.time for earlier, later in itertools.pairwise(patches)]
    # Only condition transitions (planning -> running -> complete) skip the interval; the
    # 1,000 folds and every Job status change wait for the next interval.
    assert sum(1 for gap in gaps if gap < 0.9 * INTERVAL) <= 3, gaps
