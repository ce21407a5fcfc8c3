"""The trainer Job builder (every field) and reading Jobs and pods back."""

from __future__ import annotations

from typing import Any

import pytest

from loocv_operator.kube.jobs import (
    STEP_PLAN,
    STEP_REPORT,
    JobDefaults,
    JobOrder,
    build_job,
    build_step_job,
    fold_ranges,
    job_name,
    selector,
)
from loocv_operator.kube.observe import (
    FAILURE_DISRUPTED,
    FAILURE_ERROR,
    FAILURE_INVALID_INPUT,
    FINISHED_FAILED,
    FINISHED_SUCCEEDED,
    observe_job,
    observe_pod,
)
from loocv_operator.store import RunLocation

from .conftest import spec_of

PLAN = "s3://bucket/runs/team-a/iris-nb/0f9c/plan.json"


def job(run: RunLocation, defaults: JobDefaults, **spec: Any) -> dict[str, Any]:
    order = JobOrder(
        batch=3, attempt=1, failures_before=1, preemptions_before=2, folds=(75, 76, 77, 78, 80)
    )
    return build_job(run, spec_of(**spec), PLAN, order, defaults)


def container(body: dict[str, Any]) -> dict[str, Any]:
    containers = body["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def env(body: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(body)["env"]}


def test_names_are_deterministic_dns_labels_of_at_most_63_characters(run: RunLocation) -> None:
    assert job_name(run, 3, 1) == job_name(run, 3, 1)
    assert job_name(run, 3, 1) != job_name(run, 3, 2) != job_name(run, 4, 1)
    other = RunLocation(run.namespace, run.name, "another-uid")
    assert job_name(run, 3, 1) != job_name(other, 3, 1)  # a recreated run never collides
    long = RunLocation("ns", "a." * 120 + "b", run.uid)
    name = job_name(long, 123456, 99)
    assert len(name) <= 63 and name.endswith("-b123456-r99")
    assert all(c.isalnum() or c == "-" for c in name) and name[0].isalnum()
    # a report over part of the folds (a run its budget stopped) has a name of its own
    assert job_name(run, -1, 0, STEP_REPORT).endswith("-report")
    assert job_name(run, -1, 51, STEP_REPORT).endswith("-report-r51")


def test_identity_labels_annotations_and_owner(run: RunLocation, defaults: JobDefaults) -> None:
    body = job(run, defaults)
    meta = body["metadata"]
    assert body["apiVersion"] == "batch/v1" and body["kind"] == "Job"
    assert meta["name"] == job_name(run, 3, 1) and meta["namespace"] == "team-a"
    labels = meta["labels"]
    assert labels["loocv.dev/run"] == "iris-nb"
    assert labels["loocv.dev/run-uid"] == run.uid
    assert labels["loocv.dev/batch"] == "3" and labels["loocv.dev/attempt"] == "1"
    assert labels["app.kubernetes.io/managed-by"] == "loocv-operator"
    assert "kueue.x-k8s.io/queue-name" not in labels
    assert body["spec"]["template"]["metadata"]["labels"]["loocv.dev/run-uid"] == run.uid
    assert selector(run) == f"loocv.dev/run-uid={run.uid}"
    assert meta["annotations"] == {
        "loocv.dev/folds": "75-78,80",
        "loocv.dev/failures-before": "1",
        "loocv.dev/preemptions-before": "2",
    }
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "loocv.dev/v1alpha1",
            "kind": "LOOCVRun",
            "name": "iris-nb",
            "uid": run.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_the_trainer_runs_the_plan_batch_with_the_contracted_exit_codes(
    run: RunLocation, defaults: JobDefaults
) -> None:
    body = job(run, defaults, execution={"retries": 5, "ttlSecondsAfterFinished": 60})
    spec = body["spec"]
    assert spec["backoffLimit"] == 5
    assert spec["ttlSecondsAfterFinished"] == 60
    assert spec["completions"] == 1 and spec["parallelism"] == 1
    assert spec["suspend"] is False
    assert "activeDeadlineSeconds" not in spec
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    c = container(body)
    assert c["name"] == "trainer"
    assert c["command"] == ["loocv", "train"]
    assert c["args"] == ["--plan", PLAN, "--batch", "3", "--attempt", "1"]
    assert c["image"] == "registry.example/loocv-trainer:1.0"
    assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert spec["podFailurePolicy"] == {
        "rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            {
                "action": "FailJob",
                "onExitCodes": {"containerName": "trainer", "operator": "In", "values": [2]},
            },
            {  # an OOM kill (SIGKILL): the operator remediates it, not the Job's back-off
                "action": "FailJob",
                "onExitCodes": {"containerName": "trainer", "operator": "In", "values": [137]},
            },
        ]
    }


