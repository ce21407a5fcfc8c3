"""`helm install` of charts/loocv-operator into the real control plane, and a run under RBAC.

The operator runs as a pod of the chart's Deployment: here the kubelet shim maps the chart's
image to the venv's ``loocv operator`` and mounts the pod's projected ServiceAccount token;
test_helm_install_real_node.py runs the same two tests on the real node, the operator from
its image under a real kubelet (logs by ``kubectl logs``, /healthz and /metrics at the pod's
IP). Either way the operator talks to the API server as its ServiceAccount and the real
RBAC authorizer allows exactly what the chart's (Cluster)Role grants (and the
OwnerReferencesPermissionEnforcement admission plugin checks the Jobs' ownerReferences).
A permission the chart lacks shows up as a run that never completes and as 403s in the
operator's log, both of which fail the test. Uninstall must leave no operator object
behind; the CRD stays, as Helm does with crds/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cluster import Cluster
from cluster.controlplane import free_port
from cluster.kubelet_shim import raw
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_iris
from sklearn.model_selection import LeaveOneOut, cross_val_predict
from sklearn.naive_bayes import GaussianNB

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "loocv-operator"
OPERATOR_IMAGE = "ghcr.io/loocv-dev/loocv-operator"  # the chart's default repository
CRD = "loocvruns.loocv.dev"
SECRET = "s3-creds"
FORBIDDEN = re.compile(r"\b403\b|Forbidden")


def _run_manifest(name: str, namespace: str, execution: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "loocv.dev/v1alpha1",
        "kind": "LOOCVRun",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {  # no spec.storage: the chart's storage values are the default store
            "dataset": {"builtin": "iris"},
            "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
            "execution": {"retries": 1, **execution},
            "gate": {"accuracy": {"min": 0.9}, "failedFolds": {"max": 0}},
        },
    }


def _loo_accuracy() -> float:
    x, y = load_iris(return_X_y=True)
    predicted = cross_val_predict(GaussianNB(), x, y, cv=LeaveOneOut())
    return float((predicted == y).mean())


class Release:
    """One Helm release of the chart in the e2e cluster, and what a test asks of it."""

    def __init__(self, cluster: Cluster, helm: Path, name: str, namespace: str, home: Path) -> None:
        self.cluster = cluster
        self.helm = helm
        self.name = name
        self.namespace = namespace
        self.env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }
        self.home = home
        self.core = k8s.CoreV1Api(cluster.api_client)
        self.installed = False

    def helm_run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.helm), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def install(self, values: dict[str, Any]) -> None:
        path = self.home / "values.json"
        path.write_text(json.dumps(values))
        self.installed = True
        self.helm_run(
            "install",
            self.name,
            str(CHART),
            "--namespace",
            self.namespace,
            "--values",
            str(path),
            "--wait",
            "--timeout",
            "3m",
        )

    def uninstall(self) -> None:
        if self.installed:
            self.installed = False
            self.helm_run("uninstall", self.name, "--namespace", self.namespace, "--wait")

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/instance={self.name}"

    def operator_pods(self) -> list[dict[str, Any]]:
        pods: list[dict[str, Any]] = raw(
            self.core.list_namespaced_pod, self.namespace, label_selector=self.selector
        )["items"]
        return pods

    def operator_log(self) -> str:
        logs = []
        for pod in self.operator_pods():
            name = pod["metadata"]["name"]
            if self.cluster.real_node is not None:  # the container's log, through the kubelet
                done = self.cluster.run_kubectl("logs", "-n", self.namespace, name, check=False)
                logs.append(done.stdout)
                continue
            try:
                logs.append(self.cluster.shim.pod_log(self.namespace, name))
            except KeyError:
                continue
        return "\n".join(logs)

    def address(self) -> str:
        """Where the operator's ports answer: on the shim, pods share the host's network; on
        the real node, the pod has its own address on the node's bridge."""
        if self.cluster.real_node is None:
            return "127.0.0.1"
        (pod,) = self.operator_pods()
        return str(pod["status"]["podIP"])

    def denied(self) -> list[str]:
        """Lines of the operator's log about a request the API server refused."""
        return [line for line in self.operator_log().splitlines() if FORBIDDEN.search(line)]

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait for ``predicate``; fail at once when the operator is refused a request, or
        with the operator's log tail when time runs out."""

        def check() -> bool:
            denied = self.denied()
            if denied:  # pytest's Failed is a BaseException: wait_for does not swallow it
                pytest.fail(
                    f"the operator was refused while waiting for {what}:\n"
                    + "\n".join(denied[-20:])
                )
            return predicate()

        try:
            self.cluster.wait_for(check, timeout, what=what)
        except TimeoutError as exc:
            pytest.fail(f"{exc}\n--- operator log tail ---\n{self.operator_log()[-6000:]}")


