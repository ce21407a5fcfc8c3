"""Run etcd, kube-apiserver, kube-controller-manager and kube-scheduler on loopback.

Why: the operator's Jobs must be driven by the *real* Job controller, garbage
collector, scheduler and RBAC, not by mocks. Each component listens on a free
127.0.0.1 port, logs to its own file and is stopped by pid on shutdown.

Configured away (and why):
* etcd serves plain HTTP on 127.0.0.1 and skips fsync (``--unsafe-no-fsync``):
  the data is thrown away after the run and fsync is slow on a shared disk.
* No kubelet, so the API server has no kubelet client certificate: ``kubectl
  logs/exec`` do not work (read pod output with ``KubeletShim.pod_log``).
* No front-proxy / aggregation-layer certificates: no aggregated APIs here.
* Leader election is off (one replica of each component).

Opt-in, off by default (the e2e tier does not use it): the API server's audit log
(``start_control_plane(audit_policy=...)``), one JSON line per request, for counting who
asks what (bench/operator_scale.py counts the operator's requests with it).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from .binaries import Binaries, ensure_binaries
from .certs import Pki, generate_pki
from .kubeconfig import write_kubeconfig
from .processes import ManagedProcess, ProcessDied, ProcessSet, wait_until

SERVICE_CIDR = "10.96.0.0/24"
SERVICE_IP = "10.96.0.1"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"

# Every request at level Metadata (who, verb, resource, namespace, name, response code,
# timestamps; no bodies), one event per request once its response is complete (a watch
# also logs ResponseStarted, with the same auditID).
METADATA_AUDIT_POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata"}],
}


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _https_ok(url: str, ctx: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@dataclass
class ControlPlane:
    """A running control plane: its files, endpoints, processes and an API client."""

    binaries: Binaries
    workdir: Path
    pki: Pki
    api_url: str
    kubeconfig: Path
    procs: ProcessSet
    api_client: k8s.ApiClient
    ports: dict[str, int] = field(default_factory=dict)
    audit_log: Path | None = None  # the API server's audit log (JSON lines), when asked for

    @property
    def kubectl(self) -> Path:
        return self.binaries.kubectl

    @property
    def log_dir(self) -> Path:
        return self.procs.log_dir

    def run_kubectl(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the pinned kubectl against this cluster."""
        return subprocess.run(
            [str(self.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=check,
            input=input,
            timeout=120,
        )

    def new_api_client(self) -> k8s.ApiClient:
        """A fresh admin ApiClient (each thread that blocks on watches should have its own)."""
        return k8s_config.new_client_from_config(config_file=str(self.kubeconfig))

    def check_alive(self) -> None:
        dead = self.procs.dead()
        if dead:
            raise RuntimeError(
                "control-plane process(es) died: "
                + ", ".join(f"{p.name} (exit {p.popen.returncode})" for p in dead)
                + "\n"
                + self.procs.report()
            )

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.api_client.close()
        self.procs.stop_all()

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def _start_etcd(
    bins: Binaries, procs: ProcessSet, workdir: Path, ports: dict[str, int]
) -> ManagedProcess:
    client_url = f"http://127.0.0.1:{ports['etcd']}"
    peer_url = f"http://127.0.0.1:{ports['etcd-peer']}"
    return procs.start(
        "etcd",
        [
            str(bins.etcd),
            "--name=e2e",
            f"--data-dir={workdir / 'etcd'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=e2e={peer_url}",
            "--initial-cluster-state=new",
            "--unsafe-no-fsync",
            "--log-level=warn",
            "--quota-backend-bytes=2147483648",
        ],
    )


def _real_node_args(node_ip: str | None, pki: Pki) -> list[str]:
    """With a real node: listen on the namespace's node address too (pods reach the API at
    the kubernetes Service, 10.96.0.1, which kube-proxy sends to node_ip), and present a
    client certificate to the kubelet (`kubectl logs/exec`)."""
    if node_ip is None:
        return [
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
        ]
    return [
        "--bind-address=0.0.0.0",
        f"--advertise-address={node_ip}",
        f"--kubelet-client-certificate={pki.admin.cert}",
        f"--kubelet-client-key={pki.admin.key}",
        "--kubelet-preferred-address-types=InternalIP",
    ]


def _apiserver_args(
    bins: Binaries, workdir: Path, pki: Pki, ports: dict[str, int], node_ip: str | None = None
) -> list[str]:
    return [
        str(bins.kube_apiserver),
        f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
        f"--secure-port={ports['apiserver']}",
        f"--cert-dir={workdir / 'apiserver-certs'}",
        f"--tls-cert-file={pki.apiserver.cert}",
        f"--tls-private-key-file={pki.apiserver.key}",
        f"--client-ca-file={pki.ca.cert}",
        # No front proxy is used; naming a CA (and a CN nobody has a cert for) keeps the
        # extension-apiserver-authentication ConfigMap complete so components stop logging errors.
        f"--requestheader-client-ca-file={pki.ca.cert}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--authorization-mode=Node,RBAC",
        "--anonymous-auth=true",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--service-account-issuer={SA_ISSUER}",
        f"--service-account-key-file={pki.sa_public_key}",
        f"--service-account-signing-key-file={pki.sa_private_key}",
        "--allow-privileged=true",
        # On top of the defaults, as in OpenShift and hardened clusters: setting
        # blockOwnerDeletion in an ownerReference needs `update` on the owner's finalizers
        # subresource, so the e2e tier proves the operator's RBAC grants it.
        "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
        # Without a real node, the kubernetes Service's Endpoints could only hold a loopback
        # IP, which is refused: shim pods get KUBERNETES_SERVICE_HOST=127.0.0.1 instead.
        *_real_node_args(node_ip, pki),
        "--profiling=false",
        "--v=1",
    ]


def _component_common(kubeconfig: Path, port: int, certdir: Path) -> list[str]:
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={certdir}",
        "--leader-elect=false",
        "--profiling=false",
    ]


def _audit_args(workdir: Path, policy: Mapping[str, Any]) -> list[str]:
    """The API server's audit log: a policy file (JSON is YAML) and a JSON-lines log file
    under logs/, never rotated (the cluster lives for one run)."""
    policy_file = workdir / "audit-policy.yaml"
    policy_file.parent.mkdir(parents=True, exist_ok=True)
    policy_file.write_text(json.dumps(dict(policy), indent=1))
    return [
        f"--audit-policy-file={policy_file}",
        f"--audit-log-path={workdir / 'logs' / 'audit.log'}",
        "--audit-log-format=json",
        "--audit-log-mode=blocking",
        "--audit-log-maxsize=0",
        "--audit-log-maxbackup=0",
    ]


def start_control_plane(
    workdir: Path | None = None,
    startup_timeout: float = 180.0,
    audit_policy: Mapping[str, Any] | None = None,
    node_ip: str | None = None,
) -> ControlPlane:
    """Build-if-needed and start a fresh control plane; stops everything if startup fails.

    ``audit_policy`` (an audit.k8s.io/v1 Policy as a dict, e.g. METADATA_AUDIT_POLICY)
    turns on the API server's audit log at ``ControlPlane.audit_log``; default off.
    """
    bins = ensure_binaries()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="loocv-e2e-"))
    procs = ProcessSet(log_dir=workdir / "logs")
    try:
        return _start(bins, workdir, procs, startup_timeout, audit_policy, node_ip)
    except BaseException:
        report = procs.report()
        procs.stop_all(grace=5)
        if report:
            print(
                f"\n[e2e] control plane failed to start; logs in {procs.log_dir}\n{report}",
                flush=True,
            )
        raise


