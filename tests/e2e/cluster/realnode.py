"""A real node: containerd + runc + kubelet + kube-proxy + the bridge CNI, running our images.

Why: below the API the shim only simulates a node; a real kubelet enforces what a platform
engineer meets first (the image's user, a read-only root, limits, OOM kills, termination
messages, `kubectl logs`). Everything here runs inside the private network, mount and PID
namespace that ``tests/e2e/node/isolated.sh`` creates (``in_private_namespace()``): the
bridge, veths, iptables rules and tmpfs mounts die with it.

containerd keeps its image store under the cache (``~/.cache/loocv-operator/node``), so the
images `make images` exported are imported only when they changed; its state, kubelet's and
CNI's directories are tmpfs in the namespace. Containers a previous run left behind in the
store are removed before kubelet starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from .certs import issue_certificate
from .controlplane import ControlPlane
from .kubeconfig import write_kubeconfig
from .processes import ManagedProcess, ProcessDied, wait_until

NODE_NAME = "loocv-node-0"
POD_CIDR = "10.244.0.0/24"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_COUNT = 2
SOCKET = "/run/containerd/containerd.sock"
REPO = Path(__file__).resolve().parents[3]
IMAGES_SCRIPT = REPO / "tests" / "e2e" / "images" / "build.sh"


def in_private_namespace() -> bool:
    return os.environ.get("LOOCV_E2E_ISOLATED") == "1" and bool(os.environ.get("LOOCV_E2E_NODE_IP"))


def node_cache() -> Path:
    root = os.environ.get("LOOCV_E2E_NODE_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "loocv-operator" / "node"


def images_archive() -> Path:
    """The docker-archive `make images` writes (trainer, operator, pause); built if missing."""
    version = _project_version()
    cache = Path(
        os.environ.get("LOOCV_IMAGES_CACHE", Path.home() / ".cache" / "loocv-operator" / "images")
    )
    archive = cache / f"images-{version}.tar"
    if not archive.is_file():
        subprocess.run(["bash", str(IMAGES_SCRIPT)], check=True, stdout=subprocess.DEVNULL)
    return archive


def _project_version() -> str:
    import tomllib

    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])


@dataclass
class RealNode:
    name: str
    ip: str
    containerd: ManagedProcess
    kubelet: ManagedProcess
    kube_proxy: ManagedProcess
    startup_seconds: float
    import_seconds: float

    def check_alive(self) -> None:
        for proc in (self.containerd, self.kubelet, self.kube_proxy):
            if not proc.alive():
                raise ProcessDied(f"{proc.name} exited:\n{proc.tail()}")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _containerd_config(workdir: Path, root: Path, pause_image: str) -> Path:
    # crun refuses the hybrid cgroup v1 layout: runc. restrict_oom_score_adj: the pause
    # container's -998 needs CAP_SYS_RESOURCE, absent from this machine's bounding set.
    return _write(
        workdir / "containerd.toml",
        f"""version = 2
