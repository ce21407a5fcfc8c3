"""The operator's scenarios on a real node: real containers from our images, a real kubelet.

Why: the shim ignores images and runs pods as host processes; here the operator runs as a
pod from its image (`helm install` of our chart) and every trainer pod runs from the trainer
image under containerd + runc + kubelet (``cluster/realnode.py``), inside the private
namespace of ``tests/e2e/node/isolated.sh``. The scenarios of test_operator.py run again
here unchanged (they are imported), with these fixtures in place of the shim's; the tests
below are what only a real node can show.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_operator
from cluster import Cluster
from cluster.realnode import container_pid
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from test_operator import (  # noqa: F401  (fixtures and scenarios, collected here again)
    CREDENTIALS,
    S3Server,
    apply,
    get_run,
    manifest,
    pods_of,
    slow_run,
    stored_results,
    test_admission_rejects_invalid_manifests,
    test_apply_runs_to_complete_like_the_local_run,
    test_deleting_a_run_garbage_collects_its_jobs_and_keeps_results,
    test_gpu_batches_land_on_gpu_nodes,
    test_immutable_spec_is_refused_but_concurrency_may_change,
    test_operator_killed_mid_run_resumes_without_duplicates,
    test_poisoned_sample_fails_one_fold_and_the_gate,
    test_preempted_pods_are_retried_not_counted,
    test_store_outage_is_ridden_out,
    test_suspend_and_resume,
    wait_condition,
    wait_running_pod,
)

from loocv_operator import __version__

# test_operator's fixtures, visible here by name (the bucket per test, the CRD, credentials).
bucket = test_operator.bucket
crd = test_operator.crd
store_credentials = test_operator.store_credentials

pytestmark = [pytest.mark.e2e, pytest.mark.realnode, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "loocv-operator"
TRAINER_IMAGE = f"ghcr.io/loocv-dev/loocv-trainer:{__version__}"
OPERATOR_IMAGE = f"ghcr.io/loocv-dev/loocv-operator:{__version__}"


@pytest.fixture(scope="module")
def control_plane(real_cluster: Cluster) -> Cluster:
    """Every test here (and every fixture it uses) gets the real-node cluster."""
    return real_cluster


@pytest.fixture(autouse=True)
def _real_trainer_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(test_operator, "TRAINER_IMAGE", TRAINER_IMAGE)


@pytest.fixture(scope="module")
def s3(control_plane: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """The real S3 server on every address of the private namespace: pods reach it at the
    node address, through the bridge (and the outage scenario stops and restarts it)."""
    assert control_plane.real_node is not None
    server = S3Server(
        tmp_path_factory.mktemp("s3"),
        bind="0.0.0.0",
        host=control_plane.real_node.ip,
        access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    ).start()
    yield server
    server.stop()


def _helm() -> Path:
    from tests.chart.helmbin import ensure_helm

    return ensure_helm()


class HelmOperator:
    """The operator as the chart's Deployment, from the operator image, in a release namespace
    of its own (the test's namespace holds only the run's pods), watching the test's
    namespace; ``kill()`` SIGKILLs its container from outside (a crash: kubelet restarts it)."""

    def __init__(
        self,
        cluster: Cluster,
        watched: str,
        bucket: str,
        endpoint: str,
        values: dict[str, Any] | None = None,
    ) -> None:
        self.cluster = cluster
        self.namespace = cluster.create_namespace(f"{watched[:50]}-op")
        self.name = f"op-{uuid.uuid4().hex[:5]}"
        self.core = k8s.CoreV1Api(cluster.api_client)
        home = cluster.control_plane.workdir / "helm" / self.name
        home.mkdir(parents=True)
        self.env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }
        self.values = home / "values.json"
        self.values.write_text(
            json.dumps(
                {
                    "watchNamespaces": [watched],
                    "storage": {
                        "uri": f"s3://{bucket}/results/",
                        "endpoint": endpoint,
                        "secretName": "s3-creds",
                    },
                    "operator": {
                        "logFormat": "plain",
                        "statusInterval": 1,
                        "workers": 2,
                        "extraEnv": [{"name": "LOOCV_STORE_RETRY_SECONDS", "value": "120"}],
                    },
                    "resources": {"requests": {"cpu": "50m", "memory": "256Mi"}},
                    **(values or {}),  # a test's own chart values (top-level keys)
                }
            )
        )

    def helm(self, *args: str) -> None:
        done = subprocess.run(
            [str(_helm()), *args], env=self.env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"helm {args}: {done.stdout}\n{done.stderr}"

    def start(self) -> None:
        """Installed once; after kill() the kubelet restarts the container: wait for it."""
        if not hasattr(self, "_installed"):
            self._installed = True
            self.helm(
                "install", self.name, str(CHART), "-n", self.namespace,
                "--values", str(self.values), "--wait", "--timeout", "3m",
            )  # fmt: skip
        self.cluster.wait_for(self._ready, 120, what="operator pod Ready")

    def pod(self) -> dict[str, Any]:
        pods = self.core.list_namespaced_pod(
            self.namespace, label_selector=f"app.kubernetes.io/instance={self.name}"
        ).items
        assert len(pods) == 1, [p.metadata.name for p in pods]
        result: dict[str, Any] = self.core.api_client.sanitize_for_serialization(pods[0])
        return result

    def _ready(self) -> bool:
        statuses = self.pod().get("status", {}).get("containerStatuses") or []
        return bool(statuses) and all(s.get("ready") for s in statuses)

    def kill(self) -> None:
        status = self.pod()["status"]["containerStatuses"][0]
        os.kill(container_pid(status["containerID"]), signal.SIGKILL)
        self.cluster.wait_for(
            lambda: (
                (self.pod()["status"]["containerStatuses"][0].get("restartCount") or 0)
                > (status.get("restartCount") or 0)
            ),
            60,
            what="the operator container restarted",
        )

    def stop(self) -> None:
        self.helm("uninstall", self.name, "-n", self.namespace, "--wait")
        self.core.delete_namespace(self.namespace)

    def output(self) -> str:
        pod = self.pod()["metadata"]["name"]
        out = self.cluster.run_kubectl("logs", "-n", self.namespace, pod, check=False)
        return (out.stdout + out.stderr)[-6000:]


@pytest.fixture
def operator(
    control_plane: Cluster, crd: None, namespace: str, bucket: str, s3: S3Server
) -> Iterator[HelmOperator]:
    yield from _operator(control_plane, namespace, bucket, s3)


def _operator(
    control_plane: Cluster,
    namespace: str,
    bucket: str,
    s3: S3Server,
    values: dict[str, Any] | None = None,
) -> Iterator[HelmOperator]:
    handle = HelmOperator(control_plane, namespace, bucket, s3.endpoint, values)
    for where in (namespace, handle.namespace):  # trainer pods', and the operator's own
        k8s.CoreV1Api(control_plane.api_client).create_namespaced_secret(
            where, {"metadata": {"name": "s3-creds"}, "stringData": CREDENTIALS}
        )
    handle.start()
    spec = handle.pod()["spec"]["containers"][0]
    assert spec["image"] == OPERATOR_IMAGE
    yield handle
    print(f"--- operator log ({namespace}) ---\n{handle.output()}")
    handle.stop()


# ------------------------------------------------------------ what only a real node shows


def _exec(cluster: Cluster, namespace: str, pod: str, script: str) -> str:
    done = cluster.run_kubectl("exec", "-n", namespace, pod, "--", "sh", "-c", script, check=False)
    return done.stdout + done.stderr


def test_trainer_pods_run_from_the_image_non_root_read_only_without_token(
    control_plane: Cluster, operator: HelmOperator, namespace: str
) -> None:
    """From inside a running trainer pod: uid 10001, `/` read-only, no service-account token,
    no capabilities; afterwards `kubectl logs` of a trainer pod shows its batch summary."""
    apply(control_plane, namespace, slow_run("inside"))
    pod = wait_running_pod(control_plane, namespace)
    spec = k8s.CoreV1Api(control_plane.api_client).read_namespaced_pod(pod, namespace).spec
    assert spec.containers[0].image == TRAINER_IMAGE
    assert spec.node_name == control_plane.real_node.name  # type: ignore[union-attr]
    out = _exec(
        control_plane,
        namespace,
        pod,
        "id -u; id -g; (touch /x 2>/dev/null && echo root-writable) || echo root-read-only; "
        "ls /var/run/secrets/kubernetes.io 2>/dev/null || echo no-token; "
        "grep -E '^(Cap(Eff|Prm|Bnd)|Seccomp):' /proc/1/status",
    )
    lines = out.split()
    assert lines[:4] == ["10001", "10001", "root-read-only", "no-token"], out
    for cap in ("CapEff:", "CapPrm:", "CapBnd:"):
        assert lines[lines.index(cap) + 1] == "0000000000000000", out
    assert lines[lines.index("Seccomp:") + 1] == "2", out  # 2: a filter (RuntimeDefault)
    wait_condition(control_plane, namespace, "inside", "Complete", timeout=400)
    logs = control_plane.run_kubectl("logs", "-n", namespace, pod).stdout
    assert "done in" in logs and "computed" in logs, logs


def test_sigterm_stops_a_trainer_within_seconds_and_keeps_its_folds(
    control_plane: Cluster, operator: HelmOperator, namespace: str, s3: S3Server
) -> None:
    """Deleting a running trainer pod: the trainer stops after the fold in flight, exits
    within a few seconds (not the grace period), and what it computed stays in the store."""
    apply(control_plane, namespace, slow_run("sigterm", execution={"maxConcurrentJobs": 1}))
    pod = wait_running_pod(control_plane, namespace)
    core = k8s.CoreV1Api(control_plane.api_client)
    stored: list[int] = []

    def folds_stored() -> int:
        run = get_run(control_plane, namespace, "sigterm")
        if "resultsUri" not in run.get("status", {}):
            return 0
        return len(stored_results(run, s3.endpoint))

    control_plane.wait_for(lambda: folds_stored() >= 5, 120, what="some folds stored")
    started = time.monotonic()
    core.delete_namespaced_pod(pod, namespace, grace_period_seconds=30)

    def gone() -> bool:
        try:
            core.read_namespaced_pod(pod, namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    control_plane.wait_for(gone, 40, what=f"{pod} terminated")
    assert time.monotonic() - started < 15  # the trainer exited; no SIGKILL after 30 s
    stored.append(folds_stored())
    # One batch of 120 in flight (maxConcurrentJobs 1): it stopped mid-batch, and every fold
    # it computed is in the store (the pod is gone; nothing else wrote meanwhile).
    assert 5 <= stored[0] < 120, stored
    run = wait_condition(control_plane, namespace, "sigterm", "Complete", timeout=400)
    assert run["status"]["folds"]["succeeded"] == 569


def _pod_from_a_trainer_job(
    cluster: Cluster, namespace: str, name: str, **container: Any
) -> dict[str, Any]:
    """A bare pod from the template of a Job the operator built (same image, security
    context, volumes, termination-message policy), with ``container`` fields replaced."""
    jobs = (
        k8s.BatchV1Api(cluster.api_client)
        .list_namespaced_job(namespace, label_selector="loocv.dev/step=train")
        .items
    )
    template = cluster.api_client.sanitize_for_serialization(jobs[0].spec.template)
    template["spec"]["containers"][0].update(container)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": template["spec"]}
    k8s.CoreV1Api(cluster.api_client).create_namespaced_pod(namespace, pod)

    def finished() -> bool:
        phase = k8s.CoreV1Api(cluster.api_client).read_namespaced_pod(name, namespace).status.phase
        return phase in ("Succeeded", "Failed")

    cluster.wait_for(finished, 120, what=f"pod {name} finished")
    done: dict[str, Any] = cluster.api_client.sanitize_for_serialization(
        k8s.CoreV1Api(cluster.api_client).read_namespaced_pod(name, namespace)
    )
    return done


def test_defaults_resources_termination_message_and_a_real_oom_kill(
    control_plane: Cluster, operator: HelmOperator, namespace: str
) -> None:
    """A run naming no resources: its trainer pods get the chart's default requests and
    memory limit (Burstable, never BestEffort). A trainer that fails leaves its last word in
    the pod's termination message, and `kubectl logs` shows it. Over its memory limit, a
    container is OOM-killed by the kernel and the kubelet says so (reason OOMKilled)."""
    apply(control_plane, namespace, manifest("plain"))
    wait_condition(control_plane, namespace, "plain", "Complete", timeout=300)
    trainers = [
        p
        for p in pods_of(control_plane, namespace)
        if (p.metadata.labels or {}).get("loocv.dev/step") == "train"
    ]
    (pod,) = trainers[:1]
    assert pod.status.qos_class == "Burstable"
    resources = pod.spec.containers[0].resources
    assert resources.requests == {"cpu": "500m", "memory": "512Mi"}
    assert resources.limits == {"memory": "2Gi"}

    failed = _pod_from_a_trainer_job(
        control_plane, namespace, "bad-batch", args=[*pod.spec.containers[0].args[:3], "999"]
    )
    state = failed["status"]["containerStatuses"][0]["state"]["terminated"]
    assert state["exitCode"] == 2, state
    assert "batch 999 does not exist" in state["message"], state
    logs = control_plane.run_kubectl("logs", "-n", namespace, "bad-batch").stdout
    assert "invalid input" in logs and "batch 999 does not exist" in logs, logs

    hog = _pod_from_a_trainer_job(
        control_plane,
        namespace,
        "memory-hog",
        command=["python3", "-c", "blocks = [bytearray(2**20) for _ in range(400)]"],
        args=[],
        resources={"limits": {"memory": "64Mi"}, "requests": {"memory": "64Mi"}},
    )
    state = hog["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (state["reason"], state["exitCode"]) == ("OOMKilled", 137), state


def _events(cluster: Cluster, namespace: str, run: str) -> list[Any]:
    items: list[Any] = (
        k8s.CoreV1Api(cluster.api_client)
        .list_namespaced_event(namespace, field_selector=f"involvedObject.name={run}")
        .items
    )
    return items


@pytest.fixture
def capped_operator(
    control_plane: Cluster, crd: None, namespace: str, bucket: str, s3: S3Server
) -> Iterator[HelmOperator]:
    """The chart's operator with a small cap on raised memory (trainer.memoryCap)."""
    yield from _operator(control_plane, namespace, bucket, s3, {"trainer": {"memoryCap": "576Mi"}})


