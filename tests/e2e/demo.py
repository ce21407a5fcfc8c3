"""``make demo``: a real, private Kubernetes node on this machine, running our images.

Starts, inside the private namespace of ``tests/e2e/node/isolated.sh`` (`make demo` runs it
there): the control plane (real kube-apiserver, controller-manager, scheduler and etcd), a
real node (containerd + runc + kubelet + kube-proxy) with the images `make images` built, a
real S3 server (versitygw, ``cluster/s3server.py``), and the operator as a pod of our Helm
chart; applies an example with the real kubectl and shows ``kubectl get loocvruns -w`` until
it is Complete, then prints the kubectl commands to run from another terminal. Everything
stops on exit, Ctrl-C included. ``--keep`` leaves it running until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kubernetes import client as k8s

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cluster import ensure_binaries, in_private_namespace, start_cluster
from cluster.s3server import S3Server

from tests.chart.helmbin import ensure_helm

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "demo"
RELEASE_NS = "loocv-system"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo-secret"}


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def complete(api: k8s.CustomObjectsApi, name: str) -> bool:
    run = api.get_namespaced_custom_object("loocv.dev", "v1alpha1", NAMESPACE, "loocvruns", name)
    return any(
        c["type"] in ("Complete", "Failed") and c["status"] == "True"
        for c in run.get("status", {}).get("conditions", [])
    )


def user_commands(kubectl: Path, kubeconfig: Path, name: str) -> str:
    """What to type in another terminal: the cluster listens only inside the namespace."""
    pidfile = os.environ.get("LOOCV_E2E_PIDFILE", "")
    pid = Path(pidfile).read_text().strip() if pidfile and Path(pidfile).is_file() else "<pid>"
    k = f"nsenter --net=/proc/{pid}/ns/net -- {kubectl} --kubeconfig={kubeconfig}"
    return "\n".join(
        f"  {k} {args}"
        for args in (
            "get nodes -o wide",
            f"get loocvruns -n {NAMESPACE}",
            f"describe loocvrun {name} -n {NAMESPACE}",
            f"get jobs,pods -n {NAMESPACE} -o wide",
            f"logs -n {NAMESPACE} -l app.kubernetes.io/managed-by=loocv-operator --tail=5",
            f"logs -n {RELEASE_NS} -l app.kubernetes.io/instance=loocv --tail=20",
            f"get events -n {NAMESPACE} --sort-by=.lastTimestamp",
        )
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # stop as on Ctrl-C (the namespace does the rest)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", nargs="?", default=str(REPO / "examples/wine-knn.yaml"))
    parser.add_argument("--keep", action="store_true", help="keep everything up until Ctrl-C")
    args = parser.parse_args()
    if not in_private_namespace():
        print("run through `make demo` (tests/e2e/node/isolated.sh)", file=sys.stderr)
        return 2
    name = __import__("yaml").safe_load(Path(args.manifest).read_text())["metadata"]["name"]

    say("building (first time only) and starting the control plane and a real node")
    ensure_binaries()
    helm = ensure_helm()
    cluster = start_cluster(node_specs=(), real_node=True)
    assert cluster.real_node is not None
    print(f"up in {cluster.startup_seconds:.1f}s: {cluster.run_kubectl('get', 'nodes').stdout}")
    s3 = S3Server(
        cluster.control_plane.workdir / "s3",
        bind="0.0.0.0",
        host=cluster.real_node.ip,  # pods reach it through the bridge
        access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    ).start()
    endpoint = s3.endpoint
    print(f"S3 server (versitygw, POSIX backend) at {endpoint}")
    try:
        s3.create_bucket("loocv")
        core = k8s.CoreV1Api(cluster.api_client)
        for ns in (NAMESPACE, RELEASE_NS):
            cluster.create_namespace(ns)
            core.create_namespaced_secret(
                ns, {"metadata": {"name": "s3-creds"}, "stringData": CREDENTIALS}
            )
        values = cluster.control_plane.workdir / "demo-values.json"
        values.write_text(
            json.dumps(
                {
                    "watchNamespaces": [NAMESPACE],
                    "storage": {
                        "uri": "s3://loocv/results/",
                        "endpoint": endpoint,
                        "secretName": "s3-creds",
                    },
                    "operator": {"logFormat": "plain", "statusInterval": 2},
                }
            )
        )
        say("helm install loocv charts/loocv-operator (the operator image, as a pod)")
        home = cluster.control_plane.workdir / "helm"
        env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }
        subprocess.run(
            [str(helm), "install", "loocv", str(REPO / "charts" / "loocv-operator"),
             "-n", RELEASE_NS, "--values", str(values), "--wait", "--timeout", "3m"],
            env=env,
            check=True,
        )  # fmt: skip
        say(f"kubectl apply -f {args.manifest}")
        print(cluster.run_kubectl("apply", "-n", NAMESPACE, "-f", args.manifest).stdout, end="")
        say("kubectl get loocvruns -w")
        watch = subprocess.Popen(
            [str(cluster.kubectl), f"--kubeconfig={cluster.kubeconfig}", "get", "loocvruns",
             "-n", NAMESPACE, "-w"]
        )  # fmt: skip
        api = k8s.CustomObjectsApi(cluster.api_client)
        deadline = time.monotonic() + 900
        while not complete(api, name) and time.monotonic() < deadline:
            time.sleep(1)
        time.sleep(2.5)  # one more status interval, so the watch prints the final row
        watch.terminate()
        watch.wait()
        say(f"kubectl get loocvrun {name} (status)")
        described = cluster.run_kubectl(
            "get", "loocvrun", name, "-n", NAMESPACE,
            "-o", "jsonpath={.status.conditions}{'\\n'}{.status.metrics}",
        )  # fmt: skip
        print(described.stdout)
        say("kubectl get pods (trainer pods ran from the trainer image on the real node)")
        print(cluster.run_kubectl("get", "pods", "-A", "-o", "wide").stdout)
        say("from another terminal, while this runs (--keep):")
        print(user_commands(cluster.kubectl, cluster.kubeconfig, name))
        if args.keep:
            say("still running (Ctrl-C to stop)")
            signal.pause()
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        say("stopping the S3 server, the node and the control plane")
        s3.stop()
        cluster.stop()
        cluster.cleanup()


if __name__ == "__main__":
    sys.exit(main())