@pytest.fixture
def operator_image(control_plane: Cluster) -> Iterator[str]:
    """The chart's image, run by the shim as the venv's `loocv operator` (its ENTRYPOINT)."""
    control_plane.shim.entrypoints[OPERATOR_IMAGE] = ["loocv", "operator"]
    yield OPERATOR_IMAGE
    control_plane.shim.entrypoints.pop(OPERATOR_IMAGE, None)


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    name = f"helm-e2e-{uuid.uuid4().hex[:10]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def release_namespace(control_plane: Cluster) -> Iterator[str]:
    name = control_plane.create_namespace(f"loocv-system-{uuid.uuid4().hex[:5]}")
    yield name
    try:
        k8s.CoreV1Api(control_plane.api_client).delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


def _secret(cluster: Cluster, namespace: str) -> None:
    k8s.CoreV1Api(cluster.api_client).create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": SECRET},
            "stringData": {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
        },
    )


def _get_run(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    api = k8s.CustomObjectsApi(cluster.api_client)
    return raw(
        api.get_namespaced_custom_object, "loocv.dev", "v1alpha1", namespace, "loocvruns", name
    )


def _patch_run(cluster: Cluster, namespace: str, name: str, spec: dict[str, Any]) -> None:
    cluster.run_kubectl(
        "patch", "loocvrun", name, "-n", namespace, "--type=merge", "-p", json.dumps({"spec": spec})
    )


def _jobs(cluster: Cluster, namespace: str, run_uid: str) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = raw(
        k8s.BatchV1Api(cluster.api_client).list_namespaced_job,
        namespace,
        label_selector=f"loocv.dev/run-uid={run_uid}",
    )["items"]
    return jobs


def _metrics(host: str, port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _leftovers(cluster: Cluster, release: Release, role_namespaces: list[str]) -> list[str]:
    """Objects of the release still in the cluster (pods included, Helm's release records)."""
    sel = release.selector
    ns = release.namespace
    core = k8s.CoreV1Api(cluster.api_client)
    apps = k8s.AppsV1Api(cluster.api_client)
    rbac = k8s.RbacAuthorizationV1Api(cluster.api_client)
    found: list[str] = []
    listings: list[tuple[str, Callable[..., Any], tuple[Any, ...], str]] = [
        ("Deployment", apps.list_namespaced_deployment, (ns,), sel),
        ("ReplicaSet", apps.list_namespaced_replica_set, (ns,), sel),
        ("Pod", core.list_namespaced_pod, (ns,), sel),
        ("ServiceAccount", core.list_namespaced_service_account, (ns,), sel),
        ("Service", core.list_namespaced_service, (ns,), sel),
        ("ConfigMap", core.list_namespaced_config_map, (ns,), sel),
        ("Secret", core.list_namespaced_secret, (ns,), f"owner=helm,name={release.name}"),
        ("ClusterRole", rbac.list_cluster_role, (), sel),
        ("ClusterRoleBinding", rbac.list_cluster_role_binding, (), sel),
    ]
    for other in role_namespaces:
        listings += [
            ("Role", rbac.list_namespaced_role, (other,), sel),
            ("RoleBinding", rbac.list_namespaced_role_binding, (other,), sel),
        ]
    for kind, func, args, selector in listings:
        for item in raw(func, *args, label_selector=selector)["items"]:
            meta = item["metadata"]
            found.append(f"{kind} {meta.get('namespace', '')}/{meta['name']}")
    return found


def _install(
    cluster: Cluster,
    helm: Path,
    tmp_path: Path,
    release_ns: str,
    bucket: str,
    s3_endpoint: str,
    watch: list[str],
) -> tuple[Release, dict[str, int]]:
    ports = {"metrics": free_port(), "health": free_port()}  # pods share the host's network
    release = Release(cluster, helm, f"loocv-{uuid.uuid4().hex[:6]}", release_ns, tmp_path)
    release.install(
        {
            "watchNamespaces": watch,
            "storage": {
                "uri": f"s3://{bucket}/runs/",
                "endpoint": s3_endpoint,
                "secretName": SECRET,
            },
            "operator": {
                "logFormat": "plain",
                "statusInterval": 1,
                "workers": 2,
                "healthPort": ports["health"],
            },
            "metrics": {"port": ports["metrics"]},
            "service": {"port": ports["metrics"]},
            "dashboard": {"enabled": True},
        }
    )
    return release, ports


def _wait_owner_references_admitted(release: Release, namespace: str) -> None:
    """Wait until the API server's admission can resolve the new kind in ownerReferences.

    OwnerReferencesPermissionEnforcement maps an ownerReference's kind with a discovery
    cache that the API server refreshes every 30 s: for up to 30 s after the CRD is created,
    a Job with a blocking ownerReference to a LOOCVRun is refused ("cannot find RESTMapping")
    to anyone who may not finalize everything. The operator just retries on its next
    reconcile, but a 403 in its log must mean missing RBAC in this test, so the run is
    applied after that window: probed with a server-side dry-run create of such a Job as
    the operator's ServiceAccount (impersonated by the admin).
    """
    probe = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "generateName": "owner-probe-",
            "namespace": namespace,
            "ownerReferences": [
                {
                    "apiVersion": "loocv.dev/v1alpha1",
                    "kind": "LOOCVRun",
                    "name": "probe",
                    "uid": str(uuid.uuid4()),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "probe", "image": "probe", "command": ["true"]}],
                }
            }
        },
    }
    account = f"system:serviceaccount:{release.namespace}:{release.name}-loocv-operator"

    def admitted() -> bool:
        done = release.cluster.run_kubectl(
            "create",
            "--dry-run=server",
            f"--as={account}",
            "-o",
            "name",
            "-f",
            "-",
            input=json.dumps(probe),
            check=False,
        )
        if done.returncode == 0:
            return True
        if "RESTMapping" in done.stderr:
            return False
        raise AssertionError(f"the operator's account may not create a Job: {done.stderr}")

    release.cluster.wait_for(admitted, 90, what="admission knowing the LOOCVRun kind")


