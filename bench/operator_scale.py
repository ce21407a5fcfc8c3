# ruff: noqa: E501, RUF001, RUF002  (markdown table rows: long lines, multiplication and minus signs)
"""Benchmark part 4 (issue 6): operator scale on the end-to-end control plane.

``python -m bench.operator_scale`` starts the e2e harness's real control plane
(tests/e2e/cluster: kube-apiserver with its audit log on, etcd, controller-manager,
scheduler, fake nodes, the kubelet shim running pods as local processes), an S3 server on
loopback (versitygw, a real S3 gateway built from the Go module proxy; ``--s3 moto`` for the
Python emulation measured before), counting requests per access key, and for each batch
setting one ``loocv operator`` process under the chart's namespaced RBAC, logged in as its
own ServiceAccount. It uploads a 10,000 × 10 classification CSV, applies a LeaveOneOut
LOOCVRun over it (GaussianNB, ``fastPath: off``: every fold really fitted) with kubectl and
measures, until the run is Succeeded:

* the operator's API requests, counted by the API server (audit log, level Metadata, the
  operator's user only), by verb and resource; per fold; status patches per minute;
* apply → first / last Job created (audit timestamps);
* the operator's peak RSS (VmHWM of its process) and CPU time, and its S3 requests;
* wall time, Σ fold compute (fit + predict, from the stored fold results), Σ trainer batch
  time (trainer logs), Σ pod process time (sampled) and the orchestration overhead share.

It writes bench/results/operator_scale.{md,json}; ``python -m bench`` includes the markdown
in docs/benchmarks.md (``section``). Needs root (the shim's mount namespaces), util-linux
``unshare`` and the cached control-plane binaries (or Go to build them, ~9 minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
E2E = ROOT / "tests" / "e2e"
CRD = ROOT / "crds" / "loocvruns.loocv.dev.yaml"
RULES_TEMPLATE = ROOT / "charts" / "loocv-operator" / "templates" / "_helpers.tpl"
RESULTS = ROOT / "bench" / "results"
MD_OUT = RESULTS / "operator_scale.md"
JSON_OUT = RESULTS / "operator_scale.json"
LOOCV = Path(sys.executable).parent / "loocv"

GROUP, VERSION, PLURAL = "loocv.dev", "v1alpha1", "loocvruns"
BUCKET = "loocv-bench"
SA = "loocv-operator"
SECRET = "s3-creds"
MODEL = "sklearn.naive_bayes.GaussianNB"
DEFAULT_SETTINGS = ("250", "auto")
POD_SAMPLE_SECONDS = 0.1
RSS_SAMPLE_SECONDS = 0.25
COUNTS_PATH = "/_bench/s3-counts"
TRAINER_DONE = re.compile(
    r"batch (\d+) done in ([\d.]+)s: (\d+) computed, (\d+) already stored, (\d+) failed"
)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(text: str) -> None:
    print(f"[operator-scale] {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


# ------------------------------------------------------------------------- prerequisites


def missing_prerequisites(allow_build: bool) -> list[str]:
    """Why part 4 cannot run here (empty: it can). Never builds anything."""
    sys.path.insert(0, str(E2E))
    from cluster.binaries import K8S_VERSION, Binaries, cache_root

    missing: list[str] = []
    if sys.platform != "linux":
        missing.append(f"Linux is needed (this is {platform.system()})")
    elif os.geteuid() != 0:
        missing.append("root is needed (the kubelet shim runs each pod in its own mount namespace)")
    if shutil.which("unshare") is None:
        missing.append("util-linux `unshare` is not on PATH")
    bins = Binaries(cache_root() / K8S_VERSION / "bin")
    absent = bins.missing()
    if absent:
        names = ", ".join(p.name for p in absent)
        if not allow_build:
            missing.append(
                f"the control-plane binaries are not cached in {bins.bin_dir} ({names}); "
                "`make e2e` or `python -m bench --cluster` builds them once (~9 min, needs Go)"
            )
        elif shutil.which("go") is None:
            missing.append(f"the control-plane binaries ({names}) are not cached and Go is missing")
    return missing


# ------------------------------------------------------------------- S3 server (a process)


def _s3_kind(method: str, path: str, query: str) -> str:
    parts = [p for p in path.split("/") if p]
    if method == "GET" and (len(parts) <= 1 or "list-type" in query):
        return "LIST"
    return method


def _access_key(authorization: str) -> str:
    found = re.search(r"Credential=([^/,\s]+)/", authorization)
    return found.group(1) if found else "anonymous"


def serve_s3(port: int) -> None:
    """moto's S3 server, counting requests by access key, kind and status; the counts are
    served at COUNTS_PATH. Run as ``python -m bench.operator_scale --serve-s3 PORT``."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    counts: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()

    def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = str(environ.get("PATH_INFO", ""))
        if path == COUNTS_PATH:
            with lock:
                body = json.dumps([[k, kind, n] for (k, kind), n in counts.items()]).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        key = _access_key(str(environ.get("HTTP_AUTHORIZATION", "")))
        kind = _s3_kind(str(environ["REQUEST_METHOD"]), path, str(environ.get("QUERY_STRING")))
        seen: list[str] = []

        def recording(status: str, headers: Any, exc_info: Any = None) -> Any:
            seen.append(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        result = app(environ, recording)
        with lock:
            counts[(key, f"{kind} {seen[0] if seen else '?'}")] += 1
        return result

    server = make_server(
        "127.0.0.1", port, counting, threaded=True, request_handler=MotoRequestHandler
    )
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server.serve_forever()


@dataclass
class S3Process:
    port: int
    popen: subprocess.Popen[bytes]
    label: str = "S3 server (moto)"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def counts(self) -> dict[str, Counter[str]]:
        with urllib.request.urlopen(self.endpoint + COUNTS_PATH, timeout=30) as response:
            rows = json.loads(response.read())
        out: dict[str, Counter[str]] = {}
        for key, kind, n in rows:
            out.setdefault(key, Counter())[kind] += int(n)
        return out

    def client(self, key: str) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key="bench-secret",
        )


