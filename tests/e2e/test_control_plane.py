"""Smoke tests proving the e2e harness: real control plane, fake nodes, kubelet shim.

Each test drives the *real* Job controller / scheduler / garbage collector /
RBAC; only the kubelet is simulated. If these pass, the operator's own e2e
tests can trust what the cluster reports.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cluster import GPU_LABEL, K8S_VERSION, Cluster
from cluster.controlplane import SA_ISSUER
from cluster.jobs import (
    create_job,
    get_job,
    job_manifest,
    job_pods,
    wait_job_condition,
    wait_pod_phase,
)
from cluster.kubelet_shim import raw
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.e2e

PY = "python3"


def test_kubectl_version_shows_pinned_version(control_plane: Cluster) -> None:
    out = json.loads(control_plane.run_kubectl("version", "-o", "json").stdout)
    assert out["clientVersion"]["gitVersion"] == K8S_VERSION
    assert out["serverVersion"]["gitVersion"] == K8S_VERSION


def test_plain_job_completes(control_plane: Cluster, namespace: str) -> None:
    manifest = job_manifest("hello", [PY, "-c", "print(1)"])
    applied = control_plane.run_kubectl(
        "apply", "-n", namespace, "-f", "-", input=json.dumps(manifest)
    )
    assert "job.batch/hello created" in applied.stdout

    job = wait_job_condition(control_plane, namespace, "hello", "Complete")
    assert job["status"]["succeeded"] == 1
    (pod,) = job_pods(control_plane, namespace, "hello")
    assert pod["spec"]["nodeName"] in control_plane.nodes.names  # bound by the real scheduler
    assert pod["status"]["phase"] == "Succeeded"
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0
    assert control_plane.shim.pod_log(namespace, pod["metadata"]["name"]).strip() == "1"


def test_env_is_resolved_like_a_kubelet(control_plane: Cluster, namespace: str) -> None:
    core = k8s.CoreV1Api(control_plane.api_client)
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "creds"}, "stringData": {"token": "s3cret", "USER": "bob"}}
    )
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "cfg"}, "data": {"mode": "loocv"}}
    )
    env: list[dict[str, Any]] = [
        {"name": "PLAIN", "value": "x"},
        {"name": "EXPANDED", "value": "$(PLAIN)-y"},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    names = ["PLAIN", "EXPANDED", "TOKEN", "MODE", "POD", "NS", "USER"]
    script = f"import json,os; print(json.dumps({{k: os.environ.get(k) for k in {names!r}}}))"
    manifest = job_manifest("env", [PY, "-c", script], env=env)
    manifest["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [
        {"secretRef": {"name": "creds"}}
    ]
    create_job(control_plane, namespace, manifest)
    wait_job_condition(control_plane, namespace, "env", "Complete")
    (pod,) = job_pods(control_plane, namespace, "env")
    got = json.loads(control_plane.shim.pod_log(namespace, pod["metadata"]["name"]))
    assert got == {
        "PLAIN": "x",
        "EXPANDED": "x-y",
        "TOKEN": "s3cret",
        "MODE": "loocv",
        "POD": pod["metadata"]["name"],
        "NS": namespace,
        "USER": "bob",
    }


def test_indexed_job_pods_get_their_completion_index(
    control_plane: Cluster, namespace: str
) -> None:
    script = "import os; print(os.environ['JOB_COMPLETION_INDEX'])"
    manifest = job_manifest("indexed", [PY, "-c", script], parallelism=3, completions=3)
    manifest["spec"]["completionMode"] = "Indexed"
    create_job(control_plane, namespace, manifest)
    job = wait_job_condition(control_plane, namespace, "indexed", "Complete")
    assert job["status"]["succeeded"] == 3
    printed = {
        control_plane.shim.pod_log(namespace, p["metadata"]["name"]).strip()
        for p in job_pods(control_plane, namespace, "indexed")
    }
    assert printed == {"0", "1", "2"}


def test_nodes_are_ready_and_untainted(control_plane: Cluster) -> None:
    nodes = json.loads(control_plane.run_kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert {n["metadata"]["name"] for n in nodes} == control_plane.nodes.names
    for node in nodes:
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True"
        assert not node["spec"].get("taints")


def test_gpu_job_lands_on_gpu_node(control_plane: Cluster, namespace: str) -> None:
    manifest = job_manifest(
        "gpu", [PY, "-c", "print('gpu')"], resources={"limits": {"nvidia.com/gpu": "1"}}
    )
    create_job(control_plane, namespace, manifest)
    wait_job_condition(control_plane, namespace, "gpu", "Complete")
    (pod,) = job_pods(control_plane, namespace, "gpu")
    node_name = pod["spec"]["nodeName"]
    assert node_name in control_plane.nodes.gpu_nodes()
    node = raw(k8s.CoreV1Api(control_plane.api_client).read_node, node_name)
    assert node["metadata"]["labels"][GPU_LABEL] == "true"


def test_preemption_is_ignored_by_pod_failure_policy(
    control_plane: Cluster, namespace: str, tmp_path: Path
) -> None:
    marker = tmp_path / "first-pod-ran"
    # The first pod sleeps (and gets preempted); its replacement sees the marker and succeeds.
    script = (
        "import os, sys, time\n"
        f"m = {str(marker)!r}\n"
        "if os.path.exists(m): sys.exit(0)\n"
        "open(m, 'w').close()\n"
        "time.sleep(300)\n"
    )
    policy = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}
    create_job(
        control_plane,
        namespace,
        job_manifest("preempt", [PY, "-c", script], pod_failure_policy=policy),
    )
    victim = wait_pod_phase(control_plane, namespace, "preempt", "Running")
    control_plane.wait_for(marker.exists, 30, what="first pod started its process")

    control_plane.preempt(namespace, victim["metadata"]["name"])

    job = wait_job_condition(control_plane, namespace, "preempt", "Complete")
    assert job["status"].get("failed", 0) == 0  # the disruption is not counted (backoffLimit is 0)
    assert job["status"]["succeeded"] == 1
    pods = job_pods(control_plane, namespace, "preempt")
    assert len(pods) == 2
    first = next(p for p in pods if p["metadata"]["uid"] == victim["metadata"]["uid"])
    assert first["status"]["phase"] == "Failed"
    cond = next(c for c in first["status"]["conditions"] if c["type"] == "DisruptionTarget")
    assert cond["status"] == "True" and cond["reason"] == "PreemptionByScheduler"


def test_exit_code_rule_fails_job_at_once(control_plane: Cluster, namespace: str) -> None:
    policy = {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {"containerName": "main", "operator": "In", "values": [3]},
            }
        ]
    }
    manifest = job_manifest(
        "exit3", [PY, "-c", "import sys; sys.exit(3)"], backoff_limit=6, pod_failure_policy=policy
    )
    create_job(control_plane, namespace, manifest)
    job = wait_job_condition(control_plane, namespace, "exit3", "Failed")
    assert job_condition_reason(job, "Failed") == "PodFailurePolicy"
    assert job["status"]["failed"] == 1
    pods = job_pods(control_plane, namespace, "exit3")
    assert len(pods) == 1  # no retry despite backoffLimit 6
    assert pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


def job_condition_reason(job: dict[str, Any], kind: str) -> str | None:
    for cond in job["status"].get("conditions") or []:
        if cond["type"] == kind:
            return str(cond.get("reason"))
    return None


def test_on_failure_restarts_container_in_place(
    control_plane: Cluster, namespace: str, tmp_path: Path
) -> None:
    marker = tmp_path / "failed-once"
    script = (
        "import os, sys\n"
        f"m = {str(marker)!r}\n"
        "if os.path.exists(m): sys.exit(0)\n"
        "open(m, 'w').close()\n"
        "sys.exit(1)\n"
    )
    manifest = job_manifest("restart", [PY, "-c", script], backoff_limit=2)
    manifest["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    create_job(control_plane, namespace, manifest)
    wait_job_condition(control_plane, namespace, "restart", "Complete")
    (pod,) = job_pods(control_plane, namespace, "restart")  # same pod, restarted by the "kubelet"
    status = pod["status"]["containerStatuses"][0]
    assert status["restartCount"] == 1
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert status["state"]["terminated"]["exitCode"] == 0


def test_background_deletion_garbage_collects_pods(control_plane: Cluster, namespace: str) -> None:
    manifest = job_manifest(
        "gc", [PY, "-c", "import time; time.sleep(300)"], parallelism=2, completions=2
    )
    create_job(control_plane, namespace, manifest)
    control_plane.wait_for(
        lambda: (
            sum(
                p["status"].get("phase") == "Running"
                for p in job_pods(control_plane, namespace, "gc")
            )
            == 2
        ),
        60,
        what="two running pods",
    )
    pids_before = set(control_plane.shim.running_pids())
    assert pids_before

    k8s.BatchV1Api(control_plane.api_client).delete_namespaced_job(
        "gc", namespace, body={"propagationPolicy": "Background"}
    )
    control_plane.wait_for(
        lambda: not job_pods(control_plane, namespace, "gc"), 90, what="pods garbage-collected"
    )
    with pytest.raises(ApiException) as err:
        get_job(control_plane, namespace, "gc")
    assert err.value.status == 404
    control_plane.wait_for(
        lambda: not (pids_before & set(control_plane.shim.running_pids())),
        30,
        what="pod processes killed",
    )


def test_service_account_token_under_rbac(control_plane: Cluster, namespace: str) -> None:
    core = k8s.CoreV1Api(control_plane.api_client)
    rbac = k8s.RbacAuthorizationV1Api(control_plane.api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "reader-pods"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "pod-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    )
    tr = raw(
        core.create_namespaced_service_account_token,
        "reader",
        namespace,
        {"spec": {"expirationSeconds": 600}},
    )
    token = tr["status"]["token"]
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert payload["iss"] == SA_ISSUER
    assert payload["sub"] == f"system:serviceaccount:{namespace}:reader"

    cfg = k8s.Configuration(host=control_plane.api_url)
    cfg.ssl_ca_cert = str(control_plane.ca_cert)
    with k8s.ApiClient(
        cfg, header_name="Authorization", header_value=f"Bearer {token}"
    ) as sa_client:
        sa_core = k8s.CoreV1Api(sa_client)
        control_plane.wait_for(
            lambda: raw(sa_core.list_namespaced_pod, namespace) is not None,
            30,
            what="RBAC binding effective",
        )
        with pytest.raises(ApiException) as err:
            sa_core.list_namespaced_secret(namespace)
        assert err.value.status == 403
        with pytest.raises(ApiException) as err:
            sa_core.list_namespaced_pod("default")
        assert err.value.status == 403