def _check_operator_pod(cluster: Cluster, release: Release, health_port: int) -> dict[str, Any]:
    (pod,) = release.operator_pods()
    spec = pod["spec"]
    assert spec["serviceAccountName"] == release.name + "-loocv-operator"
    # Admission mounted the projected token the operator authenticates with.
    mounts = spec["containers"][0]["volumeMounts"]
    assert any(m["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount" for m in mounts)
    assert spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True

    def healthy() -> bool:
        url = f"http://{release.address()}:{health_port}/healthz"
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)

    release.wait(healthy, 120, "the operator's liveness endpoint (kopf /healthz) answering")
    return pod


def _finish_checks(
    cluster: Cluster, release: Release, namespace: str, name: str, metrics_port: int
) -> None:
    done = cluster.run_kubectl(
        "wait", "--for=condition=Complete", f"loocvrun/{name}", "-n", namespace, "--timeout=30s"
    )
    assert "condition met" in done.stdout
    run = _get_run(cluster, namespace, name)
    status = run["status"]
    assert status["phase"] == "Succeeded"
    assert status["folds"]["done"] == status["folds"]["total"] == 150
    assert status["folds"]["failed"] == 0
    assert status["metrics"]["accuracy"] == pytest.approx(_loo_accuracy(), abs=1e-12)
    # kopf wrote its bookkeeping annotation (patch on loocvruns); the spec is untouched.
    assert "loocv.dev/last-handled-configuration" in run["metadata"]["annotations"]
    assert run["metadata"]["generation"] in (1, 3)  # only our own suspend/resume patches
    # Jobs carry a blocking ownerReference to the run (admission checked loocvruns/finalizers).
    jobs = _jobs(cluster, namespace, run["metadata"]["uid"])
    assert jobs
    for job in jobs:
        (owner,) = job["metadata"]["ownerReferences"]
        assert owner["uid"] == run["metadata"]["uid"] and owner["blockOwnerDeletion"] is True
    # Events on the run (events create); the operator never reports them failing, so look.
    events = raw(
        k8s.CoreV1Api(cluster.api_client).list_namespaced_event,
        namespace,
        field_selector=f"involvedObject.name={name}",
    )["items"]
    reasons = {e["reason"] for e in events if e.get("source", {}).get("component")}
    assert {"Planned", "Completed", "GatePassed"} <= reasons, reasons
    # /metrics on the port the chart configured, with the series the dashboard plots.
    samples = _metrics(release.address(), metrics_port)
    assert samples[("loocv_folds_completed_total", (("run_namespace", namespace),))] == 150
    assert samples[("loocv_jobs_created_total", (("run_namespace", namespace),))] == len(jobs)
    # Nothing the operator asked for was refused.
    assert release.operator_log(), "no operator log"
    denied = release.denied()
    assert not denied, "\n".join(denied)