def _grouped_data(s3: S3Server, bucket: str) -> str:
    """LeaveOneGroupOut over groups of 1, 2500 and 2500 rows: the fold holding out the lone
    row trains KernelRidge on 5000 rows (3 n x n float64 arrays: ~750 MB peak), the others on
    2501 (~310 MB). One memory-hungry fold, two ordinary ones."""
    rng = np.random.default_rng(0)
    x = rng.random((5001, 3))
    y = x.sum(axis=1) + rng.normal(0, 0.1, len(x))
    groups = ["a"] + ["b"] * 2500 + ["c"] * 2500
    lines = ["x1,x2,x3,group,target"] + [
        f"{a:.6f},{b:.6f},{c:.6f},{g},{t:.6f}" for (a, b, c), g, t in zip(x, groups, y, strict=True)
    ]
    key = "data/grouped.csv"
    s3.client().put_object(Bucket=bucket, Key=key, Body="\n".join(lines).encode())
    return f"s3://{bucket}/{key}"


def test_an_oom_killed_batch_gets_more_memory_then_is_split_and_the_run_completes(
    control_plane: Cluster, capped_operator: HelmOperator, namespace: str, s3: S3Server, bucket: str
) -> None:
    """The guide's F5 under a real kubelet: one batch of three folds, one of which needs more
    memory than the chart's cap. The kernel OOM-kills the pod at the manifest's 448Mi; the
    operator raises the run's memory to the cap (576Mi), is killed again, splits the batch
    (twice, down to the hungry fold alone) and records that fold as failed, OOMKilled. The
    run completes with the other two folds computed; status, Events, the stored fold and the
    report say what happened, and no killed Job was retried by the Job controller at the same
    memory (the SIGKILL exit code fails it at once)."""
    uri = _grouped_data(s3, bucket)
    apply(
        control_plane,
        namespace,
        manifest(
            "hungry",
            dataset={"uri": uri, "target": "target", "groupColumn": "group"},
            model={"estimator": "sklearn.kernel_ridge.KernelRidge", "params": {"kernel": "rbf"}},
            strategy={"type": "LeaveOneGroupOut"},
            execution={
                "foldsPerJob": 3,
                "fastPath": "disabled",
                "resources": {"limits": {"memory": "448Mi"}},
            },
        ),
    )
    run = wait_condition(control_plane, namespace, "hungry", "Complete", timeout=480)
    status = run["status"]
    assert status["folds"] == {
        "total": 3,
        "done": 3,
        "succeeded": 2,
        "failed": 1,
        "running": 0,
        "missing": 0,
    }, status
    assert status["oom"] | {"message": ""} == {
        "killed": 4,
        "memory": "576Mi",
        "splits": 2,
        "failedFolds": 1,
        "message": "",
    }, status["oom"]
    assert status["jobs"]["retried"] == 0, status["jobs"]

    events = _events(control_plane, namespace, "hungry")
    reasons = [e.reason for e in events]
    assert reasons.count("MemoryRaised") == 1 and reasons.count("BatchSplit") == 2, reasons
    raised = next(e.message for e in events if e.reason == "MemoryRaised")
    assert "OOM-killed at 448Mi" in raised and "raised to 576Mi" in raised, raised
    (lonely,) = [e for e in events if e.reason == "FoldOOMKilled"]
    assert lonely.type == "Warning" and "fold 0 " in lonely.message, lonely.message
    assert any(e.reason == "OOMKilled" and "memory limit of 576Mi" in e.message for e in events)

    killed = [
        p
        for p in pods_of(control_plane, namespace)
        if p.status.container_statuses
        and p.status.container_statuses[0].state.terminated is not None
        and p.status.container_statuses[0].state.terminated.reason == "OOMKilled"
    ]
    limits = sorted(p.spec.containers[0].resources.limits["memory"] for p in killed)
    assert limits == ["448Mi", "576Mi", "576Mi", "576Mi"], limits
    jobs = [p.metadata.labels["job-name"] for p in killed]
    assert len(set(jobs)) == len(jobs), jobs  # one pod per killed Job: no same-memory retry

    results = {r.index: r for r in stored_results(run, s3.endpoint)}
    assert results[0].error is not None and results[0].error.type == "OOMKilled", results[0]
    assert results[0].path == "oom-killed"
    assert results[1].error is None and results[2].error is None
    key = run["status"]["resultsUri"].removeprefix(f"s3://{bucket}/") + "report.json"
    report = json.loads(s3.client().get_object(Bucket=bucket, Key=key)["Body"].read())
    assert [s["action"] for s in report["oom"]["steps"]] == ["raised", "split", "split", "failed"]


