"""The operator against a real control plane: the scenarios mocks cannot show.

Each test gets its own namespace, its own operator process (``loocv operator --namespace``,
talking to the real API server through a kubeconfig) and its own bucket on a real S3 server
on loopback (versitygw, ``cluster/s3server.py``); trainer pods are run by the kubelet shim as
real ``loocv train`` processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from cluster import GPU_LABEL, Cluster
from cluster.s3server import S3Server
from kubernetes import client as k8s

from loocv_operator.estimators import DEFAULT_ALLOWLIST
from loocv_operator.ledger import load_results
from loocv_operator.local import execute, prepare
from loocv_operator.metrics import summarize
from loocv_operator.results import FoldResult
from loocv_operator.spec import parse_run
from loocv_operator.store import LocalStore, RunLocation, open_store

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

GROUP, VERSION, PLURAL = "loocv.dev", "v1alpha1", "loocvruns"
REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "loocvruns.loocv.dev.yaml"
LOOCV = Path(sys.executable).parent / "loocv"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "e2e", "AWS_SECRET_ACCESS_KEY": "e2e-secret"}
# The shim maps this image to `loocv train`; test_real_node.py sets the real trainer image.
TRAINER_IMAGE = "loocv-trainer:e2e"


# ------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """The real S3 server (versitygw) on loopback, its own root key (CREDENTIALS); stopped
    and started again by the outage scenario (same port, the objects on disk survive)."""
    server = S3Server(tmp_path_factory.mktemp("s3"), **_keys()).start()
    yield server
    server.stop()


def _keys() -> dict[str, str]:
    return {
        "access_key": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "secret_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


@pytest.fixture(autouse=True)
def store_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test reads the store as the operator does: credentials from the environment."""
    for key, value in {**CREDENTIALS, "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="module")
def crd(control_plane: Cluster) -> None:
    """The CRD, applied with the real kubectl, established by the real API server."""
    control_plane.run_kubectl("apply", "-f", str(CRD))
    control_plane.run_kubectl(
        "wait", "--for=condition=Established", "crd/loocvruns.loocv.dev", "--timeout=60s"
    )


class Operator:
    """``loocv operator`` as a process, watching one namespace."""

    def __init__(
        self, cluster: Cluster, namespace: str, bucket: str, endpoint: str, log: Path
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.log = log
        self.command = [
            str(LOOCV),
            "operator",
            "--namespace",
            namespace,
            "--storage-uri",
            f"s3://{bucket}/results/",
            "--s3-endpoint",
            endpoint,
            "--storage-secret",
            "s3-creds",
            "--status-interval",
            "1",
            "--metrics-port",
            "0",
            "--liveness",
            "none",
        ]
        self.env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            **CREDENTIALS,
            "AWS_REGION": "us-east-1",
            "LOOCV_STORE_RETRY_SECONDS": "120",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.command,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL: no cleanup, no final status patch — a crashed or evicted operator."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


@pytest.fixture
def bucket(s3: S3Server, namespace: str) -> str:
    s3.client().create_bucket(Bucket=namespace)
    return namespace


@pytest.fixture
def operator(
    control_plane: Cluster, crd: None, namespace: str, bucket: str, s3: S3Server, tmp_path: Path
) -> Iterator[Operator]:
    k8s.CoreV1Api(control_plane.api_client).create_namespaced_secret(
        namespace, {"metadata": {"name": "s3-creds"}, "stringData": CREDENTIALS}
    )
    handle = Operator(control_plane, namespace, bucket, s3.endpoint, tmp_path / "operator.log")
    handle.start()
    yield handle
    handle.stop()
    print(f"--- operator log ({namespace}) ---\n{handle.output()}")


# -------------------------------------------------------------------------------- helpers


def manifest(name: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "dataset": {"builtin": "iris"},
        "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
        "execution": {"foldsPerJob": 30, "maxConcurrentJobs": 3, "image": TRAINER_IMAGE},
    }
    for key, value in spec.items():  # execution settings add to the defaults; the rest replace
        base[key] = {**base[key], **value} if key == "execution" else value
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "LOOCVRun",
        "metadata": {"name": name},
        "spec": base,
    }


def apply(
    cluster: Cluster, namespace: str, document: dict[str, Any], check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = cluster.run_kubectl(
        "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document), check=False
    )
    assert not check or result.returncode == 0, result.stderr
    return result


def get_run(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    api = k8s.CustomObjectsApi(cluster.api_client)
    run: dict[str, Any] = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return run


def condition(run: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next(
        (c for c in run.get("status", {}).get("conditions", []) if c["type"] == type_), None
    )


def wait_condition(
    cluster: Cluster,
    namespace: str,
    name: str,
    type_: str,
    status: str = "True",
    timeout: float = 300,
) -> dict[str, Any]:
    def reached() -> bool:
        found = condition(get_run(cluster, namespace, name), type_)
        return found is not None and found["status"] == status

    cluster.wait_for(reached, timeout, what=f"{name}: {type_}={status}")
    return get_run(cluster, namespace, name)


def jobs_of(cluster: Cluster, namespace: str) -> list[Any]:
    items: list[Any] = k8s.BatchV1Api(cluster.api_client).list_namespaced_job(namespace).items
    return items


def trainers_of(cluster: Cluster, namespace: str) -> list[Any]:
    """The trainer Jobs (not the run's planner and report Jobs)."""
    return [
        j for j in jobs_of(cluster, namespace) if j.metadata.labels.get("loocv.dev/step") == "train"
    ]


def pods_of(cluster: Cluster, namespace: str) -> list[Any]:
    items: list[Any] = k8s.CoreV1Api(cluster.api_client).list_namespaced_pod(namespace).items
    return items


def stored_results(run: dict[str, Any], endpoint: str) -> list[FoldResult]:
    uri = run["status"]["resultsUri"].rstrip("/")
    bucket_uri, _, key_prefix = uri.partition("/results/")
    store = open_store(bucket_uri + "/results/", endpoint)
    namespace, name, key = key_prefix.strip("/").split("/")
    return load_results(store, RunLocation(namespace, name, key))


def local_reference(document: dict[str, Any], tmp_path: Path) -> tuple[dict[str, Any], dict]:
    """The same manifest run by the local executor: the result the operator must match."""
    local = json.loads(json.dumps(document))
    local["spec"].pop("storage", None)
    store = LocalStore(tmp_path / "local")
    plan, runner = prepare(parse_run(local), store, DEFAULT_ALLOWLIST)
    execute(plan, runner, store, 1)
    results = load_results(store, plan.location)
    predictions = {s.row: s.y_pred for r in results for s in r.samples}
    return summarize(plan, results), predictions


def predictions_of(results: list[FoldResult]) -> dict[int, Any]:
    return {s.row: s.y_pred for r in results for s in r.samples}


def upload_npz(s3: S3Server, bucket: str, key: str, **arrays: np.ndarray) -> str:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    s3.client().put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
    return f"s3://{bucket}/{key}"


# ------------------------------------------------------------------------------ scenarios


def test_apply_runs_to_complete_like_the_local_run(
    control_plane: Cluster, operator: Operator, namespace: str, s3: S3Server, tmp_path: Path
) -> None:
    """1. kubectl apply → Jobs (ours) → pods (real Job controller) scheduled (real scheduler)
    and run (shim) → Complete, with the local run's metrics; kubectl wait returns."""
    document = manifest(
        "iris-nb",
        dataset={"builtin": "breast_cancer"},
        model={
            "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"max_iter": 2000},
            "preprocessing": [{"estimator": "sklearn.preprocessing.StandardScaler"}],
        },
        execution={"foldsPerJob": 100},
        gate={"accuracy": {"min": 0.95}},
    )
    apply(control_plane, namespace, document)
    waited = control_plane.run_kubectl(
        "wait",
        "-n",
        namespace,
        "--for=condition=Complete",
        "loocvrun/iris-nb",
        "--timeout=300s",
        check=False,
    )
    assert waited.returncode == 0, waited.stderr + operator.output()
    run = get_run(control_plane, namespace, "iris-nb")
    status = run["status"]
    assert status["phase"] == "Succeeded"
    assert status["folds"]["succeeded"] == status["folds"]["total"] == 569
    assert condition(run, "GatePassed")["status"] == "True"
    summary, predictions = local_reference(document, tmp_path)
    assert status["metrics"]["accuracy"] == pytest.approx(summary["metrics"]["accuracy"], abs=0)
    assert predictions_of(stored_results(run, s3.endpoint)) == predictions
    jobs = jobs_of(control_plane, namespace)
    assert all(j.metadata.owner_references[0].kind == "LOOCVRun" for j in jobs)
    steps = sorted(j.metadata.labels["loocv.dev/step"] for j in jobs)
    assert steps == ["plan", "report"] + ["train"] * 6  # the planner, 6 batches, the report
    printed = control_plane.run_kubectl("get", "loocvruns", "-n", namespace).stdout
    assert "Succeeded" in printed and "569/569" in printed
    # usage (kube/usage.py): one pod per Job, each counted once, requested x running time
    # (the operator's default requests: 500m CPU and 512Mi: 1 GiB-second per core-second)
    usage = status["usage"]
    # (the run finishes once every fold is stored: pods of the last wave may still be
    # exiting, and are counted up to then, as podsRunning says)
    assert usage["podsStarted"] == 6 and usage["podsRunning"] <= 4  # maxConcurrentJobs
    assert usage["coreSeconds"] >= 0.5 * 6  # each pod runs >= 1 s (1 s timestamps)
    assert usage["memoryGiBSeconds"] == pytest.approx(usage["coreSeconds"])
    assert usage["foldSeconds"] > 0


def test_gpu_batches_land_on_gpu_nodes(
    control_plane: Cluster, operator: Operator, namespace: str
) -> None:
    """2. A GPU run's pods go to GPU nodes only; asking for more GPUs than any node has
    leaves the run Pending with a condition that says why."""
    apply(
        control_plane,
        namespace,
        manifest(
            "gpu",
            execution={
                "foldsPerJob": 50,
                "resources": {"limits": {"nvidia.com/gpu": 1}},
                "nodeSelector": {GPU_LABEL: "true"},
                "tolerations": [
                    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                ],
            },
        ),
    )
    wait_condition(control_plane, namespace, "gpu", "Complete")
    core = k8s.CoreV1Api(control_plane.api_client)
    gpu_nodes = {
        n.metadata.name
        for n in core.list_node().items
        if int((n.status.capacity or {}).get("nvidia.com/gpu", "0")) > 0
    }
    nodes_used = {p.spec.node_name for p in pods_of(control_plane, namespace)}
    assert nodes_used and nodes_used <= gpu_nodes

    apply(
        control_plane,
        namespace,
        manifest("too-many-gpus", execution={"resources": {"limits": {"nvidia.com/gpu": 64}}}),
    )

    def unschedulable() -> bool:
        found = condition(get_run(control_plane, namespace, "too-many-gpus"), "Progressing")
        return found is not None and found["reason"] == "Unschedulable"

    control_plane.wait_for(unschedulable, 120, what="Unschedulable condition")
    run = get_run(control_plane, namespace, "too-many-gpus")
    assert run["status"]["phase"] == "Pending"
    assert "nvidia.com/gpu" in condition(run, "Progressing")["message"]


def slow_run(name: str, **spec: Any) -> dict[str, Any]:
    """Batches that take a few seconds each, so a test can act while pods run."""
    return manifest(
        name,
        dataset={"builtin": "breast_cancer"},
        model={
            "estimator": "sklearn.ensemble.RandomForestClassifier",
            "params": {"n_estimators": 25},
        },
        **{"execution": {"foldsPerJob": 120, "maxConcurrentJobs": 2}, **spec},
    )


def wait_running_pod(cluster: Cluster, namespace: str, timeout: float = 120) -> str:
    found: list[str] = []

    def running() -> bool:
        found[:] = [
            p.metadata.name
            for p in pods_of(cluster, namespace)
            if p.status.phase == "Running" and (p.metadata.labels or {}).get("loocv.dev/batch")
        ]
        return bool(found)

    cluster.wait_for(running, timeout, what="a running trainer pod")
    return found[0]


def test_preempted_pods_are_retried_not_counted(
    control_plane: Cluster, operator: Operator, namespace: str, s3: S3Server
) -> None:
    """3. A preempted pod (DisruptionTarget) is retried — its batch resubmitted by the
    operator rather than after the Job controller's backoff (test_disruption_backoff.py);
    nothing counts as failed and every fold is counted once."""
    apply(control_plane, namespace, slow_run("preempt", execution={"retries": 0}))
    pod = wait_running_pod(control_plane, namespace)
    control_plane.preempt(namespace, pod)
    run = wait_condition(control_plane, namespace, "preempt", "Complete", timeout=400)
    status = run["status"]
    assert status["folds"]["failed"] == 0 and status["folds"]["succeeded"] == 569
    assert status["jobs"]["preempted"] >= 1 and status["jobs"]["failed"] == 0
    # the preempted pod's running time counts too: two pods at least, each once
    assert status["usage"]["podsStarted"] >= 2 and status["usage"]["preemptions"] >= 1
    results = stored_results(run, s3.endpoint)
    assert sorted(r.index for r in results) == list(range(569))


def test_operator_killed_mid_run_resumes_without_duplicates(
    control_plane: Cluster, operator: Operator, namespace: str, s3: S3Server, tmp_path: Path
) -> None:
    """4. SIGKILL the operator mid-run, start it again: no duplicate Jobs, run completes,
    predictions identical to an uninterrupted (local) run."""
    document = slow_run("restart")
    apply(control_plane, namespace, document)
    wait_running_pod(control_plane, namespace)
    operator.kill()
    time.sleep(3)
    operator.start()
    run = wait_condition(control_plane, namespace, "restart", "Complete", timeout=400)
    names = [j.metadata.name for j in trainers_of(control_plane, namespace)]
    assert len(names) == len(set(names)) == 5
    _, predictions = local_reference(document, tmp_path)
    assert predictions_of(stored_results(run, s3.endpoint)) == predictions


def test_poisoned_sample_fails_one_fold_and_the_gate(
    control_plane: Cluster, operator: Operator, namespace: str, s3: S3Server, bucket: str
) -> None:
    """5. One sample makes preprocessing raise: that fold fails (its error in
    predictions.csv), the run completes, the failedFolds gate fails."""
    category = np.tile([0.0, 1.0, 2.0], 10)
    category[7] = 99.0  # seen only when fold 7 predicts it: the encoder raises there
    X = np.column_stack([category, np.tile([5.0, 6.0, 7.0], 10)])
    uri = upload_npz(s3, bucket, "data/poisoned.npz", X=X, y=np.array([0, 1] * 15))
    apply(
        control_plane,
        namespace,
        manifest(
            "poisoned",
            dataset={"uri": uri},
            model={
                "estimator": "sklearn.linear_model.LogisticRegression",
                "preprocessing": [{"estimator": "sklearn.preprocessing.OneHotEncoder"}],
            },
            execution={"foldsPerJob": 10},
            gate={"failedFolds": {"max": 0}},
        ),
    )
    run = wait_condition(control_plane, namespace, "poisoned", "Complete")
    assert run["status"]["folds"]["failed"] == 1
    gate = condition(run, "GatePassed")
    assert gate["status"] == "False" and "failed folds 1 > max 0" in gate["message"]
    key = run["status"]["resultsUri"].removeprefix(f"s3://{bucket}/") + "predictions.csv"
    csv = s3.client().get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    failed_rows = [line for line in csv.splitlines() if ",failed," in line]
    assert len(failed_rows) == 1 and "unknown categor" in failed_rows[0].lower()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"gate": {"acuracy": {"min": 0.9}}}, 'unknown field "spec.gate.acuracy"'),
        ({"execution": {"maxConcurrentJobs": 0}}, "spec.execution.maxConcurrentJobs"),
        ({"strategy": {"type": "KFold"}}, "KFold needs"),
        ({"dataset": {"builtin": "iris", "uri": "s3://x/y.csv"}}, "exactly one of"),
    ],
)
def test_admission_rejects_invalid_manifests(
    control_plane: Cluster, crd: None, namespace: str, change: dict[str, Any], expected: str
) -> None:
    """6. The API server refuses what the schema or a CEL rule forbids, naming the field."""
    document = manifest("bad")
    for key, value in change.items():
        document["spec"][key] = value
    result = apply(control_plane, namespace, document, check=False)
    assert result.returncode != 0
    assert expected in result.stderr


