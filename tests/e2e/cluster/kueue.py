"""Kueue's controller manager against the e2e control plane, as a local process.

Why: the operator's Kueue support (Jobs created suspended with a queue label, admission,
preemption) means nothing until a real Kueue admits them. Kueue v0.19 is built from the Go
module proxy (``controlplane/build-kueue.sh``, cached like the control plane), its CRDs
come from the module's ``config/components/crd/bases``, and its webhook configurations from
``config/components/webhook/manifests.yaml`` — pointed at the process by URL
(``https://127.0.0.1:<port>``) with a serving certificate from the run's CA, since there is
no Service routing to a loopback process. Only the webhooks of what runs here are installed
(batch/v1 Jobs and Kueue's own objects), and the Job webhooks only for namespaces carrying
``MANAGED_LABEL``: other tests share the cluster and must never depend on Kueue being up.

Kueue reads its metrics certificate from the fixed path ``/etc/kueue/metrics/certs`` when
its internal cert management is off, so it runs in a private mount namespace where a
directory of this run is bind-mounted over ``/etc`` (nothing on the machine is touched).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from .binaries import VERSIONS, cache_root
from .certs import issue_certificate
from .controlplane import ControlPlane, free_port
from .processes import ProcessSet, wait_until

KUEUE_VERSION = VERSIONS["KUEUE_VERSION"]
BUILD_SCRIPT = Path(__file__).resolve().parent.parent / "controlplane" / "build-kueue.sh"
MODULE_DIR = Path(__file__).resolve().parent.parent / "controlplane" / "kueue"
GROUP, API_VERSION = "kueue.x-k8s.io", "v1beta2"
SYSTEM_NAMESPACE = "kueue-system"
MANAGED_LABEL = "loocv-e2e/kueue"  # namespaces whose Jobs Kueue manages (test_kueue.py)
WEBHOOK_PREFIX = "loocv-e2e-kueue-"
# The webhooks kept from Kueue's manifests: batch/v1 Jobs and Kueue's own resources.
KEPT_GROUPS = {"batch", GROUP}


def kueue_binary() -> Path:
    """The cached kueue binary, built by build-kueue.sh on first use (progress on stderr)."""
    path = cache_root() / "kueue" / KUEUE_VERSION / "kueue"
    if os.access(path, os.X_OK) and os.environ.get("LOOCV_E2E_FORCE") != "1":
        return path
    if os.environ.get("LOOCV_E2E_NO_BUILD") == "1":
        raise FileNotFoundError(f"kueue {KUEUE_VERSION} missing at {path}; run {BUILD_SCRIPT}")
    stream = sys.__stderr__ or sys.stderr
    print(f"\n[e2e] building kueue {KUEUE_VERSION} into {path.parent}", file=stream, flush=True)
    proc = subprocess.Popen(
        ["bash", str(BUILD_SCRIPT)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "LOOCV_E2E_CACHE": str(cache_root())},
    )
    assert proc.stderr is not None
    for raw in proc.stderr:
        stream.write(raw.decode(errors="replace"))
        stream.flush()
    if proc.wait() != 0 or not os.access(path, os.X_OK):
        raise RuntimeError(f"{BUILD_SCRIPT} failed with exit code {proc.returncode}")
    return path


def module_config_dir() -> Path:
    """``config/`` of the pinned Kueue module in Go's module cache (downloaded if needed)."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"sigs.k8s.io/kueue@{KUEUE_VERSION}"],
        cwd=MODULE_DIR,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"},
    )
    directory = Path(json.loads(out.stdout)["Dir"]) / "config" / "components"
    if not directory.is_dir():
        raise FileNotFoundError(f"no config/components in the kueue module: {directory}")
    return directory