def test_an_oom_killed_planner_fails_the_run_naming_the_limit_to_raise(
    control_plane: Cluster, operator: HelmOperator, namespace: str
) -> None:
    """The planner runs with the run's resources and is not remediated: 64Mi is less than
    its Python with scikit-learn needs, the kernel OOM-kills it, and the run fails
    ``PlannerOOMKilled`` (not a generic PlannerFailed), its condition and Event naming the
    limit and the field to raise. No trainer Job is created."""
    apply(
        control_plane,
        namespace,
        manifest("starved", execution={"resources": {"limits": {"memory": "64Mi"}}}),
    )
    run = wait_condition(control_plane, namespace, "starved", "Failed", timeout=240)
    failed = {c["type"]: c for c in run["status"]["conditions"]}["Failed"]
    assert failed["reason"] == "PlannerOOMKilled", failed
    message = failed["message"]
    assert "was OOM-killed at its memory limit of 64Mi" in message, message
    assert "raise spec.execution.resources.limits.memory" in message, message
    assert run["status"]["phase"] == "Failed"
    events = _events(control_plane, namespace, "starved")
    assert any(e.reason == "Failed" and e.message == message for e in events), events
    assert any(e.reason == "OOMKilled" and "the plan step" in e.message for e in events)
    (pod,) = pods_of(control_plane, namespace)
    assert pod.metadata.labels["loocv.dev/step"] == "plan"
    end = pod.status.container_statuses[0].state.terminated
    assert (end.reason, end.exit_code) == ("OOMKilled", 137), end
    jobs = k8s.BatchV1Api(control_plane.api_client).list_namespaced_job(namespace).items
    assert [j.metadata.labels["loocv.dev/step"] for j in jobs] == ["plan"]


