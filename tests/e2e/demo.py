"""``make demo``: the closest a newcomer gets to a cluster without one.

Starts the local control plane (real kube-apiserver, controller-manager, scheduler and etcd,
fake nodes, pods run as local processes), an S3 server on loopback and the operator; applies
an example with the real kubectl and shows ``kubectl get loocvruns -w`` until it is Complete.
Everything started here is stopped on exit, Ctrl-C included. ``--keep`` leaves it all
running until Ctrl-C, with the KUBECONFIG to use from another terminal.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from kubernetes import client as k8s

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cluster import ensure_binaries, start_cluster

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "demo"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo-secret"}


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def complete(api: k8s.CustomObjectsApi, name: str) -> bool:
    run = api.get_namespaced_custom_object("loocv.dev", "v1alpha1", NAMESPACE, "loocvruns", name)
    return any(
        c["type"] in ("Complete", "Failed") and c["status"] == "True"
        for c in run.get("status", {}).get("conditions", [])
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", nargs="?", default=str(REPO / "examples/wine-knn.yaml"))
    parser.add_argument("--keep", action="store_true", help="keep everything up until Ctrl-C")
    args = parser.parse_args()
    name = __import__("yaml").safe_load(Path(args.manifest).read_text())["metadata"]["name"]

    say("building (first time only) and starting the control plane")
    ensure_binaries()
    cluster = start_cluster()
    from moto.server import ThreadedMotoServer

    port = free_port()
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    s3.start()
    endpoint = f"http://127.0.0.1:{port}"
    operator: subprocess.Popen[bytes] | None = None
    log = Path(tempfile.mkdtemp(prefix="loocv-demo-")) / "operator.log"
    try:
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            **{k.lower(): v for k, v in CREDENTIALS.items()},
        ).create_bucket(Bucket="loocv")
        cluster.create_namespace(NAMESPACE)
        k8s.CoreV1Api(cluster.api_client).create_namespaced_secret(
            NAMESPACE, {"metadata": {"name": "s3-creds"}, "stringData": CREDENTIALS}
        )
        say("kubectl apply -f crds/loocvruns.loocv.dev.yaml")
        print(cluster.run_kubectl("apply", "-f", str(REPO / "crds")).stdout, end="")
        cluster.run_kubectl(
            "wait", "--for=condition=Established", "crd/loocvruns.loocv.dev", "--timeout=60s"
        )
        say(f"starting the operator (log: {log})")
        env = {**os.environ, **CREDENTIALS, "KUBECONFIG": str(cluster.kubeconfig)}
        operator = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "loocv"),
                "operator",
                "--namespace",
                NAMESPACE,
                "--storage-uri",
                "s3://loocv/results/",
                "--s3-endpoint",
                endpoint,
                "--storage-secret",
                "s3-creds",
                "--status-interval",
                "2",
                "--metrics-port",
                "0",
                "--liveness",
                "none",
            ],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        say(f"kubectl apply -f {args.manifest}")
        print(cluster.run_kubectl("apply", "-n", NAMESPACE, "-f", args.manifest).stdout, end="")
        say("kubectl get loocvruns -w")
        watch = subprocess.Popen(
            [
                str(cluster.kubectl),
                f"--kubeconfig={cluster.kubeconfig}",
                "get",
                "loocvruns",
                "-n",
                NAMESPACE,
                "-w",
            ]
        )
        api = k8s.CustomObjectsApi(cluster.api_client)
        deadline = time.monotonic() + 900
        while not complete(api, name) and time.monotonic() < deadline:
            time.sleep(1)
        time.sleep(2.5)  # one more status interval, so the watch prints the final row
        watch.terminate()
        watch.wait()
        say(f"kubectl describe loocvrun {name} (status)")
        described = cluster.run_kubectl(
            "get",
            "loocvrun",
            name,
            "-n",
            NAMESPACE,
            "-o",
            "jsonpath={.status.conditions}{'\\n'}{.status.metrics}",
        )
        print(described.stdout)
        if args.keep:
            say(f"still running: export KUBECONFIG={cluster.kubeconfig}  (Ctrl-C to stop)")
            signal.pause()
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        say("stopping the operator, the S3 server and the control plane")
        if operator is not None and operator.poll() is None:
            os.killpg(operator.pid, signal.SIGTERM)
            operator.wait(timeout=20)
        s3.stop()
        cluster.stop()
        cluster.cleanup()


if __name__ == "__main__":
    sys.exit(main())