def start_s3(log_dir: Path) -> S3Process:
    sys.path.insert(0, str(E2E))
    from cluster.processes import die_with_parent, wait_until

    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "s3.log", "ab") as out:
        popen = subprocess.Popen(
            die_with_parent(
                [sys.executable, "-m", "bench.operator_scale", "--serve-s3", str(port)]
            ),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    s3 = S3Process(port, popen)

    def up() -> bool:
        if popen.poll() is not None:
            raise RuntimeError(f"the S3 server exited with {popen.returncode}")
        s3.counts()
        return True

    wait_until(up, 60, what="S3 server")
    return s3


@dataclass
class VersityS3:
    """versitygw (tests/e2e/cluster/s3server.py), one access key per operator and per run's
    trainers; requests are counted from its access log (per access key, kind and status)."""

    server: Any
    label: str = "S3 server (versitygw)"

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        popen: subprocess.Popen[bytes] = self.server.popen
        return popen

    @property
    def endpoint(self) -> str:
        return str(self.server.endpoint)

    def counts(self) -> dict[str, Counter[str]]:
        counts: dict[str, Counter[str]] = self.server.requests()
        return counts

    def client(self, key: str) -> Any:
        return self.server.client(access_key=key)


def start_versitygw(log_dir: Path, keys: Sequence[str]) -> VersityS3:
    sys.path.insert(0, str(E2E))
    from cluster.s3server import S3Server

    server = S3Server(
        log_dir / "s3",
        access_key="bench",
        secret_key="bench-secret",
        users={key: "bench-secret" for key in keys},
        access_log=True,
    ).start()
    return VersityS3(server)


# --------------------------------------------------------------------------- audit log


@dataclass(frozen=True)
class Request:
    """One API request, as the audit log records it (level Metadata)."""

    audit_id: str
    user: str
    verb: str
    resource: str  # "jobs", "loocvruns/status", …
    namespace: str
    code: int | None
    received: float  # epoch seconds
    completed: float
    stage: str

    @property
    def what(self) -> str:
        return f"{self.verb} {self.resource}"


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class AuditLog:
    """Reads the API server's JSON-lines audit log incrementally; one Request per auditID
    (a watch logs ResponseStarted, then ResponseComplete when it ends)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self.requests: dict[str, Request] = {}

    def poll(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if not line.strip():
                continue
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            resource = str(ref.get("resource") or event.get("requestURI", "?"))
            if ref.get("subresource"):
                resource += "/" + str(ref["subresource"])
            request = Request(
                audit_id=str(event["auditID"]),
                user=str((event.get("user") or {}).get("username", "")),
                verb=str(event.get("verb", "")),
                resource=resource,
                namespace=str(ref.get("namespace") or ""),
                code=(event.get("responseStatus") or {}).get("code"),
                received=_epoch(event["requestReceivedTimestamp"]),
                completed=_epoch(event["stageTimestamp"]),
                stage=str(event.get("stage", "")),
            )
            self.requests[request.audit_id] = request

    def of(self, user: str | None = None, namespace: str | None = None) -> list[Request]:
        self.poll()
        return sorted(
            (
                r
                for r in self.requests.values()
                if (user is None or r.user == user)
                and (namespace is None or r.namespace == namespace)
            ),
            key=lambda r: r.received,
        )


def audit_policy(operator_users: Sequence[str]) -> dict[str, Any]:
    """Every request of the operators at Metadata; of everyone else only the creation of
    runs, Jobs and pods (apply time, the Job controller's pods); nothing more."""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "Metadata", "users": list(operator_users)},
            {
                "level": "Metadata",
                "verbs": ["create"],
                "resources": [
                    {"group": GROUP, "resources": [PLURAL]},
                    {"group": "batch", "resources": ["jobs"]},
                    {"group": "", "resources": ["pods"]},
                ],
            },
            {"level": "None"},
        ],
    }


# --------------------------------------------------------------------------- processes


def _proc_stat(pid: int) -> tuple[float, float] | None:
    """(own CPU seconds, reaped children's CPU seconds) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime) / CLK_TCK, (cutime + cstime) / CLK_TCK


def _status_kib(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class MemorySampler:
    """VmRSS of one process every RSS_SAMPLE_SECONDS; VmHWM read on demand."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            rss = _status_kib(self.pid, "VmRSS")
            if rss is not None:
                self.samples.append((time.time(), rss))

    def rss_at(self, when: float) -> int | None:
        before = [kib for t, kib in self.samples if t <= when]
        return before[-1] if before else None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


class PodSampler:
    """Which pod processes run, every POD_SAMPLE_SECONDS: pod-process seconds and the
    number of pods running at once."""

    def __init__(self, running: Callable[[], list[int]]) -> None:
        self.running = running
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.max_running = 0
        self.timeline: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pod-sampler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(POD_SAMPLE_SECONDS):
            now = time.time()
            pids = self.running()
            self.timeline.append((now, len(pids)))
            self.max_running = max(self.max_running, len(pids))
            for pid in pids:
                self.first.setdefault(pid, now)
                self.last[pid] = now

    def pod_seconds(self) -> float:
        return sum(self.last[p] - self.first[p] + POD_SAMPLE_SECONDS for p in self.first)

    def occupancy(self, start: float, end: float) -> dict[int, float]:
        """Share of the samples in [start, end] with 0, 1, 2, … pod processes running."""
        inside = Counter(n for t, n in self.timeline if start <= t <= end)
        total = sum(inside.values())
        return {n: inside[n] / total for n in sorted(inside)} if total else {}

    def busy_span(self, start: float, end: float) -> tuple[float, float] | None:
        """First and last sample in [start, end] with a pod process running."""
        busy = [t for t, n in self.timeline if start <= t <= end and n > 0]
        return (busy[0], busy[-1]) if busy else None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


# ---------------------------------------------------------------------------- the bench


@dataclass(frozen=True)
class Setting:
    folds_per_job: int | str  # an int or "auto"

    @property
    def label(self) -> str:
        return f"foldsPerJob: {self.folds_per_job}"

    @property
    def slug(self) -> str:
        return str(self.folds_per_job)

    @classmethod
    def parse(cls, text: str) -> Setting:
        text = text.strip()
        return cls("auto" if text == "auto" else int(text))


