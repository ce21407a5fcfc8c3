"""A run the operator cannot start ends Invalid, with the field named; no Job is made."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from kubernetes import client as k8s

from .apiserver import Cluster
from .conftest import (
    OperatorProcess,
    condition,
    create_run,
    job_creations,
    manifest,
    wait_condition,
)
from .jobcontroller import JobController

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("spec", "field", "planned"),
    [
        (
            {"dataset": {"builtin": "iris"}, "model": {"estimator": "subprocess.Popen"}},
            "spec.model.estimator",
            False,  # refused by the operator itself (a string check), no Job at all
        ),
        (
            {
                "dataset": {"builtin": "iris"},
                "model": {"estimator": "sklearn.svm.SVC", "params": {"C": -1}},
            },
            "spec.model.params.C",
            True,  # found by the planner Job (building the estimator), no trainer Job
        ),
        (
            {
                "dataset": {"builtin": "diabetes"},
                "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
            },
            "spec.dataset",  # a classifier on a continuous target: only the data tell
            True,
        ),
        (
            {
                "dataset": {"builtin": "iris"},
                "model": {"estimator": "sklearn.svm.SVC"},
                "privacy": {"hashSampleIds": True},
            },
            "spec.privacy.saltSecretRef",
            False,
        ),
    ],
    ids=["estimator-not-allowed", "bad-parameter", "continuous-target", "salt-without-secret"],
)
def test_an_invalid_run_ends_invalid_naming_the_field(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    namespace: str,
    controller: JobController,
    spec: dict[str, object],
    field: str,
    planned: bool,
) -> None:
    process = operator()
    create_run(api, manifest("bad", namespace, spec))
    run = wait_condition(api, namespace, "bad", "Invalid", process)

    invalid = condition(run, "Invalid")
    assert invalid is not None and invalid["message"].startswith(f"{field}: "), invalid
    assert invalid["observedGeneration"] == 1
    assert condition(run, "Failed")["status"] == "True"  # type: ignore[index]
    assert run["status"]["phase"] == "Failed"
    created = [
        (e.data or {})["metadata"]["name"] for e in job_creations(cluster.log, namespace, None)
    ]
    assert len(created) == (1 if planned else 0), created  # the planner Job alone, if any
    assert all(name.endswith("-plan") for name in created), created
    assert process.process is not None and process.process.poll() is None  # no crash


def test_a_malformed_run_is_refused_at_admission_by_the_crd_schema(
    api: k8s.ApiClient, namespace: str
) -> None:
    document = manifest(
        "typo",
        namespace,
        {
            "dataset": {"builtin": "iris"},
            "model": {"estimator": "sklearn.svm.SVC"},
            "gate": {"acuracy": {"min": 0.9}},
        },
    )
    with pytest.raises(k8s.ApiException) as refused:
        create_run(api, document)
    assert refused.value.status == 422
    assert "acuracy" in json.loads(refused.value.body)["message"]