def test_immutable_spec_is_refused_but_concurrency_may_change(
    control_plane: Cluster, crd: None, namespace: str
) -> None:
    """6. Once created, the spec is immutable — except maxConcurrentJobs, budget and
    suspend."""
    apply(control_plane, namespace, manifest("frozen", suspend=True))
    changed = manifest("frozen", suspend=True, model={"estimator": "sklearn.svm.SVC"})
    refused = apply(control_plane, namespace, changed, check=False)
    assert refused.returncode != 0 and "immutable" in refused.stderr
    allowed = manifest("frozen", suspend=False, execution={"maxConcurrentJobs": 7})
    apply(control_plane, namespace, allowed)
    # budget may change too (raising it resumes a run it stopped), but not be empty
    budget = {"maxConcurrentJobs": 7, "budget": {"maxCoreHours": 2}}
    apply(control_plane, namespace, manifest("frozen", suspend=False, execution=budget))
    empty = manifest("frozen", execution={"maxConcurrentJobs": 7, "budget": {}})
    refused = apply(control_plane, namespace, empty, check=False)
    assert refused.returncode != 0 and "give maxCoreHours, maxGPUHours" in refused.stderr


def test_deleting_a_run_garbage_collects_its_jobs_and_keeps_results(
    control_plane: Cluster, operator: Operator, namespace: str, s3: S3Server, bucket: str
) -> None:
    """7. Deleting a running LOOCVRun: the real garbage collector removes its Jobs and pods;
    stored results stay (deleteOnDelete is false by default)."""
    apply(control_plane, namespace, slow_run("doomed"))
    wait_running_pod(control_plane, namespace)
    control_plane.wait_for(
        lambda: "resultsUri" in get_run(control_plane, namespace, "doomed").get("status", {}),
        60,
        what="status.resultsUri",
    )
    prefix = get_run(control_plane, namespace, "doomed")["status"]["resultsUri"]
    control_plane.run_kubectl("delete", "-n", namespace, "loocvrun/doomed", "--wait=true")
    control_plane.wait_for(lambda: not jobs_of(control_plane, namespace), 120, what="Jobs GC")
    control_plane.wait_for(lambda: not pods_of(control_plane, namespace), 120, what="pods GC")
    key = prefix.removeprefix(f"s3://{bucket}/") + "plan.json"
    assert s3.client().get_object(Bucket=bucket, Key=key)["ContentLength"] > 0