def test_pod_security(run: RunLocation, defaults: JobDefaults) -> None:
    pod = job(run, defaults)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container({"spec": {"template": {"spec": pod}}})["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}]
    assert pod["containers"][0]["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]


def test_environment_credentials_only_from_secrets(run: RunLocation, defaults: JobDefaults) -> None:
    body = job(
        run,
        defaults,
        storage={"secretRef": {"name": "team-s3"}, "region": "eu-west-1"},
        privacy={"hashSampleIds": True, "saltSecretRef": {"name": "ids", "key": "k"}},
    )
    values = env(body)
    assert values["AWS_ACCESS_KEY_ID"] == {
        "secretKeyRef": {"name": "team-s3", "key": "AWS_ACCESS_KEY_ID"}
    }
    assert values["AWS_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "team-s3", "key": "AWS_SECRET_ACCESS_KEY"}
    }
    assert values["AWS_SESSION_TOKEN"]["secretKeyRef"]["optional"] is True
    assert values["LOOCV_ID_SALT"] == {"secretKeyRef": {"name": "ids", "key": "k"}}
    assert values["LOOCV_S3_ENDPOINT"] == "http://minio:9000"
    assert values["AWS_REGION"] == "eu-west-1"
    assert values["LOOCV_ESTIMATOR_ALLOWLIST"] == "xgboost"
    assert values["HOME"] == values["TMPDIR"] == "/tmp"
    assert values["MPLCONFIGDIR"].startswith("/tmp/")
    plain = [e for e in container(body)["env"] if "value" in e]
    assert not any("SECRET" in e["name"] or "KEY" in e["name"] for e in plain)


def test_the_operator_default_secret_and_no_salt_without_hashing(
    run: RunLocation, defaults: JobDefaults
) -> None:
    values = env(job(run, defaults, storage={"endpoint": "http://other:9000"}))
    assert values["AWS_ACCESS_KEY_ID"]["secretKeyRef"]["name"] == "default-s3"
    assert values["LOOCV_S3_ENDPOINT"] == "http://other:9000"  # the run's endpoint wins
    assert "LOOCV_ID_SALT" not in values and "AWS_REGION" not in values
    bare = JobDefaults(image="img")
    assert "AWS_ACCESS_KEY_ID" not in env(job(run, bare))


MLFLOW = {"mlflow": {"trackingUri": "http://mlflow:5000", "secretRef": {"name": "team-mlflow"}}}


def test_only_the_report_pod_gets_the_runs_mlflow_credentials(
    run: RunLocation, defaults: JobDefaults
) -> None:
    """The report pod logs the run to MLflow: it alone gets the Secret's keys, each optional
    (a token, or a username and password); planner and trainer pods never do."""
    spec = spec_of(tracking=MLFLOW)
    report = env(build_step_job(run, spec, STEP_REPORT, PLAN, defaults))
    for key in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        assert report[key] == {
            "secretKeyRef": {"name": "team-mlflow", "key": key, "optional": True}
        }
    planner = env(build_step_job(run, spec, STEP_PLAN, PLAN, defaults))
    trainer = env(job(run, defaults, tracking=MLFLOW))
    assert not any(k.startswith("MLFLOW_") for k in (*planner, *trainer))


def test_the_operators_default_mlflow_secret_only_for_runs_that_log_to_mlflow(
    run: RunLocation,
) -> None:
    defaults = JobDefaults(image="img", mlflow_secret="ops-mlflow")
    logging_run = spec_of(tracking={"mlflow": {"trackingUri": "http://mlflow:5000"}})
    report = env(build_step_job(run, logging_run, STEP_REPORT, PLAN, defaults))
    assert report["MLFLOW_TRACKING_TOKEN"]["secretKeyRef"]["name"] == "ops-mlflow"
    named = env(build_step_job(run, spec_of(tracking=MLFLOW), STEP_REPORT, PLAN, defaults))
    assert named["MLFLOW_TRACKING_TOKEN"]["secretKeyRef"]["name"] == "team-mlflow"  # the run's
    quiet = env(build_step_job(run, spec_of(), STEP_REPORT, PLAN, defaults))
    assert not any(k.startswith("MLFLOW_") for k in quiet)


def test_scheduling_fields(run: RunLocation, defaults: JobDefaults) -> None:
    body = job(
        run,
        defaults,
        execution={
            "image": "mine:2",
            "resources": {"requests": {"cpu": 1, "memory": "1Gi"}, "limits": {"nvidia.com/gpu": 1}},
            "nodeSelector": {"pool": "cpu"},
            "tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}],
            "priorityClassName": "batch-low",
            "activeDeadlineSeconds": 600,
        },
    )
    pod = body["spec"]["template"]["spec"]
    assert container(body)["image"] == "mine:2"
    assert container(body)["resources"] == {
        "requests": {"cpu": 1, "memory": "1Gi"},
        "limits": {"nvidia.com/gpu": 1},
    }
    assert pod["nodeSelector"] == {"pool": "cpu"}
    assert pod["tolerations"] == [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["priorityClassName"] == "batch-low"
    assert body["spec"]["activeDeadlineSeconds"] == 600
    plain = job(run, defaults)["spec"]["template"]["spec"]
    assert not {"nodeSelector", "tolerations", "priorityClassName"} & set(plain)
    assert "resources" not in container(job(run, defaults))


def test_kueue_jobs_carry_the_queue_label_and_start_suspended(
    run: RunLocation, defaults: JobDefaults
) -> None:
    body = job(run, defaults, execution={"queueName": "team-queue"})
    assert body["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-queue"
    assert body["spec"]["suspend"] is True  # Kueue admits by unsuspending
    suspended = build_job(run, spec_of(), PLAN, JobOrder(0), defaults, suspend=True)
    assert suspended["spec"]["suspend"] is True


def test_fold_ranges() -> None:
    assert fold_ranges([]) == ""
    assert fold_ranges([5]) == "5"
    assert fold_ranges([3, 1, 2, 7, 9, 8]) == "1-3,7-9"


def _job(conditions: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "j",
            "labels": {"loocv.dev/batch": "4", "loocv.dev/attempt": "2"},
            "annotations": {"loocv.dev/failures-before": "1", "loocv.dev/preemptions-before": "3"},
        },
        "spec": {"suspend": extra.get("suspend", False)},
        "status": {"conditions": conditions},
    }


@pytest.mark.parametrize(
    ("conditions", "finished", "failure"),
    [
        ([], None, None),
        ([{"type": "Suspended", "status": "True"}], None, None),
        ([{"type": "Complete", "status": "True"}], FINISHED_SUCCEEDED, None),
        (
            [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }
            ],
            FINISHED_FAILED,
            FAILURE_ERROR,
        ),
        (
            [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "PodFailurePolicy",
                    "message": "Container trainer for pod x failed with exit code 2 "
                    "matching FailJob rule at index 1",
                }
            ],
            FINISHED_FAILED,
            FAILURE_INVALID_INPUT,
        ),
        (
            [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "PodFailurePolicy",
                    "message": "Container trainer for pod x failed with exit code 137 "
                    "matching FailJob rule at index 2",
                }
            ],
            FINISHED_FAILED,
            FAILURE_ERROR,
        ),
        (
            [{"type": "Failed", "status": "True", "reason": "DisruptionTarget"}],
            FINISHED_FAILED,
            FAILURE_DISRUPTED,
        ),
        ([{"type": "Failed", "status": "False"}], None, None),
    ],
    ids=[
        "running",
        "suspended",
        "complete",
        "backoff",
        "invalid-input",
        "killed",
        "disrupted",
        "not-failed",
    ],
)
def test_observe_job(
    conditions: list[dict[str, str]], finished: str | None, failure: str | None
) -> None:
    seen = observe_job(_job(conditions))
    assert seen is not None
    assert (seen.batch, seen.attempt) == (4, 2)
    assert (seen.failures_before, seen.preemptions_before) == (1, 3)
    assert seen.finished == finished and seen.failure == failure