@dataclass
class Env:
    cluster: Any
    s3: S3Process | VersityS3
    audit: AuditLog
    data_uri: str
    rows: int
    features: int
    max_concurrent: int
    timeout: float
    workdir: Path
    pods: PodSampler | None = None
    results: list[dict[str, Any]] = field(default_factory=list)


def chart_rules() -> list[dict[str, Any]]:
    """The chart's least-privilege rules ("loocv-operator.rules" in _helpers.tpl: plain
    YAML between the define and its end), so the operator runs under exactly them."""
    import yaml

    text = RULES_TEMPLATE.read_text()
    start = text.index('{{- define "loocv-operator.rules" -}}')
    body = text[start:].split("\n", 1)[1]
    body = body[: body.index("{{- end }}")]
    rules: list[dict[str, Any]] = yaml.safe_load(body)
    return rules


def operator_user(namespace: str) -> str:
    return f"system:serviceaccount:{namespace}:{SA}"


def namespace_of(setting: Setting) -> str:
    return "bench-" + re.sub(r"[^a-z0-9-]", "-", setting.slug.lower())


def make_dataset(rows: int, features: int) -> bytes:
    import numpy as np
    from sklearn.datasets import make_classification

    X, y = make_classification(
        rows, features, n_informative=min(5, features), random_state=0, flip_y=0.05
    )
    out = io.StringIO()
    header = [f"f{i}" for i in range(features)] + ["y"]
    out.write(",".join(header) + "\n")
    np.savetxt(out, np.column_stack([X, y]), delimiter=",", fmt=["%.10g"] * features + ["%d"])
    return out.getvalue().encode()


def manifest(name: str, setting: Setting, env: Env) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "LOOCVRun",
        "metadata": {"name": name},
        "spec": {
            "dataset": {"uri": env.data_uri, "target": "y"},
            "model": {"estimator": MODEL},
            "strategy": {"type": "LeaveOneOut"},
            "execution": {
                "foldsPerJob": setting.folds_per_job,
                "maxConcurrentJobs": env.max_concurrent,
                "fastPath": "disabled",
            },
        },
    }


def _operator_identity(env: Env, namespace: str) -> Path:
    """ServiceAccount + the chart's Role and RoleBinding in the run's namespace (the chart
    with watchNamespaces), and a kubeconfig holding a token of that account."""
    from kubernetes import client as k8s

    core = k8s.CoreV1Api(env.cluster.api_client)
    rbac = k8s.RbacAuthorizationV1Api(env.cluster.api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": SA}})
    rbac.create_namespaced_role(namespace, {"metadata": {"name": SA}, "rules": chart_rules()})
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": SA},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SA},
            "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": namespace}],
        },
    )
    token = core.create_namespaced_service_account_token(
        SA, namespace, {"spec": {"expirationSeconds": 4 * 3600}}
    ).status.token
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "bench",
                "cluster": {
                    "server": env.cluster.api_url,
                    "certificate-authority": str(env.cluster.ca_cert),
                },
            }
        ],
        "users": [{"name": SA, "user": {"token": token}}],
        "contexts": [
            {"name": SA, "context": {"cluster": "bench", "user": SA, "namespace": namespace}}
        ],
        "current-context": SA,
    }
    path = env.workdir / f"{namespace}.kubeconfig"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def _run_phase(env: Env, namespace: str, name: str) -> tuple[str, dict[str, Any]]:
    from kubernetes import client as k8s

    run = k8s.CustomObjectsApi(env.cluster.api_client).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )
    status = run.get("status") or {}
    return str(status.get("phase") or ""), status


def _scrape(url: str) -> dict[str, float]:
    """Prometheus text → {sample name with labels: value}."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "le")
            if "le" in sample.labels:
                continue
            out[sample.name + (f"{{{labels}}}" if labels else "")] = float(sample.value)
    return out


def _component_cpu(env: Env) -> dict[str, float]:
    out: dict[str, float] = {}
    for proc in env.cluster.control_plane.procs.procs:
        stat = _proc_stat(proc.pid)
        if stat is not None:
            out[proc.name] = stat[0]
    s3 = _proc_stat(env.s3.popen.pid)
    if s3 is not None:
        out[env.s3.label] = s3[0]
    own = _proc_stat(os.getpid())
    if own is not None:
        out["harness (kubelet shim, samplers)"] = own[0]
        out["pods (trainer processes) + kubectl"] = own[1]
    return out


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return float(sum(values) - idle), float(sum(values))


def _read_folds(env: Env, results_uri: str) -> dict[str, Any]:
    """Every stored fold result of the run, read as the operator reads them (the segments,
    each fold once: loocv_operator.ledger), after it finished, with the bench's own key."""
    from loocv_operator.ledger import load_results
    from loocv_operator.store import RunLocation, S3Store

    namespace, name, uid = results_uri.rstrip("/").split("/")[-3:]
    location = RunLocation(namespace, name, uid)
    client = env.s3.client("bench")
    store = S3Store(f"s3://{BUCKET}/results/", client)
    results = load_results(store, location)
    stored = 0
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=f"results/{location.prefix}segments/"
    ):
        stored += sum(int(o["Size"]) for o in page.get("Contents", []))
    return {
        "count": len(results),
        "fit_seconds": sum(r.fit_seconds for r in results),
        "predict_seconds": sum(r.predict_seconds for r in results),
        "failed": sum(1 for r in results if not r.ok),
        "paths": dict(Counter(r.path for r in results)),
        "mean_bytes": stored / max(1, len(results)),
    }


def _trainer_logs(env: Env, namespace: str) -> dict[str, Any]:
    from kubernetes import client as k8s

    pods = k8s.CoreV1Api(env.cluster.api_client).list_namespaced_pod(namespace).items
    batch_seconds = 0.0
    computed = skipped = parsed = 0
    phases = Counter(str(p.status.phase) for p in pods)
    for pod in pods:
        with contextlib.suppress(KeyError, OSError):
            text = env.cluster.shim.pod_log(namespace, pod.metadata.name)
            for match in TRAINER_DONE.finditer(text):
                batch_seconds += float(match.group(2))
                computed += int(match.group(3))
                skipped += int(match.group(4))
                parsed += 1
    return {
        "pods": len(pods),
        "pod_phases": dict(phases),
        "batch_seconds": batch_seconds,
        "computed": computed,
        "already_stored": skipped,
        "logs_parsed": parsed,
    }