def test_suspend_and_resume(control_plane: Cluster, operator: Operator, namespace: str) -> None:
    """8. suspend: true stops new Jobs and suspends active ones; false resumes to Complete."""
    document = slow_run("pausable")
    apply(control_plane, namespace, document)
    wait_running_pod(control_plane, namespace)
    document["spec"]["suspend"] = True
    apply(control_plane, namespace, document)

    def suspended() -> bool:
        jobs = jobs_of(control_plane, namespace)
        return bool(jobs) and all(j.spec.suspend for j in jobs if not _finished(j))

    control_plane.wait_for(suspended, 60, what="active Jobs suspended")
    control_plane.wait_for(
        lambda: not [p for p in pods_of(control_plane, namespace) if p.status.phase == "Running"],
        60,
        what="pods of suspended Jobs gone",
    )
    count = len(jobs_of(control_plane, namespace))
    time.sleep(5)
    assert len(jobs_of(control_plane, namespace)) == count
    assert get_run(control_plane, namespace, "pausable")["status"]["phase"] == "Suspended"
    document["spec"]["suspend"] = False
    apply(control_plane, namespace, document)
    run = wait_condition(control_plane, namespace, "pausable", "Complete", timeout=400)
    assert run["status"]["folds"]["succeeded"] == 569