def test_observe_job_ignores_foreign_jobs() -> None:
    assert observe_job({"metadata": {"name": "x", "labels": {"app": "other"}}}) is None
    assert (
        observe_job({"metadata": {"labels": {"loocv.dev/batch": "x", "loocv.dev/attempt": "0"}}})
        is None
    )


def test_observe_pod() -> None:
    preempted = observe_pod(
        {
            "metadata": {"name": "p", "labels": {"loocv.dev/batch": "1"}},
            "status": {
                "phase": "Failed",
                "conditions": [{"type": "DisruptionTarget", "status": "True"}],
            },
        }
    )
    assert preempted is not None and preempted.disrupted and preempted.waiting is None
    stuck = observe_pod(
        {
            "metadata": {"name": "q", "labels": {"loocv.dev/batch": "2"}},
            "status": {
                "containerStatuses": [
                    {
                        "state": {
                            "waiting": {
                                "reason": "CreateContainerConfigError",
                                "message": 'secret "s3" not found',
                            }
                        }
                    }
                ]
            },
        }
    )
    assert stuck is not None and not stuck.disrupted
    assert stuck.waiting == 'CreateContainerConfigError: secret "s3" not found'
    assert observe_pod({"metadata": {"name": "r", "labels": {}}}) is None


def test_observe_unschedulable_pod() -> None:
    message = "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
    pod = observe_pod(
        {
            "metadata": {"name": "p", "labels": {"loocv.dev/batch": "0"}},
            "status": {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": message,
                    }
                ],
            },
        }
    )
    assert pod is not None and pod.unschedulable == message