def test_a_planners_refusal_reaches_the_invalid_condition_through_its_termination_message(
    control_plane: Cluster, operator: HelmOperator, namespace: str
) -> None:
    """The salt Secret holds an empty salt: the planner pod (the trainer image, `loocv
    plan`) exits 2 with "invalid input: spec.privacy.hashSampleIds: …", which the kubelet
    keeps as the pod's termination message; the operator puts it in the run's Invalid
    condition, field named, and creates no trainer Job. `kubectl logs` shows it too."""
    k8s.CoreV1Api(control_plane.api_client).create_namespaced_secret(
        namespace, {"metadata": {"name": "salt"}, "stringData": {"salt": ""}}
    )
    apply(
        control_plane,
        namespace,
        manifest(
            "unsalted",
            execution={"foldsPerJob": 150, "retries": 0},
            privacy={"hashSampleIds": True, "saltSecretRef": {"name": "salt"}},
        ),
    )
    run = wait_condition(control_plane, namespace, "unsalted", "Invalid", timeout=240)
    invalid = {c["type"]: c for c in run["status"]["conditions"]}["Invalid"]
    message = invalid["message"]
    assert message.startswith("spec.privacy.hashSampleIds: ") and "needs a salt" in message
    assert run["status"]["phase"] == "Failed"
    (pod,) = [p for p in pods_of(control_plane, namespace) if p.status.phase == "Failed"][:1]
    assert pod.metadata.labels["loocv.dev/step"] == "plan"
    end = pod.status.container_statuses[0].state.terminated
    assert end.exit_code == 2 and "needs a salt" in end.message, end
    logs = control_plane.run_kubectl("logs", "-n", namespace, pod.metadata.name).stdout
    assert "invalid input" in logs and "needs a salt" in logs, logs
    jobs = k8s.BatchV1Api(control_plane.api_client).list_namespaced_job(namespace).items
    assert [j.metadata.labels["loocv.dev/step"] for j in jobs] == ["plan"]