root = "{root}"
state = "/run/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{SOCKET}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause_image}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/bin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
""",
    )


def _cni_config() -> None:
    conf = {
        "cniVersion": "1.0.0",
        "name": "loocv-e2e",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    _write(Path("/etc/cni/net.d/10-loocv.conflist"), json.dumps(conf, indent=1))


def _kubelet_config(workdir: Path, ca: Path) -> Path:
    config: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "0.0.0.0",  # the node address: the API server's `kubectl logs/exec`
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "oomScoreAdj": 0,  # -999 needs CAP_SYS_RESOURCE
        "containerRuntimeEndpoint": f"unix://{SOCKET}",
        "resolvConf": "",
        "clusterDomain": "cluster.local",
        "serializeImagePulls": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
        },
        "nodeStatusUpdateFrequency": "4s",
        "syncFrequency": "5s",
        "fileCheckFrequency": "5s",
        "maxPods": 110,
        "localStorageCapacityIsolation": True,
        "protectKernelDefaults": False,
    }
    return _write(workdir / "kubelet.json", json.dumps(config, indent=1))


def _kube_proxy_config(workdir: Path, kubeconfig: Path, node_ip: str) -> Path:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "hostnameOverride": NODE_NAME,
        "bindAddress": node_ip,
        "clusterCIDR": POD_CIDR,
        # Leave the machine-wide conntrack sysctls alone.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"masqueradeAll": True},  # no br_netfilter here: SNAT service traffic
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
    }
    return _write(workdir / "kube-proxy.json", json.dumps(config, indent=1))


def _ctr(*args: str, timeout: float = 600) -> str:
    out = subprocess.run(
        ["ctr", "--address", SOCKET, "-n", "k8s.io", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
    )
    return out.stdout


def _import_images(root: Path, archive: Path) -> float:
    """Import the archive if it changed since the last import into this store."""
    stamp = root / "loocv-imported"
    key = f"{archive}:{archive.stat().st_size}:{archive.stat().st_mtime_ns}"
    if stamp.is_file() and stamp.read_text() == key:
        return 0.0
    started = time.monotonic()
    _ctr("images", "import", str(archive))
    stamp.write_text(key)
    return time.monotonic() - started


def _remove_leftovers() -> None:
    """Containers and sandboxes of a previous run (killed with its namespace) still stand in
    the persistent store: remove them and their snapshots, so kubelet starts from scratch."""
    for cid in _ctr("containers", "ls", "-q").split():
        subprocess.run(
            ["ctr", "--address", SOCKET, "-n", "k8s.io", "containers", "rm", cid],
            capture_output=True,
            check=False,
        )
    for line in _ctr("snapshots", "ls").splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3 and parts[-1] == "Active":
            subprocess.run(
                ["ctr", "--address", SOCKET, "-n", "k8s.io", "snapshots", "rm", parts[0]],
                capture_output=True,
                check=False,
            )


def start_real_node(cp: ControlPlane, node_ip: str, pause_image: str) -> RealNode:
    """Start containerd, kubelet and kube-proxy for one node; wait until it is Ready."""
    started = time.monotonic()
    workdir = cp.workdir / "node"
    root = node_cache() / "containerd"
    root.mkdir(parents=True, exist_ok=True)
    _cni_config()
    containerd = cp.procs.start(
        "containerd",
        ["containerd", "--config", str(_containerd_config(workdir, root, pause_image))],
    )
    wait_until(
        lambda: _alive(containerd) and Path(SOCKET).exists() and bool(_ctr("version", timeout=5)),
        60,
        what="containerd",
    )
    _remove_leftovers()
    import_seconds = _import_images(root, images_archive())

    pki = cp.pki
    kubelet_cert = issue_certificate(
        pki, "kubelet", f"system:node:{NODE_NAME}", orgs=("system:nodes",)
    )
    proxy_cert = issue_certificate(pki, "kube-proxy", "system:kube-proxy")
    api = f"https://{node_ip}:{cp.ports['apiserver']}"
    kubelet_kc = write_kubeconfig(
        workdir / "kubelet.kubeconfig", api, pki.ca.cert, f"system:node:{NODE_NAME}", kubelet_cert
    )
    proxy_kc = write_kubeconfig(
        workdir / "kube-proxy.kubeconfig", api, pki.ca.cert, "system:kube-proxy", proxy_cert
    )
    kubelet = cp.procs.start(
        "kubelet",
        [
            str(cp.binaries.kubelet),
            f"--config={_kubelet_config(workdir, pki.ca.cert)}",
            f"--kubeconfig={kubelet_kc}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={node_ip}",
            f"--node-labels={_labels()}",
            f"--cert-dir={workdir / 'kubelet-pki'}",
            "--v=1",
        ],
    )
    kube_proxy = cp.procs.start(
        "kube-proxy",
        [str(cp.binaries.kube_proxy), f"--config={_kube_proxy_config(workdir, proxy_kc, node_ip)}"],
    )
    core = k8s.CoreV1Api(cp.api_client)
    wait_until(lambda: _alive(kubelet) and _ready(core), 120, what=f"node {NODE_NAME} Ready")
    _advertise_gpus(core)
    return RealNode(
        name=NODE_NAME,
        ip=node_ip,
        containerd=containerd,
        kubelet=kubelet,
        kube_proxy=kube_proxy,
        startup_seconds=time.monotonic() - started,
        import_seconds=import_seconds,
    )


def _labels() -> str:
    return f"nvidia.com/gpu.present=true,nvidia.com/gpu.count={GPU_COUNT},loocv.dev/real-node=true"


def _alive(proc: ManagedProcess) -> bool:
    if not proc.alive():
        raise ProcessDied(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
    return True


def _ready(core: k8s.CoreV1Api) -> bool:
    node = core.read_node(NODE_NAME)
    conditions = {c.type: c.status for c in node.status.conditions or []}
    return conditions.get("Ready") == "True" and not any(
        t.key == "node.kubernetes.io/not-ready" for t in node.spec.taints or []
    )


def _advertise_gpus(core: k8s.CoreV1Api) -> None:
    """An extended resource, advertised as the documented way: a node status patch."""
    core.patch_node_status(NODE_NAME, {"status": {"capacity": {GPU_RESOURCE: str(GPU_COUNT)}}})
    wait_until(
        lambda: (
            (core.read_node(NODE_NAME).status.allocatable or {}).get(GPU_RESOURCE) == str(GPU_COUNT)
        ),
        30,
        what="nvidia.com/gpu allocatable",
    )


def preempt(api_client: k8s.ApiClient, namespace: str, pod: str) -> None:
    """What the scheduler does to a preemption victim: DisruptionTarget=True, then delete.
    The real kubelet stops the container (SIGTERM) and reports the pod Failed."""
    core = k8s.CoreV1Api(api_client)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    condition = {
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "PreemptionByScheduler",
        "message": "Preempted in order to admit critical pod (loocv e2e)",
        "lastTransitionTime": now,
    }
    core.patch_namespaced_pod_status(pod, namespace, {"status": {"conditions": [condition]}})
    core.delete_namespaced_pod(pod, namespace)


def container_pid(container_id: str) -> int:
    """The host pid (this namespace's) of a running container, from containerd's task list:
    a signal sent from here is not the container's init ignoring its own namespace's kill."""
    cid = container_id.removeprefix("containerd://")
    for line in _ctr("tasks", "ls").splitlines()[1:]:
        parts = line.split()
        if parts and parts[0] == cid:
            return int(parts[1])
    raise LookupError(f"no running task for container {cid}")