def test_default_resources_fill_only_what_the_manifest_leaves_out(run: RunLocation) -> None:
    """Never BestEffort: the operator's defaults apply per resource the manifest names no
    request and no limit for (a manifest's big request never meets a smaller default limit)."""
    defaults = JobDefaults(
        image="img",
        default_requests=(("cpu", "500m"), ("memory", "512Mi")),
        default_limits=(("memory", "2Gi"),),
    )
    assert container(job(run, defaults))["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"memory": "2Gi"},
    }
    mine = job(run, defaults, execution={"resources": {"requests": {"memory": "4Gi"}}})
    assert container(mine)["resources"] == {"requests": {"memory": "4Gi", "cpu": "500m"}}
    gpu = job(run, defaults, execution={"resources": {"limits": {"nvidia.com/gpu": 1}}})
    assert container(gpu)["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"nvidia.com/gpu": 1, "memory": "2Gi"},
    }
    unset = JobDefaults(image="img", default_requests=(("cpu", ""),))
    assert "resources" not in container(job(run, unset))


def test_the_operators_addressing_style_reaches_the_trainers(run: RunLocation) -> None:
    """A virtual-host-only store (the operator's LOOCV_S3_ADDRESSING_STYLE) must be addressed
    the same way by every trainer pod; without the setting, pods keep the default (path)."""
    styled = JobDefaults(image="img", s3_addressing_style="virtual")
    assert env(job(run, styled))["LOOCV_S3_ADDRESSING_STYLE"] == "virtual"
    assert "LOOCV_S3_ADDRESSING_STYLE" not in env(job(run, JobDefaults(image="img")))


@pytest.mark.parametrize("step", [STEP_PLAN, STEP_REPORT])
def test_planner_and_report_pods_never_hold_the_trainers_gpus(
    run: RunLocation, defaults: JobDefaults, step: str
) -> None:
    """A run asking for more GPUs than the cluster has must show its trainers Unschedulable,
    not a planner stuck Pending; and a report pod must not keep a GPU from a retry."""
    resources = {
        "requests": {"cpu": "2", "memory": "3Gi", "nvidia.com/gpu": 1},
        "limits": {"memory": "4Gi", "nvidia.com/gpu": 1},
    }
    spec = spec_of(execution={"resources": resources})
    body = build_step_job(run, spec, step, "s3://b/x.json", defaults)
    assert container(body)["resources"] == {
        "requests": {"cpu": "2", "memory": "3Gi"},
        "limits": {"memory": "4Gi"},
    }
    trainer = job(run, defaults, execution={"resources": resources})
    assert container(trainer)["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_raised_memory_replaces_the_memory_request_and_limit_only(run: RunLocation) -> None:
    """After an OOM kill the run's Jobs get the raised memory as request and limit (the pod
    is known to need more than the old limit); other resources stay as they were."""
    defaults = JobDefaults(
        image="img",
        default_requests=(("cpu", "500m"), ("memory", "512Mi")),
        default_limits=(("memory", "2Gi"),),
    )
    order = JobOrder(batch=3, attempt=2, folds=(1, 2))
    spec = spec_of(execution={"resources": {"limits": {"nvidia.com/gpu": 1}}})
    body = build_job(run, spec, PLAN, order, defaults, memory="4096Mi")
    assert container(body)["resources"] == {
        "requests": {"cpu": "500m", "memory": "4096Mi"},
        "limits": {"nvidia.com/gpu": 1, "memory": "4096Mi"},
    }
    seen = observe_job(body)
    assert seen is not None and seen.memory_limit == "4096Mi"
    plain = observe_job(build_job(run, spec_of(), PLAN, order, JobDefaults(image="img")))
    assert plain is not None and plain.memory_limit is None


def test_observe_pod_reads_the_attempt_and_the_memory_limit_it_had() -> None:
    pod = observe_pod(
        {
            "metadata": {"name": "p", "labels": {"loocv.dev/batch": "2", "loocv.dev/attempt": "1"}},
            "spec": {
                "containers": [{"name": "trainer", "resources": {"limits": {"memory": "1Gi"}}}]
            },
            "status": {
                "containerStatuses": [
                    {"state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}
                ]
            },
        }
    )
    assert pod is not None
    assert (pod.batch, pod.attempt, pod.memory_limit) == (2, 1, "1Gi")
    assert pod.terminated == ("OOMKilled", 137, "")