def run_setting(env: Env, setting: Setting) -> dict[str, Any]:
    """One operator, one 10,000-fold run, everything measured; see the module doc."""
    from kubernetes import client as k8s

    sys.path.insert(0, str(E2E))
    from cluster.processes import die_with_parent, stop_pid

    namespace = namespace_of(setting)
    user = operator_user(namespace)
    name = f"scale-{setting.slug}"
    log(f"{setting.label}: namespace {namespace}")
    env.cluster.create_namespace(namespace)
    k8s.CoreV1Api(env.cluster.api_client).create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": SECRET},
            "stringData": {
                "AWS_ACCESS_KEY_ID": f"trainer-{namespace}",
                "AWS_SECRET_ACCESS_KEY": "bench-secret",
            },
        },
    )
    kubeconfig = _operator_identity(env, namespace)
    metrics_port = free_port()
    command = [
        str(LOOCV),
        "operator",
        "--namespace",
        namespace,
        "--storage-uri",
        f"s3://{BUCKET}/results/",
        "--s3-endpoint",
        env.s3.endpoint,
        "--storage-secret",
        SECRET,
        "--metrics-port",
        str(metrics_port),
        "--liveness",
        f"http://127.0.0.1:{free_port()}/healthz",
    ]
    operator_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBECONFIG"))},
        "KUBECONFIG": str(kubeconfig),
        "AWS_ACCESS_KEY_ID": f"operator-{namespace}",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_REGION": "us-east-1",
    }
    op_log = env.workdir / f"operator-{namespace}.log"
    with op_log.open("ab") as out:
        operator = subprocess.Popen(
            die_with_parent(command),
            env=operator_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    memory = MemorySampler(operator.pid)
    result: dict[str, Any] = {"setting": setting.label, "namespace": namespace}
    try:

        def watching() -> bool:
            if operator.poll() is not None:
                raise RuntimeError(
                    f"the operator exited with {operator.returncode}:\n"
                    + op_log.read_text(errors="replace")[-3000:]
                )
            return any(r.verb == "watch" and r.resource == PLURAL for r in env.audit.of(user=user))

        env.cluster.wait_for(watching, 90, what="the operator's watch on loocvruns")
        time.sleep(1.0)
        cpu_before = _component_cpu(env)
        busy_before = _machine_busy()
        op_cpu_before = (_proc_stat(operator.pid) or (0.0, 0.0))[0]
        load_before = loadavg()
        applied_at = time.time()
        document = manifest(name, setting, env)
        env.cluster.run_kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(document))
        log(f"{setting.label}: applied {name}; waiting for Succeeded")
        deadline = applied_at + env.timeout
        phase, status = "", dict[str, Any]()
        last_print = 0.0
        while time.time() < deadline:
            if operator.poll() is not None:
                raise RuntimeError(f"the operator exited with {operator.returncode}")
            env.cluster.control_plane.check_alive()
            with contextlib.suppress(Exception):
                phase, status = _run_phase(env, namespace, name)
            if phase in ("Succeeded", "Failed"):
                break
            if time.time() - last_print > 30:
                last_print = time.time()
                folds = status.get("folds") or {}
                log(
                    f"{setting.label}: {phase or '-'} {folds.get('done', 0)}/{folds.get('total', '?')} "
                    f"after {time.time() - applied_at:.0f}s (load {loadavg()})"
                )
            time.sleep(0.5)
        detected_at = time.time()
        result["finished"] = phase in ("Succeeded", "Failed")
        result["phase"] = phase or "(none)"
        time.sleep(1.0)
        hwm = _status_kib(operator.pid, "VmHWM")
        op_cpu = (_proc_stat(operator.pid) or (0.0, 0.0))[0] - op_cpu_before
        cpu_after = _component_cpu(env)
        busy_after = _machine_busy()
        with contextlib.suppress(Exception):
            result["operator_metrics"] = _scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        result["load_before"], result["load_after"] = load_before, loadavg()
    finally:
        memory.stop()
        stop_pid(operator, grace=20, group=True)
    time.sleep(1.0)
    requests = env.audit.of(user=user)
    run_create = [
        r
        for r in env.audit.of(namespace=namespace)
        if r.verb == "create" and r.resource == PLURAL and r.user != user
    ]
    apply_ts = run_create[0].received if run_create else applied_at
    status_patches = [r for r in requests if r.what == f"patch {PLURAL}/status"]
    in_run = [r for r in status_patches if r.received >= apply_ts]
    end_ts = in_run[-1].completed if in_run and result["finished"] else detected_at
    window = [r for r in requests if apply_ts <= r.received <= end_ts]
    job_creates = [r for r in window if r.what == "create jobs" and r.code == 201]
    pod_creates = [
        r for r in env.audit.of(namespace=namespace) if r.what == "create pods" and r.code == 201
    ]
    wall = end_ts - apply_ts
    folds_total = int((status.get("folds") or {}).get("total") or 0)
    result.update(
        {
            "apply_epoch": apply_ts,
            "end_epoch": end_ts,
            "wall_seconds": wall,
            "status": {k: status.get(k) for k in ("folds", "jobs", "batching", "fastPath")},
            "folds_total": folds_total,
            "jobs_created": len(job_creates),
            "pods_created": len(pod_creates),
            "first_job_seconds": job_creates[0].completed - apply_ts if job_creates else None,
            "last_job_seconds": job_creates[-1].completed - apply_ts if job_creates else None,
            "requests_total": len(window),
            "requests_by_kind": dict(Counter(r.what for r in window).most_common()),
            "requests_not_2xx": dict(
                Counter(f"{r.what} → {r.code}" for r in window if r.code is None or r.code >= 300)
            ),
            "requests_before_apply": sum(1 for r in requests if r.received < apply_ts),
            "status_patches": len([r for r in window if r.what == f"patch {PLURAL}/status"]),
            **_reconcile_timing(window),
            "operator_hwm_kib": hwm,
            "operator_rss_before_apply_kib": memory.rss_at(apply_ts),
            "operator_rss_first_job_kib": memory.rss_at(job_creates[0].completed + 0.5)
            if job_creates
            else None,
            "operator_rss_max_sampled_kib": max((k for _, k in memory.samples), default=None),
            "operator_cpu_seconds": op_cpu,
            "component_cpu_seconds": {k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after},
            "machine_busy_share": (busy_after[0] - busy_before[0])
            / max(1.0, busy_after[1] - busy_before[1]),
            "slots": env.max_concurrent,
        }
    )
    s3 = env.s3.counts()
    result["s3_operator"] = dict(s3.get(f"operator-{namespace}", Counter()))
    result["s3_trainers"] = dict(s3.get(f"trainer-{namespace}", Counter()))
    result["trainers"] = _trainer_logs(env, namespace)
    if status.get("resultsUri"):
        result["folds"] = _read_folds(env, str(status["resultsUri"]))
    return result


