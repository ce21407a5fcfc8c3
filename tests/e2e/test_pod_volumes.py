"""The kubelet shim's volumes: a pod finds its ServiceAccount token where in-cluster config
looks for it (and none when automount is off), emptyDirs are private to the pod, and a
read-only root filesystem is read-only. The operator's Helm install relies on all three."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from cluster import Cluster
from cluster.jobs import create_job, job_manifest, job_pods, wait_job_condition
from kubernetes import client as k8s

pytestmark = pytest.mark.e2e

PY = "python3"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"]["template"]["spec"]
    return spec


def _run(cluster: Cluster, namespace: str, manifest: dict[str, Any]) -> str:
    """Run the Job to completion and return its pod's output (a failure shows the output)."""
    name = manifest["metadata"]["name"]
    create_job(cluster, namespace, manifest)
    try:
        wait_job_condition(cluster, namespace, name, "Complete", timeout=90)
    except TimeoutError:
        pods = job_pods(cluster, namespace, name)
        logs = [cluster.shim.pod_log(namespace, p["metadata"]["name"]) for p in pods]
        statuses = [p.get("status") for p in pods]
        pytest.fail(f"Job {name} did not complete; pod logs: {logs}\nstatuses: {statuses}")
    (pod,) = job_pods(cluster, namespace, name)
    return cluster.shim.pod_log(namespace, pod["metadata"]["name"])


IN_CLUSTER = """
import json, os
from kubernetes import client, config
from kubernetes.client.rest import ApiException
d = %(sa_dir)r
out = {"files": sorted(os.listdir(d)), "namespace": open(d + "/namespace").read()}
config.load_incluster_config()
core = client.CoreV1Api()
out["pods"] = len(core.list_namespaced_pod(out["namespace"]).items)
try:
    core.list_namespaced_secret(out["namespace"])
    out["secrets"] = "allowed"
except ApiException as exc:
    out["secrets"] = exc.status
out["whoami"] = client.AuthenticationV1Api().create_self_subject_review(
    {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
).status.user_info.username
print(json.dumps(out))
"""


def test_pod_gets_a_bound_token_of_its_service_account(
    control_plane: Cluster, namespace: str
) -> None:
    core = k8s.CoreV1Api(control_plane.api_client)
    rbac = k8s.RbacAuthorizationV1Api(control_plane.api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "lister"}})
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "list-pods"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "lister"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "list-pods",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "lister", "namespace": namespace}],
        },
    )
    manifest = job_manifest("incluster", [PY, "-c", IN_CLUSTER % {"sa_dir": SA_DIR}])
    _pod_spec(manifest)["serviceAccountName"] = "lister"

    result = json.loads(_run(control_plane, namespace, manifest).strip().splitlines()[-1])

    assert result["files"] == ["ca.crt", "namespace", "token"]
    assert result["namespace"] == namespace
    assert result["pods"] >= 1  # granted by the Role: the token is the ServiceAccount's
    assert result["secrets"] == 403  # not granted: RBAC is enforced on the pod's identity
    assert result["whoami"] == f"system:serviceaccount:{namespace}:lister"
    assert not Path(SA_DIR, "token").exists()  # mounted in the pod's namespace only


def test_automount_false_gives_no_token(control_plane: Cluster, namespace: str) -> None:
    script = f"import os, sys; print(os.path.exists({SA_DIR + '/token'!r}))"
    manifest = job_manifest("notoken", [PY, "-c", script])
    _pod_spec(manifest)["automountServiceAccountToken"] = False
    assert _run(control_plane, namespace, manifest).strip() == "False"


def test_read_only_root_and_private_empty_dir(control_plane: Cluster, namespace: str) -> None:
    marker = f"loocv-e2e-{uuid.uuid4().hex}"
    script = f"""
import errno, os
open('/tmp/{marker}', 'w').write('pod')
try:
    open('/{marker}', 'w')
    print('root writable')
except OSError as exc:
    print('root', errno.errorcode[exc.errno])
print('tmp', open('/tmp/{marker}').read(), ','.join(sorted(os.listdir('/tmp'))))
"""
    manifest = job_manifest("readonly", [PY, "-c", script])
    spec = _pod_spec(manifest)
    spec["automountServiceAccountToken"] = False
    spec["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    container = spec["containers"][0]
    container["securityContext"] = {"readOnlyRootFilesystem": True}
    container["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]

    out = _run(control_plane, namespace, manifest).split()

    # /tmp held only the pod's own file, and the mount points of what the shim binds back
    # because pods run from this machine's venv and checkout (a CI clone lives under /tmp).
    kept = {
        Path(p).relative_to("/tmp").parts[0]
        for p in (sys.prefix, str(Path(__file__).resolve().parents[2]))
        if Path(p).is_relative_to("/tmp")
    }
    assert out == ["root", "EROFS", "tmp", "pod", ",".join(sorted({marker} | kept))]
    assert not Path("/tmp", marker).exists()  # the emptyDir is not the host's /tmp
    assert not Path("/", marker).exists()
