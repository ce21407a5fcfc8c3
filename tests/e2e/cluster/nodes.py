"""Fake Nodes that the real scheduler and node-lifecycle controller accept.

Why: there is no kubelet, yet the scheduler needs Ready, untainted Nodes with
capacity (some with ``nvidia.com/gpu``), and the node-lifecycle controller
marks a Node NotReady and taints/evicts its pods when heartbeats stop. So
instead of configuring that controller away, this module does what a kubelet
does for liveness: it renews each Node's Lease in ``kube-node-lease`` every few
seconds and refreshes the Ready condition. The ``node.kubernetes.io/not-ready``
taint that admission puts on new Nodes is then removed by the real controller.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from dataclasses import dataclass, field

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from .binaries import K8S_VERSION
from .processes import wait_until

GPU_RESOURCE = "nvidia.com/gpu"
GPU_LABEL = "nvidia.com/gpu.present"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40


@dataclass(frozen=True)
class NodeSpec:
    """Shape of one fake Node."""

    name: str
    cpu: str = "8"
    memory: str = "32Gi"
    pods: int = 110
    gpus: int = 0
    labels: dict[str, str] = field(default_factory=dict)

    def all_labels(self) -> dict[str, str]:
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "loocv-e2e/fake-node": "true",
        }
        if self.gpus:
            labels[GPU_LABEL] = "true"
            labels["nvidia.com/gpu.count"] = str(self.gpus)
        labels.update(self.labels)
        return labels

    def capacity(self) -> dict[str, str]:
        cap = {
            "cpu": self.cpu,
            "memory": self.memory,
            "pods": str(self.pods),
            "ephemeral-storage": "100Gi",
        }
        if self.gpus:
            cap[GPU_RESOURCE] = str(self.gpus)
        return cap


DEFAULT_NODES: tuple[NodeSpec, ...] = (
    NodeSpec("cpu-node-0"),
    NodeSpec("cpu-node-1"),
    NodeSpec("gpu-node-0", gpus=2),
    NodeSpec("gpu-node-1", gpus=2),
)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def rfc3339(t: _dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(t: _dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ready_conditions(now: _dt.datetime, since: _dt.datetime) -> list[dict[str, str]]:
    def cond(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": rfc3339(now),
            "lastTransitionTime": rfc3339(since),
        }

    return [
        cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "fake node"),
        cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "fake node"),
        cond("PIDPressure", "False", "KubeletHasSufficientPID", "fake node"),
        cond("Ready", "True", "KubeletReady", "loocv e2e kubelet shim is posting ready status"),
    ]


class FakeNodes:
    """Registers fake Nodes and keeps them Ready with Lease and status heartbeats."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        specs: tuple[NodeSpec, ...] = DEFAULT_NODES,
        lease_interval: float = 10.0,
        status_interval: float = 30.0,
    ) -> None:
        self.core = k8s.CoreV1Api(api_client)
        self.coord = k8s.CoordinationV1Api(api_client)
        self.specs = specs
        self.lease_interval = lease_interval
        self.status_interval = status_interval
        self._since = _now()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_status = 0.0

    @property
    def names(self) -> set[str]:
        return {s.name for s in self.specs}

    def gpu_nodes(self) -> list[str]:
        return [s.name for s in self.specs if s.gpus]

    def cpu_nodes(self) -> list[str]:
        return [s.name for s in self.specs if not s.gpus]

    def register(self, ready_timeout: float = 120.0) -> None:
        """Create the Nodes, start heartbeats, wait until schedulable (not-ready taint gone)."""
        for spec in self.specs:
            body = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": spec.name, "labels": spec.all_labels()},
                "spec": {},
            }
            try:
                self.core.create_node(body)
            except ApiException as exc:
                if exc.status != 409:
                    raise
            self._post_status(spec)
            self._renew_lease(spec)
        self._thread = threading.Thread(
            target=self._heartbeat_loop, name="fake-node-heartbeat", daemon=True
        )
        self._thread.start()
        wait_until(
            self._all_schedulable,
            ready_timeout,
            interval=0.5,
            what="fake nodes Ready and untainted",
        )

    def _all_schedulable(self) -> bool:
        for spec in self.specs:
            node = self.core.read_node(spec.name)
            if node.spec.taints:
                return False
        return True

    def _post_status(self, spec: NodeSpec) -> None:
        now = _now()
        cap = spec.capacity()
        status = {
            "status": {
                "capacity": cap,
                "allocatable": cap,
                "conditions": _ready_conditions(now, self._since),
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": spec.name},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
                "nodeInfo": {
                    "machineID": spec.name,
                    "systemUUID": spec.name,
                    "bootID": spec.name,
                    "kernelVersion": "loocv-e2e",
                    "osImage": "loocv-e2e kubelet shim",
                    "containerRuntimeVersion": "loocv-shim://0",
                    "kubeletVersion": K8S_VERSION,
                    "kubeProxyVersion": "",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            }
        }
        self.core.patch_node_status(spec.name, status)

    def _renew_lease(self, spec: NodeSpec) -> None:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": spec.name, "namespace": LEASE_NAMESPACE},
            "spec": {
                "holderIdentity": spec.name,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": micro_time(_now()),
            },
        }
        try:
            self.coord.patch_namespaced_lease(spec.name, LEASE_NAMESPACE, {"spec": body["spec"]})
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.coord.create_namespaced_lease(LEASE_NAMESPACE, body)

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.lease_interval):
            post_status = time.monotonic() - self._last_status >= self.status_interval
            for spec in self.specs:
                try:
                    self._renew_lease(spec)
                    if post_status:
                        self._post_status(spec)
                except Exception:
                    pass
            if post_status:
                self._last_status = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=15)