def _reconcile_timing(window: list[Request]) -> dict[str, list[float]]:
    """From the operator's requests: the ticker's period (one `list jobs` to the next) and
    each reconcile's collect step (`list pods` → its next write, a Job create or the
    status patch: reading the new fold results from the store happens in between)."""
    lists = [r.received for r in window if r.what == "list jobs"]
    collect: list[float] = []
    for i, r in enumerate(window):
        if r.what != "list pods":
            continue
        after = next((x for x in window[i + 1 :] if x.what != "create events"), None)
        if after is not None and after.what in (f"patch {PLURAL}/status", "create jobs"):
            collect.append(after.received - r.completed)
    return {
        "tick_periods": [b - a for a, b in itertools.pairwise(lists)],
        "collect_seconds": collect,
    }


def _sample_pod_seconds(env: Env, result: dict[str, Any]) -> None:
    assert env.pods is not None
    span = env.pods.busy_span(result["apply_epoch"], result["end_epoch"])
    if span is not None:
        result["first_pod_seconds"] = span[0] - result["apply_epoch"]
        result["tail_seconds"] = result["end_epoch"] - span[1]
    result["pod_process_seconds"] = env.pods.pod_seconds()
    result["max_pods_running"] = env.pods.max_running
    result["pods_running_share"] = env.pods.occupancy(result["apply_epoch"], result["end_epoch"])


def run_all(settings: Sequence[Setting], args: argparse.Namespace) -> dict[str, Any]:
    """Start everything once, run each setting in turn (own namespace, own operator)."""
    sys.path.insert(0, str(E2E))
    from cluster import Cluster, ensure_binaries
    from cluster.controlplane import start_control_plane
    from cluster.kubelet_shim import KubeletShim
    from cluster.nodes import DEFAULT_NODES, FakeNodes

    started = time.time()
    ensure_binaries()
    users = [operator_user(namespace_of(s)) for s in settings]
    cp = start_control_plane(audit_policy=audit_policy(users))
    assert cp.audit_log is not None
    nodes = FakeNodes(cp.new_api_client(), DEFAULT_NODES)
    pod_env = dict(item.split("=", 1) for item in args.pod_env)  # e.g. LOOCV_CHECKPOINT_FOLDS=1
    shim = KubeletShim(
        cp.new_api_client,
        nodes.names,
        cp.workdir / "pods",
        cp.ports["apiserver"],
        extra_env=pod_env,
    )
    cluster = Cluster(control_plane=cp, nodes=nodes, shim=shim)
    s3: S3Process | VersityS3 | None = None
    report: dict[str, Any] = {}
    try:
        shim.start()
        nodes.register()
        log(f"control plane up in {time.time() - started:.1f}s; workdir {cp.workdir}")
        if args.s3 == "moto":
            s3 = start_s3(cp.log_dir)
        else:
            keys = [f"{who}-{namespace_of(s)}" for s in settings for who in ("operator", "trainer")]
            s3 = start_versitygw(cp.log_dir, keys)
        log(f"{s3.label} at {s3.endpoint}")
        client = s3.client("bench")
        client.create_bucket(Bucket=BUCKET)
        key = f"data/classification-{args.rows}x{args.features}.csv"
        client.put_object(Bucket=BUCKET, Key=key, Body=make_dataset(args.rows, args.features))
        cluster.run_kubectl("apply", "-f", str(CRD))
        cluster.run_kubectl(
            "wait", "--for=condition=Established", f"crd/{PLURAL}.{GROUP}", "--timeout=180s"
        )
        env = Env(
            cluster=cluster,
            s3=s3,
            audit=AuditLog(cp.audit_log),
            data_uri=f"s3://{BUCKET}/{key}",
            rows=args.rows,
            features=args.features,
            max_concurrent=args.max_concurrent,
            timeout=args.timeout,
            workdir=cp.workdir,
        )
        for setting in settings:
            env.pods = PodSampler(shim.running_pids)
            try:
                result = run_setting(env, setting)
            except Exception as exc:
                log(f"{setting.label} failed: {exc!r}")
                result = {"setting": setting.label, "error": f"{type(exc).__name__}: {exc}"}
                traceback.print_exc()
            finally:
                env.pods.stop()
            if "error" not in result:
                _sample_pod_seconds(env, result)
            env.results.append(result)
            log(f"{setting.label}: {json.dumps(_brief(result))}")
        report = {
            "command": args.command,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
            "seconds": time.time() - started,
            "machine": {
                "cpu": _cpu_model(),
                "nproc": os.cpu_count(),
                "kubernetes": _k8s_version(),
            },
            "rows": args.rows,
            "features": args.features,
            "model": MODEL,
            "s3_server": s3.label.removeprefix("S3 server ").strip("()"),
            "pod_env": pod_env,
            "max_concurrent_jobs": args.max_concurrent,
            "results": env.results,
        }
    finally:
        if s3 is not None:
            sys.path.insert(0, str(E2E))
            from cluster.processes import stop_pid

            stop_pid(s3.popen, grace=5)  # versitygw or moto: both started by us, by pid
        cluster.stop()
        if os.environ.get("LOOCV_E2E_KEEP") == "1":
            log(f"kept {cp.workdir}")
        else:
            cluster.cleanup()
    return report


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("phase", "wall_seconds", "jobs_created", "requests_total", "operator_hwm_kib")
    return {k: result.get(k) for k in keys} | (
        {"error": result["error"]} if "error" in result else {}
    )


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _k8s_version() -> str:
    sys.path.insert(0, str(E2E))
    from cluster.binaries import ETCD_VERSION, K8S_VERSION

    return f"Kubernetes {K8S_VERSION}, etcd {ETCD_VERSION}"