def _finished(job: Any) -> bool:
    return any(
        c.type in ("Complete", "Failed") and c.status == "True"
        for c in (job.status.conditions or [])
    )


def test_store_outage_is_ridden_out(
    control_plane: Cluster, operator: Operator, namespace: str, s3: S3Server
) -> None:
    """9. The S3 server stops for a while mid-run: trainers and operator retry; nothing is
    lost when it returns."""
    apply(control_plane, namespace, slow_run("outage"))
    wait_running_pod(control_plane, namespace)
    s3.stop()
    try:
        time.sleep(12)
    finally:
        s3.start()
    run = wait_condition(control_plane, namespace, "outage", "Complete", timeout=400)
    assert run["status"]["folds"]["succeeded"] == 569
    assert sorted(r.index for r in stored_results(run, s3.endpoint)) == list(range(569))


def test_auto_batching_on_the_cluster(
    control_plane: Cluster, operator: Operator, namespace: str, s3: S3Server, tmp_path: Path
) -> None:
    """foldsPerJob: auto. A brute-force run times a probe Job on the real Job controller and
    shim, then gives each of the 2 slots one Job; a fast-path run is a single Job."""
    tree = manifest(
        "tree",
        dataset={"builtin": "breast_cancer"},
        model={"estimator": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 4}},
        execution={"foldsPerJob": "auto", "maxConcurrentJobs": 2},
    )
    ridge = manifest(
        "ridge",
        dataset={"builtin": "diabetes"},
        model={"estimator": "sklearn.linear_model.Ridge"},
        execution={"foldsPerJob": "auto"},
    )
    apply(control_plane, namespace, tree)
    apply(control_plane, namespace, ridge)
    for name in ("tree", "ridge"):
        done = wait_condition(control_plane, namespace, name, "Complete")
        assert done is not None, operator.output()
    run = get_run(control_plane, namespace, "tree")
    batching = run["status"]["batching"]
    assert batching["mode"] == "measured", batching
    assert batching["podOverheadSeconds"] >= 1.0 and batching["perFoldSeconds"] < 0.5
    assert batching["foldsPerJob"] == 282  # ⌈564 / 2⌉: a pod's overhead outweighs 20 tree fits
    jobs = {
        j.metadata.labels["loocv.dev/batch"]: j
        for j in trainers_of(control_plane, namespace)
        if j.metadata.labels["loocv.dev/run"] == "tree"
    }
    assert sorted(jobs) == ["0", "1", "2"]
    assert jobs["1"].metadata.creation_timestamp >= jobs["0"].status.completion_time
    assert predictions_of(stored_results(run, s3.endpoint)) == local_reference(tree, tmp_path)[1]
    ridge_run = get_run(control_plane, namespace, "ridge")
    assert ridge_run["status"]["batching"]["mode"] == "fast-path"
    assert ridge_run["status"]["fastPath"] == "exact:ridge-hat"
    ridge_jobs = [
        j
        for j in trainers_of(control_plane, namespace)
        if j.metadata.labels["loocv.dev/run"] == "ridge"
    ]
    assert len(ridge_jobs) == 1