def webhook_configurations(
    manifests: list[dict[str, Any]], port: int, ca_bundle: str
) -> list[dict[str, Any]]:
    """Kueue's webhook configurations, kept to the groups in KEPT_GROUPS, each webhook
    called by URL on loopback; the Job webhooks only in namespaces with MANAGED_LABEL."""
    out: list[dict[str, Any]] = []
    for doc in manifests:
        doc = copy.deepcopy(doc)
        kept = []
        for hook in doc.get("webhooks") or []:
            groups = {g for rule in hook.get("rules") or [] for g in rule.get("apiGroups") or []}
            if not groups or not groups <= KEPT_GROUPS:
                continue
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}", "caBundle": ca_bundle}
            if groups == {"batch"}:
                hook["namespaceSelector"] = {"matchLabels": {MANAGED_LABEL: "true"}}
            hook["timeoutSeconds"] = 10
            kept.append(hook)
        doc["metadata"] = {"name": WEBHOOK_PREFIX + doc["metadata"]["name"]}
        doc["webhooks"] = kept
        out.append(doc)
    return out


def configuration(ports: Mapping[str, int], cert_dir: Path) -> dict[str, Any]:
    """Kueue's Configuration: loopback listeners, our certificates, batch/v1 Jobs only."""
    return {
        "apiVersion": f"config.{GROUP}/{API_VERSION}",
        "kind": "Configuration",
        "namespace": SYSTEM_NAMESPACE,
        "health": {"healthProbeBindAddress": f"127.0.0.1:{ports['health']}"},
        "metrics": {"bindAddress": f"127.0.0.1:{ports['metrics']}"},
        "webhook": {"host": "127.0.0.1", "port": ports["webhook"], "certDir": str(cert_dir)},
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "manageJobsWithoutQueueName": False,
        "managedJobsNamespaceSelector": {"matchLabels": {MANAGED_LABEL: "true"}},
        "integrations": {"frameworks": ["batch/job"]},
        "controller": {"groupKindConcurrency": {"Job.batch": 5, "Workload.kueue.x-k8s.io": 5}},
    }


@dataclass
class Kueue:
    """A running Kueue: its process, log and how to reach it."""

    procs: ProcessSet
    log_path: Path
    webhooks: list[str]
    api_client: k8s.ApiClient

    def alive(self) -> bool:
        return not self.procs.dead()

    def tail(self, lines: int = 60) -> str:
        return self.procs.report(lines)

    def stop(self) -> None:
        """Remove the webhooks first (the cluster stays usable without Kueue), then stop."""
        admission = k8s.AdmissionregistrationV1Api(self.api_client)
        for name in self.webhooks:
            for delete in (
                admission.delete_mutating_webhook_configuration,
                admission.delete_validating_webhook_configuration,
            ):
                with contextlib.suppress(ApiException):
                    delete(name)
        self.procs.stop_all()


def _apply(cp: ControlPlane, docs: list[dict[str, Any]]) -> None:
    cp.run_kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump_all(docs)
    )


def _etc_overlay(workdir: Path, cert: Path, key: Path) -> Path:
    """A stand-in /etc for Kueue's mount namespace: the metrics certificate at the path
    Kueue hard-codes, plus the few files a static Go binary reads."""
    etc = workdir / "etc"
    certs = etc / "kueue" / "metrics" / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    shutil.copy(cert, certs / "tls.crt")
    shutil.copy(key, certs / "tls.key")
    for name in ("hosts", "nsswitch.conf", "resolv.conf"):
        with contextlib.suppress(OSError):
            shutil.copy(Path("/etc") / name, etc / name)
    return etc