# ------------------------------------------------------------------------------- report


def _s(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "—"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s ({seconds / 60:.1f} min)"


def _mib(kib: int | None) -> str:
    return "—" if kib is None else f"{kib / 1024:.0f} MiB"


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.0%}" if whole > 0 else "—"


def _s3(counts: dict[str, int], n: int) -> str:
    """ "LIST 40, GET 10,002 (404: 1), PUT 4 — 1.00 per fold"."""
    kinds: Counter[str] = Counter()
    misses: Counter[str] = Counter()
    for label, count in counts.items():
        kind, _, code = label.partition(" ")
        kinds[kind] += count
        if code == "404":
            misses[kind] += count
    order = {"LIST": 0, "GET": 1, "HEAD": 2, "PUT": 3}
    parts = [
        f"{kind} {count:,}" + (f" (404: {misses[kind]:,})" if misses[kind] else "")
        for kind, count in sorted(kinds.items(), key=lambda kv: order.get(kv[0], 9))
    ]
    total = sum(kinds.values())
    return ", ".join(parts) + (f" — **{total / n:.2f} per fold**" if n else "")


def _mean_max(values: list[float]) -> str:
    if not values:
        return "—"
    return f"{sum(values) / len(values):.1f} s / {max(values):.1f} s"


def _occupancy(shares: dict[Any, float]) -> str:
    by_count = {int(k): float(v) for k, v in shares.items()}
    if not by_count:
        return "—"
    return " / ".join(f"{by_count.get(n, 0.0):.0%}" for n in range(max(by_count) + 1))


def _rows(r: dict[str, Any]) -> dict[str, str]:
    """Metric → cell for one setting (the table's column)."""
    if "error" in r:
        return {"run": f"**failed**: {r['error'][:300]}"}
    n = r.get("folds_total") or (r.get("folds") or {}).get("count") or 0
    wall = float(r["wall_seconds"])
    slots = int(r["slots"])
    folds = r.get("folds") or {}
    compute = float(folds.get("fit_seconds", 0.0)) + float(folds.get("predict_seconds", 0.0))
    trainers = r.get("trainers") or {}
    batch_s = float(trainers.get("batch_seconds") or 0.0)
    pod_s = float(r.get("pod_process_seconds") or 0.0)
    capacity = wall * slots
    overhead = 1 - compute / capacity if capacity > 0 else float("nan")
    minutes = wall / 60 if wall > 0 else float("nan")
    by_kind = ", ".join(f"{k} {v}" for k, v in r["requests_by_kind"].items())
    not_ok = ", ".join(f"{k}: {v}" for k, v in r["requests_not_2xx"].items()) or "none"
    status_jobs = (r.get("status") or {}).get("jobs") or {}
    batching = (r.get("status") or {}).get("batching")
    op_s3 = r.get("s3_operator") or {}
    tr_s3 = r.get("s3_trainers") or {}
    hwm = r.get("operator_hwm_kib")
    before = r.get("operator_rss_before_apply_kib")
    planned = r.get("operator_rss_first_job_kib")
    per_fold_mem = (
        f"{(hwm - planned) * 1024 / n:,.0f} B"
        if hwm is not None and planned is not None and n
        else "—"
    )
    metrics = r.get("operator_metrics") or {}
    rc_count = metrics.get("loocv_reconcile_duration_seconds_count")
    rc_sum = metrics.get("loocv_reconcile_duration_seconds_sum")
    reconciles = (
        f"{rc_count:.0f}, mean {rc_sum / rc_count * 1e3:.0f} ms"
        if rc_count and rc_sum is not None
        else "—"
    )
    cpu = r.get("component_cpu_seconds") or {}
    cpu_text = ", ".join(
        f"{k} {v:.0f} s" if v >= 10 else f"{k} {v:.1f} s"
        for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])
    )
    out = {
        "run finished": f"{r['phase']}" + ("" if r["finished"] else " (**time-out**)"),
        "folds (fold results stored / failed)": f"{n:,} ({folds.get('count', 0):,} / {folds.get('failed', 0)})",
        "Jobs created (audit) / pods created": f"**{r['jobs_created']}** / {r['pods_created']}"
        + (f" (status: {status_jobs.get('total')} Jobs)" if status_jobs else ""),
        "what `auto` did (status.batching)": json.dumps(batching, separators=(", ", ": "))[:400]
        if batching
        else "—",
        "**wall time W**, apply → Succeeded": f"**{_s(wall)}**",
        "apply → first Job created / → all Jobs created": f"{_s(r['first_job_seconds'])} / {_s(r['last_job_seconds'])}",
        "apply → first pod process running / last pod process exited → Succeeded": f"{_s(r.get('first_pod_seconds'))} / {_s(r.get('tail_seconds'))}",
        "slots S (maxConcurrentJobs; most pods running at once)": f"{slots} ({r.get('max_pods_running', '—')})",
        "Σ fold compute C (fit + predict, all fold results)": f"{_s(compute)} ({compute / n * 1e3:.2f} ms/fold)"
        if n
        else "—",
        "Σ trainer batch time T (trainer logs: `batch N done in X s`)": f"{_s(batch_s)} ({trainers.get('logs_parsed', 0)} pods)",
        "Σ pod process time P (sampled every 0.1 s)": _s(pod_s),
        "share of W with 0 / 1 / 2 / … pod processes running": _occupancy(
            r.get("pods_running_share") or {}
        ),
        "**orchestration overhead share** 1 − C / (W × S)": f"**{overhead:.1%}**",
        "… slot time with no pod process (W × S − P)": f"{_s(capacity - pod_s)} ({_share(capacity - pod_s, capacity)})",
        "… pod start-up: interpreter, imports, plan and data (P − T)": f"{_s(pod_s - batch_s)} ({_share(pod_s - batch_s, capacity)})",
        "… per-fold store I/O and bookkeeping in the trainer (T − C)": f"{_s(batch_s - compute)} ({_share(batch_s - compute, capacity)})",
        "**operator peak RSS** (VmHWM) / RSS before apply / RSS at the first Job (data read, plan made)": f"**{_mib(hwm)}** / {_mib(before)} / {_mib(planned)}",
        "… growth per fold after planning ((VmHWM − RSS at the first Job) / folds; an upper bound, it includes the one-time cost of writing the report)": per_fold_mem,
        "operator CPU time, apply → Succeeded": f"{r['operator_cpu_seconds']:.1f} s ({_share(r['operator_cpu_seconds'], wall)} of one core)",
        "operator reconciles (count, mean duration; /metrics)": reconciles,
        "… ticker period (audit: `list jobs` to the next): mean / max": _mean_max(
            r.get("tick_periods") or []
        ),
        "… collecting new fold results (audit: `list pods` → next write): mean / max": _mean_max(
            r.get("collect_seconds") or []
        ),
        "**API requests by the operator**, apply → Succeeded": f"**{r['requests_total']}** = **{r['requests_total'] / n:.4f} per fold**"
        if n
        else str(r["requests_total"]),
        "… by verb and resource": by_kind,
        "… answered with a non-2xx code": not_ok,
        "… before apply (start-up: kopf's list and watch)": str(r["requests_before_apply"]),
        "status patches (patch loocvruns/status) / per minute": f"{r['status_patches']} / **{r['status_patches'] / minutes:.1f} per min**",
        "S3 requests by the operator (a LIST is one page of ≤ 1,000 keys)": _s3(op_s3, n),
        "S3 requests by the trainers": _s3(tr_s3, n),
        "stored bytes per fold (segments)": f"{folds.get('mean_bytes', 0):.0f} B",
        "CPU seconds by process during the run": cpu_text,
        "machine CPU busy during the run / load avg before → after": f"{r['machine_busy_share']:.0%} of {os.cpu_count()} cores / {r['load_before']} → {r['load_after']}",
    }
    return out