def _uninstall_checks(cluster: Cluster, release: Release, role_namespaces: list[str]) -> None:
    # The listing does find the release's objects while it is installed.
    before = {entry.split()[0] for entry in _leftovers(cluster, release, role_namespaces)}
    rbac = {"Role", "RoleBinding"} if role_namespaces else {"ClusterRole", "ClusterRoleBinding"}
    common = {"Deployment", "ReplicaSet", "Pod", "ServiceAccount", "Service", "ConfigMap"}
    assert before == common | rbac | {"Secret"}, before
    release.uninstall()
    release.wait(
        lambda: not _leftovers(cluster, release, role_namespaces),
        120,
        "no object of the release left after helm uninstall",
    )
    crd = k8s.ApiextensionsV1Api(cluster.api_client).read_custom_resource_definition(CRD)
    assert crd.metadata.name == CRD  # Helm keeps CRDs (and so every LOOCVRun)


def test_helm_install_cluster_wide_runs_suspends_and_resumes_under_rbac(
    control_plane: Cluster,
    helm_binary: Path,
    operator_image: str,
    release_namespace: str,
    namespace: str,
    bucket: str,
    s3_endpoint: str,
    tmp_path: Path,
) -> None:
    for ns in (release_namespace, namespace):
        _secret(control_plane, ns)
    release, ports = _install(
        control_plane, helm_binary, tmp_path, release_namespace, bucket, s3_endpoint, []
    )
    try:
        control_plane.run_kubectl("wait", "--for=condition=Established", f"crd/{CRD}")
        _check_operator_pod(control_plane, release, ports["health"])
        _wait_owner_references_admitted(release, namespace)
        name = "iris-nb"
        # Six batches, one Job at a time: there is a running Job to suspend.
        manifest = _run_manifest(name, namespace, {"foldsPerJob": 25, "maxConcurrentJobs": 1})
        control_plane.run_kubectl("apply", "-f", "-", input=json.dumps(manifest))
        uid = _get_run(control_plane, namespace, name)["metadata"]["uid"]
        release.wait(lambda: bool(_jobs(control_plane, namespace, uid)), 120, "a first Job")

        _patch_run(control_plane, namespace, name, {"suspend": True})  # the operator: patch jobs
        release.wait(
            lambda: any(j["spec"].get("suspend") for j in _jobs(control_plane, namespace, uid)),
            60,
            "the operator suspending the run's active Job",
        )
        _patch_run(control_plane, namespace, name, {"suspend": False})
        release.wait(
            lambda: (
                _get_run(control_plane, namespace, name).get("status", {}).get("phase")
                in ("Succeeded", "Failed")
            ),
            180,
            "the run finishing after resume",
        )
        _finish_checks(control_plane, release, namespace, name, ports["metrics"])
        _uninstall_checks(control_plane, release, [])
    finally:
        release.uninstall()


def test_helm_install_watching_one_namespace_runs_there_only(
    control_plane: Cluster,
    helm_binary: Path,
    operator_image: str,
    release_namespace: str,
    namespace: str,
    bucket: str,
    s3_endpoint: str,
    tmp_path: Path,
) -> None:
    unwatched = control_plane.create_namespace(f"unwatched-{uuid.uuid4().hex[:5]}")
    try:
        for ns in (release_namespace, namespace, unwatched):
            _secret(control_plane, ns)
        release, ports = _install(
            control_plane,
            helm_binary,
            tmp_path,
            release_namespace,
            bucket,
            s3_endpoint,
            [namespace],
        )
        try:
            rbac = k8s.RbacAuthorizationV1Api(control_plane.api_client)
            assert not raw(rbac.list_cluster_role, label_selector=release.selector)["items"]
            control_plane.run_kubectl("wait", "--for=condition=Established", f"crd/{CRD}")
            _check_operator_pod(control_plane, release, ports["health"])
            _wait_owner_references_admitted(release, namespace)
            name = "iris-nb"
            execution = {"foldsPerJob": 50, "maxConcurrentJobs": 3}
            for ns in (unwatched, namespace):
                manifest = _run_manifest(name, ns, execution)
                control_plane.run_kubectl("apply", "-f", "-", input=json.dumps(manifest))
            release.wait(
                lambda: (
                    _get_run(control_plane, namespace, name).get("status", {}).get("phase")
                    in ("Succeeded", "Failed")
                ),
                180,
                "the run in the watched namespace finishing",
            )
            _finish_checks(control_plane, release, namespace, name, ports["metrics"])
            # The run in the other namespace was never touched: no status, no annotation.
            other = _get_run(control_plane, unwatched, name)
            assert "status" not in other
            assert not any(
                k.startswith("loocv.dev/") for k in other["metadata"].get("annotations") or {}
            )
            _uninstall_checks(control_plane, release, [namespace])
        finally:
            release.uninstall()
    finally:
        k8s.CoreV1Api(control_plane.api_client).delete_namespace(unwatched)
