"""A real Kubernetes control plane with fake nodes, for the operator's e2e tests.

``start_cluster()`` returns a ``Cluster``: etcd + kube-apiserver +
kube-controller-manager + kube-scheduler (real binaries built from the Go
module proxy, see ``tests/e2e/controlplane``), fake Nodes kept Ready, and a
kubelet shim that runs pods as local processes. ``Cluster.stop()`` kills every
process it started (also run from ``atexit``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from .binaries import ETCD_VERSION, K8S_VERSION, Binaries, ensure_binaries
from .controlplane import ControlPlane, start_control_plane
from .kubelet_shim import KubeletShim
from .nodes import DEFAULT_NODES, GPU_LABEL, GPU_RESOURCE, FakeNodes, NodeSpec
from .processes import wait_until
from .realnode import RealNode, in_private_namespace, preempt, start_real_node

PAUSE_IMAGE = "localhost/loocv-pause:1.0"  # tests/e2e/images/env.sh

__all__ = [
    "DEFAULT_NODES",
    "ETCD_VERSION",
    "GPU_LABEL",
    "GPU_RESOURCE",
    "K8S_VERSION",
    "Binaries",
    "Cluster",
    "KubeletShim",
    "NodeSpec",
    "RealNode",
    "ensure_binaries",
    "in_private_namespace",
    "start_cluster",
    "wait_until",
]


@dataclass
class Cluster:
    """Handle given to tests: endpoints, credentials, clients, the shim."""

    control_plane: ControlPlane
    nodes: FakeNodes
    shim: KubeletShim
    startup_seconds: float = 0.0
    real_node: RealNode | None = None  # with start_cluster(real_node=True)
    _stopped: bool = False

    @property
    def kubeconfig(self) -> Path:
        return self.control_plane.kubeconfig

    @property
    def api_url(self) -> str:
        return self.control_plane.api_url

    @property
    def api_client(self) -> k8s.ApiClient:
        return self.control_plane.api_client

    @property
    def kubectl(self) -> Path:
        return self.control_plane.kubectl

    @property
    def ca_cert(self) -> Path:
        return self.control_plane.pki.ca.cert

    @property
    def log_dir(self) -> Path:
        return self.control_plane.log_dir

    def run_kubectl(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.control_plane.run_kubectl(*args, check=check, input=input)

    def preempt(self, namespace: str, pod_name: str, **kwargs: Any) -> None:
        """Inject a preemption (DisruptionTarget + Failed) into a running pod."""
        if self.real_node is not None:
            preempt(self.api_client, namespace, pod_name)
            return
        self.shim.preempt(namespace, pod_name, **kwargs)

    def create_namespace(self, name: str, timeout: float = 60.0) -> str:
        """Create a namespace and wait for its ``default`` ServiceAccount.

        Pods are rejected by the ServiceAccount admission plugin until the
        controller-manager has created that account, so Jobs created right
        after the namespace would otherwise see pod creation errors and back off.
        """
        core = k8s.CoreV1Api(self.api_client)
        try:
            core.create_namespace(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            )
        except ApiException as exc:
            if exc.status != 409:
                raise
        wait_until(
            lambda: bool(core.read_namespaced_service_account("default", name)),
            timeout,
            what=f"ServiceAccount {name}/default",
        )
        return name

    def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 60.0, what: str = ""
    ) -> None:
        """wait_until that also fails fast if a control-plane process died."""

        def check() -> bool:
            self.control_plane.check_alive()
            if self.real_node is not None:
                self.real_node.check_alive()
            return predicate()

        try:
            wait_until(check, timeout, interval=0.3, what=what)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\nshim errors: {self.shim.errors[-5:]}") from None

    def diagnostics(self, lines: int = 30) -> str:
        """Component log tails and shim errors, for failure reports."""
        shim = "\n".join(self.shim.errors[-20:]) or "(none)"
        return f"{self.control_plane.procs.report(lines)}\n===== kubelet shim errors =====\n{shim}"

    def stop(self) -> None:
        """Stop the shim (kills pod processes), heartbeats, then the control plane by pid."""
        if self._stopped:
            return
        self._stopped = True
        for step in (self.shim.stop, self.nodes.stop, self.control_plane.stop):
            with contextlib.suppress(Exception):
                step()

    def cleanup(self) -> None:
        """Remove the temp dir (certs, etcd data, logs); call after stop()."""
        shutil.rmtree(self.control_plane.workdir, ignore_errors=True)


def start_cluster(
    node_specs: tuple[NodeSpec, ...] = DEFAULT_NODES,
    entrypoints: dict[str, list[str]] | None = None,
    extra_env: dict[str, str] | None = None,
    real_node: bool = False,
) -> Cluster:
    """Start control plane, register nodes, start the shim; all or nothing.

    ``real_node``: also a real node (containerd, kubelet, kube-proxy) running our images;
    only inside the private namespace of ``tests/e2e/node/isolated.sh``. Fake nodes given
    in ``node_specs`` then sit beside it (pass ``()`` for the real node alone).
    """
    started = time.monotonic()
    node_ip = os.environ.get("LOOCV_E2E_NODE_IP") if real_node else None
    if real_node and not in_private_namespace():
        raise RuntimeError("a real node runs only inside tests/e2e/node/isolated.sh")
    cp = start_control_plane(node_ip=node_ip)
    nodes: FakeNodes | None = None
    shim: KubeletShim | None = None
    real: RealNode | None = None
    try:
        if node_ip is not None:
            real = start_real_node(cp, node_ip, os.environ.get("PAUSE_IMAGE", PAUSE_IMAGE))
        nodes = FakeNodes(cp.new_api_client(), node_specs)
        shim = KubeletShim(
            cp.new_api_client,
            nodes.names,
            cp.workdir / "pods",
            cp.ports["apiserver"],
            entrypoints=entrypoints,
            extra_env=extra_env,
        )
        shim.start()
        nodes.register()
    except BaseException:
        if shim is not None:
            shim.stop()
        if nodes is not None:
            nodes.stop()
        print(cp.procs.report(), flush=True)
        cp.stop()
        raise
    cluster = Cluster(
        control_plane=cp,
        nodes=nodes,
        shim=shim,
        startup_seconds=time.monotonic() - started,
        real_node=real,
    )
    atexit.register(cluster.stop)
    return cluster