def render(report: dict[str, Any]) -> list[str]:
    results = report["results"]
    columns = [_rows(r) for r in results]
    names: list[str] = []
    for col in columns:
        names += [k for k in col if k not in names]
    header = "| metric | " + " | ".join(f"`{r['setting']}`" for r in results) + " |"
    lines = [
        f"Written by `{report['command']}` on {report['date']}, {report['seconds'] / 60:.1f} min in all "
        f"(control plane start, data upload, the runs one after another, reading back every fold result). "
        f"Machine: {report['machine']['cpu']}, `nproc` = {report['machine']['nproc']}, shared with other "
        f"work (load averages in the table); {report['machine']['kubernetes']} from the e2e harness.",
        "",
        f"The run: LeaveOneOut over a {report['rows']:,} × {report['features']} CSV "
        f"(`make_classification`, in a bucket of the S3 server on loopback: "
        f"**{report.get('s3_server', 'moto')}**), `{report['model']}`, "
        + "".join(
            f"`{k}={v}` in every trainer pod, " for k, v in (report.get("pod_env") or {}).items()
        )
        + f"`fastPath: off` (every "
        f"fold is fitted), `maxConcurrentJobs: {report['max_concurrent_jobs']}` on this {report['machine']['nproc']}-core "
        "machine, applied with kubectl. The operator is `loocv operator --namespace <ns> --storage-uri … "
        "--s3-endpoint … --storage-secret …` with its defaults otherwise (status interval 10 s, 4 workers, "
        "/metrics and liveness on), logged in as its own ServiceAccount under the chart's Role "
        "(templates/_helpers.tpl rules), so the audit log tells its requests apart.",
        "",
        header,
        "|---|" + "---|" * len(results),
    ]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(c.get(name, "—") for c in columns) + " |")
    lines += [
        "",
        "Definitions. **W** runs from the API server receiving the LOOCVRun's create (audit "
        "`requestReceivedTimestamp`) to the end of the operator's last status patch (the one that "
        "sets Succeeded). **API requests** are the audit events (one per auditID, level Metadata) "
        "whose user is the operator's ServiceAccount, received inside W; a watch counts once. "
        "**Status patches per minute** = patches of `loocvruns/status` inside W / (W in minutes). "
        "**Job created** = the operator's `create jobs` answered 201. **C** = Σ over the stored fold "
        "results of `fit_seconds + predict_seconds`. **S** = maxConcurrentJobs: the operator never "
        "runs more Jobs at once, and the fake nodes (4 × 8 CPUs, 110 pods) never limit it; here S "
        "equals the machine's cores. **Orchestration overhead share** = 1 − C / (W × S): the share of "
        "the slot time available during the run that did not go into fitting and predicting folds. "
        "It splits into slot time with no pod process (waiting for the operator's periodic "
        "reconcile to see a Job finished and create the next, then for the Job controller, "
        "scheduler and shim to start its pod; and the tail after the last pod, while the "
        "operator collects the last results and writes the report), pod start-up (P − T: "
        "Python, imports, reading plan.json and the CSV) and the trainer's per-fold work other "
        "than fit and predict (T − C: finding the folds already stored, one JSON result PUT per "
        "fold, building the result). P is pod-process time sampled every 0.1 s, T the sum of "
        "the trainers' own `batch N done in X s`. The ticker period and the collect step are "
        "read off the operator's requests in the audit log: a reconcile starts with `list jobs` "
        "and `list pods`, then reads the new fold results from the store, then writes (creates "
        "Jobs, patches the status). Peak memory is VmHWM from /proc/<pid>/status of the operator's "
        "process just before it is stopped. S3 requests are counted by the S3 server per access "
        "key (operator, trainers and this benchmark use different keys): versitygw's access log, "
        "or moto's request handler (`--s3 moto`).",
    ]
    return lines