def _start(
    bins: Binaries,
    workdir: Path,
    procs: ProcessSet,
    timeout: float,
    audit_policy: Mapping[str, Any] | None = None,
    node_ip: str | None = None,
) -> ControlPlane:
    ports = {name: free_port() for name in ("etcd", "etcd-peer", "apiserver", "kcm", "scheduler")}
    pki = generate_pki(workdir / "pki", SERVICE_IP, node_ip)
    api_url = f"https://127.0.0.1:{ports['apiserver']}"
    admin_kc = write_kubeconfig(
        workdir / "admin.kubeconfig", api_url, pki.ca.cert, "kubernetes-admin", pki.admin
    )
    kcm_kc = write_kubeconfig(
        workdir / "controller-manager.kubeconfig",
        api_url,
        pki.ca.cert,
        "system:kube-controller-manager",
        pki.controller_manager,
    )
    sched_kc = write_kubeconfig(
        workdir / "scheduler.kubeconfig",
        api_url,
        pki.ca.cert,
        "system:kube-scheduler",
        pki.scheduler,
    )

    etcd = _start_etcd(bins, procs, workdir, ports)

    def etcd_ok() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['etcd']}/health", timeout=2) as r:
            return bool(json.loads(r.read()).get("health") == "true")

    _wait(etcd, etcd_ok, 60, "etcd /health")

    apiserver_args = _apiserver_args(bins, workdir, pki, ports, node_ip)
    if audit_policy is not None:
        apiserver_args += _audit_args(workdir, audit_policy)
    apiserver = procs.start("kube-apiserver", apiserver_args)
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    ctx.load_cert_chain(str(pki.admin.cert), str(pki.admin.key))
    _wait(
        apiserver,
        lambda: _https_ok(f"{api_url}/readyz", ctx),
        timeout,
        "kube-apiserver /readyz",
    )

    kcm = procs.start(
        "kube-controller-manager",
        [
            str(bins.kube_controller_manager),
            *_component_common(kcm_kc, ports["kcm"], workdir / "kcm-certs"),
            f"--service-account-private-key-file={pki.sa_private_key}",
            f"--root-ca-file={pki.ca.cert}",
            "--use-service-account-credentials=true",
            f"--cluster-signing-cert-file={pki.ca.cert}",
            f"--cluster-signing-key-file={pki.ca.key}",
            "--controllers=*",
            "--v=2",
        ],
    )
    sched = procs.start(
        "kube-scheduler",
        [
            str(bins.kube_scheduler),
            *_component_common(sched_kc, ports["scheduler"], workdir / "scheduler-certs"),
            "--v=2",
        ],
    )
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    _wait(
        kcm,
        lambda: _https_ok(f"https://127.0.0.1:{ports['kcm']}/healthz", insecure),
        timeout,
        "kube-controller-manager /healthz",
    )
    _wait(
        sched,
        lambda: _https_ok(f"https://127.0.0.1:{ports['scheduler']}/healthz", insecure),
        timeout,
        "kube-scheduler /healthz",
    )

    api_client = k8s_config.new_client_from_config(config_file=str(admin_kc))
    core = k8s.CoreV1Api(api_client)
    # The service-account controller runs: the default namespace gets its ServiceAccount.
    _wait(
        kcm,
        lambda: bool(core.read_namespaced_service_account("default", "default")),
        timeout,
        "default ServiceAccount (controller-manager working)",
    )
    return ControlPlane(
        binaries=bins,
        workdir=workdir,
        pki=pki,
        api_url=api_url,
        kubeconfig=admin_kc,
        procs=procs,
        api_client=api_client,
        ports=ports,
        audit_log=workdir / "logs" / "audit.log" if audit_policy is not None else None,
    )


def _wait(proc: ManagedProcess, ok: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for ``ok``; fail at once with the log tail if ``proc`` exits meanwhile."""

    def check() -> bool:
        if not proc.alive():
            raise ProcessDied(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        return bool(ok())

    wait_until(check, timeout, interval=0.3, what=what)