def start_kueue(cp: ControlPlane, timeout: float = 120.0) -> Kueue:
    """CRDs, the kueue-system namespace, the process, then the webhooks once it serves."""
    binary = kueue_binary()
    components = module_config_dir()
    workdir = cp.workdir / "kueue"
    cert_dir = workdir / "webhook-certs"
    cert_dir.mkdir(parents=True, exist_ok=True)
    serving = issue_certificate(
        cp.pki, "kueue-serving", "kueue-webhook", server=True, ips=("127.0.0.1",)
    )
    shutil.copy(serving.cert, cert_dir / "tls.crt")
    shutil.copy(serving.key, cert_dir / "tls.key")
    etc = _etc_overlay(workdir, serving.cert, serving.key)

    crds = [
        yaml.safe_load(p.read_text()) for p in sorted((components / "crd" / "bases").glob("*.yaml"))
    ]
    _apply(cp, crds)
    for crd in crds:
        cp.run_kubectl(
            "wait", "--for=condition=Established", f"crd/{crd['metadata']['name']}", "--timeout=60s"
        )
    core = k8s.CoreV1Api(cp.api_client)
    with contextlib.suppress(ApiException):
        core.create_namespace({"metadata": {"name": SYSTEM_NAMESPACE}})

    ports = {"health": free_port(), "metrics": free_port(), "webhook": free_port()}
    config = workdir / "config.yaml"
    config.write_text(yaml.safe_dump(configuration(ports, cert_dir)))
    procs = ProcessSet(log_dir=cp.log_dir)
    argv = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        'mount --bind "$0" /etc && exec "$@"',
        str(etc),
        str(binary),
        f"--config={config}",
        "--feature-gates=VisibilityOnDemand=false",
        "--zap-log-level=2",
    ]
    proc = procs.start("kueue", argv, env={**os.environ, "KUBECONFIG": str(cp.kubeconfig)})
    ctx = ssl.create_default_context(cafile=str(cp.pki.ca.cert))

    def ready() -> bool:
        if not proc.alive():
            raise RuntimeError(f"kueue exited {proc.popen.returncode}:\n{proc.tail(60)}")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{ports['health']}/readyz", timeout=2
            ) as response:
                if response.status != 200:
                    return False
            # The webhook server answers TLS with our certificate (404 on /: it is up).
            urllib.request.urlopen(f"https://127.0.0.1:{ports['webhook']}/", timeout=2, context=ctx)
        except urllib.error.HTTPError as exc:
            return exc.code == 404
        except OSError:
            return False
        return True

    try:
        wait_until(ready, timeout, interval=0.5, what="kueue ready")
        manifests = list(
            yaml.safe_load_all((components / "webhook" / "manifests.yaml").read_text())
        )
        ca_bundle = base64.b64encode(cp.pki.ca.cert.read_bytes()).decode()
        hooks = webhook_configurations([m for m in manifests if m], ports["webhook"], ca_bundle)
        _apply(cp, hooks)
    except BaseException:
        procs.stop_all()
        raise
    return Kueue(procs, proc.log_path, [h["metadata"]["name"] for h in hooks], cp.api_client)


# ---------------------------------------------------------------- the queue objects


def resource_flavor(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{API_VERSION}",
        "kind": "ResourceFlavor",
        "metadata": {"name": name},
    }


def cluster_queue(name: str, flavor: str, quota: Mapping[str, str]) -> dict[str, Any]:
    """A ClusterQueue with one flavor and ``quota`` per resource; lower priority is preempted."""
    return {
        "apiVersion": f"{GROUP}/{API_VERSION}",
        "kind": "ClusterQueue",
        "metadata": {"name": name},
        "spec": {
            "namespaceSelector": {},
            "queueingStrategy": "BestEffortFIFO",
            "preemption": {"withinClusterQueue": "LowerPriority"},
            "resourceGroups": [
                {
                    "coveredResources": list(quota),
                    "flavors": [
                        {
                            "name": flavor,
                            "resources": [{"name": r, "nominalQuota": q} for r, q in quota.items()],
                        }
                    ],
                }
            ],
        },
    }


def local_queue(name: str, namespace: str, cluster_queue_name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{API_VERSION}",
        "kind": "LocalQueue",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterQueue": cluster_queue_name},
    }


def workloads(api_client: k8s.ApiClient, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = k8s.CustomObjectsApi(api_client).list_namespaced_custom_object(
        GROUP, API_VERSION, namespace, "workloads"
    )["items"]
    return items


def apply_objects(cp: ControlPlane, docs: list[dict[str, Any]]) -> None:
    """Apply Kueue objects (through Kueue's own webhooks) with the pinned kubectl."""
    _apply(cp, docs)


def iter_conditions(obj: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from (obj.get("status") or {}).get("conditions") or []