def render_comparison(reports: Sequence[dict[str, Any]]) -> list[str]:
    """One column per saved report (same size, one S3 server each): what the server costs."""
    columns: list[tuple[str, dict[str, str]]] = []
    for report in reports:
        for r in report["results"]:
            if "error" in r:
                continue
            server = str(report.get("s3_server", "moto"))
            env = " ".join(f"{k}={v}" for k, v in (report.get("pod_env") or {}).items())
            cpu = r.get("component_cpu_seconds") or {}
            s3_cpu = next((v for k, v in cpu.items() if k.startswith("S3 server")), 0.0)
            pods = float(cpu.get("pods (trainer processes) + kubectl", 0.0))
            rows = _rows(r)
            n_s3 = sum((r.get("s3_operator") or {}).values()) + sum(
                (r.get("s3_trainers") or {}).values()
            )
            wall = float(r["wall_seconds"])
            columns.append(
                (
                    f"{server}, `{r['setting']}`" + (f", `{env}`" if env else ""),
                    {
                        "date": str(report["date"]),
                        "folds": f"{int(r.get('folds_total') or 0):,}",
                        "S3 requests (operator + trainers)": f"{n_s3:,}",
                        "**S3 server CPU**": f"**{s3_cpu:.1f} s**",
                        "… beside the trainers' CPU (pods)": f"{pods:.0f} s ({_share(s3_cpu, pods)})",
                        "wall time W": _s(wall),
                        "Σ fold compute C": rows.get(
                            "Σ fold compute C (fit + predict, all fold results)", "—"
                        ),
                        "**orchestration overhead share**": rows.get(
                            "**orchestration overhead share** 1 − C / (W × S)", "—"
                        ),
                        "machine busy / load before → after": rows.get(
                            "machine CPU busy during the run / load avg before → after", "—"
                        ),
                    },
                )
            )
    names = list(columns[0][1]) if columns else []
    lines = [
        "| metric | " + " | ".join(name for name, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    lines += [f"| {n} | " + " | ".join(c.get(n, "—") for _, c in columns) + " |" for n in names]
    return lines


# --------------------------------------------------------------------------- entry points


def section(mode: str) -> list[str]:
    """Part 4's markdown for ``python -m bench``. mode: "auto" (run when the prerequisites
    are here, never build), "yes" (run; build the binaries if needed), "no" (do not run)."""
    saved = MD_OUT.read_text().splitlines() if MD_OUT.exists() else []

    def with_saved(reason: str) -> list[str]:
        if saved:
            return [
                f"**Not re-measured in this run** ({reason}). The last measurement, from "
                f"`{MD_OUT.relative_to(ROOT)}`:",
                "",
                *saved,
            ]
        return [
            f"**Not measured** ({reason}). Run `python -m bench.operator_scale` (or "
            "`python -m bench --cluster`) as root on a machine with the e2e binaries cached.",
        ]

    if mode == "no":
        return with_saved("`--skip-cluster`")
    missing = missing_prerequisites(allow_build=mode == "yes")
    if missing:
        return with_saved("missing here: " + "; ".join(missing))
    command = [sys.executable, "-m", "bench.operator_scale"] + (
        ["--build"] if mode == "yes" else []
    )
    command += ["--command", "python -m bench.operator_scale (run by python -m bench)"]
    log("running " + " ".join(command[1:]))
    before = MD_OUT.stat().st_mtime if MD_OUT.exists() else None
    done = subprocess.run(command, cwd=ROOT, check=False)
    written = MD_OUT.exists() and MD_OUT.stat().st_mtime != before
    if not written:
        return with_saved(
            f"`python -m bench.operator_scale` failed with exit code {done.returncode}"
        )
    lines = MD_OUT.read_text().splitlines()
    if done.returncode != 0:
        lines = [f"**A run failed** (exit code {done.returncode}); see its column.", "", *lines]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.operator_scale", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--settings",
        default=",".join(DEFAULT_SETTINGS),
        help="comma-separated foldsPerJob values, run one after another (default %(default)s)",
    )
    parser.add_argument("--rows", type=int, default=10_000, help="samples = folds (default 10,000)")
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument(
        "--max-concurrent", type=int, default=2, help="maxConcurrentJobs (default 2)"
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds per run before giving up"
    )
    parser.add_argument("--build", action="store_true", help="build missing binaries (~9 min)")
    parser.add_argument(
        "--pod-env",
        action="append",
        default=[],
        metavar="K=V",
        help="more environment for every pod, e.g. LOOCV_CHECKPOINT_FOLDS=1 (a segment per "
        "fold: the S3-heavy case)",
    )
    parser.add_argument(
        "--s3",
        choices=("versitygw", "moto"),
        default="versitygw",
        help="the S3 server: versitygw (real, Go; default) or moto (Python, the former one)",
    )
    parser.add_argument("--out", type=Path, default=MD_OUT, help="markdown fragment")
    parser.add_argument("--json", type=Path, default=JSON_OUT, help="raw results")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite --out from the saved --json"
    )
    parser.add_argument(
        "--compare",
        type=Path,
        nargs="+",
        help="print a table comparing saved --json reports (e.g. moto vs versitygw) and exit",
    )
    parser.add_argument("--command", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve-s3", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_s3 is not None:
        serve_s3(args.serve_s3)
        return 0
    if args.compare:
        print("\n".join(render_comparison([json.loads(p.read_text()) for p in args.compare])))
        return 0
    if args.render:
        args.out.write_text("\n".join(render(json.loads(args.json.read_text()))) + "\n")
        log(f"wrote {args.out} from {args.json}")
        return 0
    missing = missing_prerequisites(allow_build=args.build)
    if missing:
        log("cannot run: " + "; ".join(missing))
        return 2
    settings = [Setting.parse(s) for s in args.settings.split(",") if s.strip()]
    shown = list(argv) if argv is not None else sys.argv[1:]
    args.command = args.command or " ".join(["python -m bench.operator_scale", *shown])
    os.chdir(ROOT)
    report = run_all(settings, args)
    if not report or not report.get("results"):
        return 1
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
    lines = render(report)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    log(f"wrote {args.out} and {args.json} in {report['seconds']:.0f}s")
    return 0 if all("error" not in r for r in report["results"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
