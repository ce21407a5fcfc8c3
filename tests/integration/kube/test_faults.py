"""Preemption is not a failure; a real failure is resubmitted, then given up on."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kubernetes import client as k8s

from loocv_operator.ledger import load_results
from loocv_operator.store import RunLocation, open_store

from .apiserver import Cluster
from .conftest import (
    OperatorProcess,
    condition,
    create_run,
    events,
    job_creations,
    manifest,
    max_active_jobs,
    wait_condition,
    wait_for,
)
from .jobcontroller import Fault, JobController

pytestmark = pytest.mark.integration
UNIQUE_ROWS = [13, 14, 15, 22, 23, 32, 33, 41, 43, 48, 50, 60, 64, 80, 81, 98, 102, 105, 107]
UNIQUE_ROWS += [118, 130, 131]


def small_spec(**execution: object) -> dict[str, object]:
    """Ten iris folds in two batches of five: two trainer processes at most."""
    return {
        "dataset": {"builtin": "iris"},
        "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
        "strategy": {"subset": {"indices": [0, 10, 20, 50, 60, 70, 100, 110, 120, 130]}},
        "execution": {"foldsPerJob": 5, "maxConcurrentJobs": 2, "retries": 1, **execution},
        "storage": {"deleteOnDelete": True},
    }


def test_a_preempted_pod_is_resubmitted_at_once_without_counting_as_a_failure(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    faults: dict[int, Fault],
    namespace: str,
    s3_prefix: str,
) -> None:
    """The Job's podFailurePolicy ignores the preempted pod, but its controller would wait
    its backoff (10 s here, as the real one: kubernetes#130881) before a new pod: the operator
    resubmits the batch as a new Job at once and deletes the old one."""
    faults[0] = Fault(preempt=1)  # the first pod of batch 0 is preempted (DisruptionTarget)
    process = operator()
    created = create_run(api, manifest("preempted", namespace, small_spec()))
    run = wait_condition(api, namespace, "preempted", "Complete", process)
    status = run["status"]

    assert status["folds"]["succeeded"] == 10 and status["folds"]["failed"] == 0
    assert status["jobs"]["preempted"] == 1
    assert status["jobs"]["retried"] == 0 and status["jobs"]["failed"] == 0
    assert condition(run, "ResultsIncomplete")["status"] == "False"  # type: ignore[index]
    creations = [e for e in job_creations(cluster.log, namespace) if e.status == 201]
    names = [e.name for e in creations]
    assert len(names) == len(set(names)) == 3
    (first,) = [n for n in names if n and n.endswith("-b0-r0")]
    (retry,) = [e for e in creations if e.name and e.name.endswith("-b0-r1")]
    annotations = retry.data["metadata"]["annotations"]
    assert annotations["loocv.dev/preemptions-before"] == "1"
    assert annotations["loocv.dev/failures-before"] == "0"
    deletes = [
        e
        for e in cluster.log
        if e.resource == "jobs" and e.action == "DELETE" and e.namespace == namespace
    ]
    assert [e.name for e in deletes] == [first] and deletes[0].time > retry.time
    assert controller.records[(namespace, first)].pods == 1  # no pod after its backoff
    # The disrupted pod's end to the new Job: well inside the Job controller's backoff.
    ended = controller.records[(namespace, first)].not_before - controller.ignored_backoff
    assert retry.time - ended < controller.ignored_backoff / 2, retry.time - ended
    (event,) = [e for e in events(cluster.log, namespace) if e["reason"] == "Resubmitted"]
    assert f"{first}-0" in event["message"] and "backoff" in event["message"]

    # Deleting a run with deleteOnDelete removes its results (the finalizer's job).
    location = RunLocation(namespace, "preempted", created["metadata"]["uid"])
    store = open_store(s3_prefix)
    assert store.list(location.prefix)
    k8s.CustomObjectsApi(api).delete_namespaced_custom_object(
        "loocv.dev", "v1alpha1", namespace, "loocvruns", "preempted"
    )

    def gone() -> bool:
        try:
            k8s.CustomObjectsApi(api).get_namespaced_custom_object(
                "loocv.dev", "v1alpha1", namespace, "loocvruns", "preempted"
            )
        except k8s.ApiException as exc:
            return exc.status == 404
        return False

    wait_for("the run to be deleted", gone, 30, process)
    assert store.list(location.prefix) == []


def test_a_failing_job_is_resubmitted_then_given_up_with_results_incomplete(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    faults: dict[int, Fault],
    namespace: str,
    s3_prefix: str,
) -> None:
    faults[1] = Fault(kill=True)  # every pod of batch 1 is killed (exit 137, e.g. OOM)
    process = operator()  # --max-resubmits 1
    created = create_run(api, manifest("flaky", namespace, small_spec()))
    run = wait_condition(api, namespace, "flaky", "Complete", process)
    status = run["status"]

    assert status["phase"] == "Succeeded"  # batch 0 succeeded: the run has results
    assert condition(run, "ResultsIncomplete")["status"] == "True"  # type: ignore[index]
    # the given-up folds were never computed: missing, not failed, and named as such
    assert status["folds"] == {
        "total": 10,
        "done": 5,
        "succeeded": 5,
        "failed": 0,
        "running": 0,
        "missing": 5,
    }
    assert condition(run, "ResultsIncomplete")["reason"] == "FoldsMissing"  # type: ignore[index]
    assert status["jobs"]["retried"] == 1 and status["jobs"]["givenUp"] == 1
    names = sorted(e.name for e in job_creations(cluster.log, namespace) if e.status == 201)
    assert [n.rsplit("-", 2)[-2:] for n in names] == [["b0", "r0"], ["b1", "r0"], ["b1", "r1"]]
    # exit 137 (SIGKILL) fails the Job at once (podFailurePolicy FailJob), whatever its
    # backoffLimit: one pod per attempt of batch 1, the operator resubmitting
    batch1 = [r for (ns, n), r in controller.records.items() if ns == namespace and "-b1-" in n]
    assert [r.pods for r in batch1] == [1, 1]

    location = RunLocation(namespace, "flaky", created["metadata"]["uid"])
    results = load_results(open_store(s3_prefix), location)
    failed = [r for r in results if r.error is not None]
    assert [r.index for r in failed] == [5, 6, 7, 8, 9]
    assert {r.error.type for r in failed if r.error} == {"RetriesExhausted"}
    assert [s.row for r in failed for s in r.samples] == [70, 100, 110, 120, 130]
    # the final Events follow the final status write: on a loaded machine, a moment later
    wait_for(
        "the Resubmitted, BatchGivenUp and ResultsIncomplete Events",
        lambda: (
            {"Resubmitted", "BatchGivenUp", "ResultsIncomplete"}
            <= {e["reason"] for e in events(cluster.log, namespace)}
        ),
        30,
        process,
    )
    assert max_active_jobs(cluster.log, namespace) <= 2


def test_an_oom_killed_batch_is_resubmitted_with_more_memory_and_completes(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    faults: dict[int, Fault],
    namespace: str,
    s3_prefix: str,
) -> None:
    """Batch 1 needs more than 256Mi: its pod is OOM-killed (reason OOMKilled, 137); the
    operator raises the run's memory to 512Mi (twice, under its 1Gi cap) and resubmits it
    without counting a failure; the run completes with every fold, and says so."""
    faults[1] = Fault(oom_below=300 * 2**20)
    process = operator("--trainer-memory-cap", "1Gi")
    spec = small_spec(resources={"limits": {"memory": "256Mi"}})
    created = create_run(api, manifest("hungry", namespace, spec))
    run = wait_condition(api, namespace, "hungry", "Complete", process, timeout=240)
    status = run["status"]

    assert status["folds"]["succeeded"] == 10 and status["folds"]["failed"] == 0
    assert status["jobs"]["retried"] == 0 and status["jobs"]["givenUp"] == 0
    assert status["oom"] == {
        "killed": 1,
        "memory": "512Mi",
        "splits": 0,
        "failedFolds": 0,
        "message": "1 OOM-killed pods; memory raised to 512Mi",
    }
    names = sorted(e.name for e in job_creations(cluster.log, namespace) if e.status == 201)
    assert [n.rsplit("-", 2)[-2:] for n in names] == [["b0", "r0"], ["b1", "r0"], ["b1", "r1"]]
    retry = k8s.BatchV1Api(api).read_namespaced_job(names[-1], namespace)
    resources = retry.spec.template.spec.containers[0].resources
    assert resources.limits["memory"] == resources.requests["memory"] == "512Mi"
    said = {e["reason"]: e["message"] for e in events(cluster.log, namespace)}
    assert "OOM-killed at 256Mi" in said["MemoryRaised"], said
    assert "memory limit of 256Mi" in said["OOMKilled"], said
    location = RunLocation(namespace, "hungry", created["metadata"]["uid"])
    plan = open_store(s3_prefix).get(location.plan)
    assert b'"oom"' in plan and b'"memory":"512Mi"' in plan


def test_the_trainers_invalid_input_exit_code_is_not_retried_and_fails_the_run(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    faults: dict[int, Fault],
    namespace: str,
) -> None:
    faults[0] = Fault(exit_code=2)
    faults[1] = Fault(exit_code=2)
    process = operator()
    create_run(api, manifest("bad-data", namespace, small_spec(maxConcurrentJobs=1)))
    run = wait_condition(api, namespace, "bad-data", "Failed", process)

    assert run["status"]["phase"] == "Failed"
    assert condition(run, "Failed")["reason"] == "TrainerInvalidInput"  # type: ignore[index]
    names = [e.name for e in job_creations(cluster.log, namespace) if e.status == 201]
    assert len(names) == 1  # FailJob at once; batch 1 never started, nothing resubmitted
    # no fold was computed: all ten are missing, recorded with the trainer's reason
    assert run["status"]["folds"]["failed"] == 0 and run["status"]["folds"]["missing"] == 10


def test_folds_failing_alike_stop_the_run_after_the_first_job(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    namespace: str,
) -> None:
    """An error only the folds reveal (the planner's trial fit on all samples passes): each
    held-out row has a value no training fold has seen, so every fold's one-hot encoding
    fails alike; after the first Job no more Jobs are created, and the run fails with that
    error once."""
    process = operator()
    spec = {
        "dataset": {"builtin": "iris"},
        "model": {
            "estimator": "sklearn.linear_model.LogisticRegression",
            "preprocessing": [{"estimator": "sklearn.preprocessing.OneHotEncoder"}],
        },
        # the 22 rows with a value found in no other row, in some column
        "strategy": {"subset": {"indices": UNIQUE_ROWS}},
        "execution": {"foldsPerJob": 10, "maxConcurrentJobs": 1, "retries": 0},
    }
    create_run(api, manifest("alike", namespace, spec))
    run = wait_condition(api, namespace, "alike", "Failed", process)
    failed = condition(run, "Failed")
    assert failed is not None and failed["reason"] == "FoldsFailAlike", failed
    assert "the first 10 folds all failed with the same error" in failed["message"]
    assert "unknown categor" in failed["message"]
    names = [e.name for e in job_creations(cluster.log, namespace) if e.status == 201]
    assert len(names) == 1  # one trainer Job, not three
    folds = run["status"]["folds"]
    assert (folds["done"], folds["failed"], folds["missing"]) == (10, 10, 12)


def test_a_setting_only_a_fit_reveals_is_refused_by_the_planners_trial_fit(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    namespace: str,
) -> None:
    """penalty l1 with solver lbfgs: the planner Job's one fit on all samples finds it and
    names the parameter; no trainer Job is created."""
    process = operator()
    spec = {
        "dataset": {"builtin": "iris"},
        "model": {
            "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"penalty": "l1", "solver": "lbfgs"},
        },
    }
    create_run(api, manifest("l1", namespace, spec))
    run = wait_condition(api, namespace, "l1", "Invalid", process)
    invalid = condition(run, "Invalid")
    assert invalid is not None and invalid["message"].startswith("spec.model.params.penalty: ")
    assert "found by a trial fit" in invalid["message"]
    assert not job_creations(cluster.log, namespace)  # no trainer Job


def test_a_continuous_target_for_a_classifier_is_marked_invalid(
    api: k8s.ApiClient,
    cluster: Cluster,
    operator: Callable[..., OperatorProcess],
    controller: JobController,
    namespace: str,
) -> None:
    process = operator()
    spec = {
        "dataset": {"builtin": "diabetes"},
        "model": {"estimator": "sklearn.linear_model.LogisticRegression"},
    }
    create_run(api, manifest("continuous", namespace, spec))
    run = wait_condition(api, namespace, "continuous", "Invalid", process)
    invalid = condition(run, "Invalid")
    assert invalid is not None and "spec.dataset" in invalid["message"]
    assert "looks continuous" in invalid["message"]
    assert not [e for e in job_creations(cluster.log, namespace) if e.status == 201]  # trainers
    (planner,) = job_creations(cluster.log, namespace, None)  # the planner found it
    assert (planner.name or "").endswith("-plan")
