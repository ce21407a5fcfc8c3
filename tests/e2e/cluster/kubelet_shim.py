"""A kubelet stand-in that runs pods bound to the fake Nodes as local processes.

Why: the operator's behaviour depends on what a kubelet reports — pod phase,
``containerStatuses[].state.terminated.exitCode`` (read by the Job
controller's ``podFailurePolicy`` ``onExitCodes`` rules), the
``DisruptionTarget`` condition on preemption, and pod deletion being finalized
once the containers are gone. No container runtime is available here, so each
container's ``command``/``args`` run as a local process (own process group)
with the environment a kubelet would build (see ``podenv``).

Lifecycle of one pod, as a kubelet does it:
  Pending --(start processes)--> Running --(exit)--> Succeeded / Failed
  deletionTimestamp set: SIGTERM, SIGKILL after the grace period (capped),
  terminal status, then delete with gracePeriodSeconds=0 (finalize).
Preemption (``preempt``): DisruptionTarget=True is added, the processes are
terminated and the pod is marked Failed with that condition.

Volumes (``volumes``): each pod's volumes are set up under its sandbox (emptyDir,
configMap, secret, downwardAPI, projected — including the ServiceAccount token from the
TokenRequest API, bound to the pod — and hostPath), and a container with volumeMounts or a
read-only root filesystem runs in its own private mount namespace where they are
bind-mounted at their mountPaths and, with ``readOnlyRootFilesystem``, ``/`` is read-only.
So a pod finds its token, CA and namespace at /var/run/secrets/kubernetes.io/
serviceaccount exactly when admission mounted them (not with
``automountServiceAccountToken: false``), and ``load_incluster_config()`` works in it.
Pods without mounts run as before, in the host's mount namespace.

Not supported: images (``entrypoints`` maps an image to a command instead),
``runAsUser`` (every process runs as root: the interpreter lives under /root),
probes, sidecar init containers, ``restartPolicy: Always`` back-off.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client.rest import ApiException

from .podenv import EnvConfigError, container_argv, container_env
from .processes import die_with_parent
from .volumes import PodVolumes, VolumeError

PODMOUNTS = Path(__file__).resolve().with_name("podmounts.py")
_UNSHARE = shutil.which("unshare")

TERMINAL = ("Succeeded", "Failed")


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def raw(func: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Call a client method and return the JSON dict (independent of the client's model classes)."""
    resp = func(*args, _preload_content=False, **kwargs)
    data = resp.data if hasattr(resp, "data") else resp.read()
    parsed: dict[str, Any] = json.loads(data)
    return parsed


@dataclass
class ContainerRun:
    """One container of a pod: its process and what to report about it."""

    name: str
    image: str
    popen: subprocess.Popen[bytes] | None = None
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    restart_count: int = 0
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""
    last_terminated: dict[str, Any] | None = None
    next_start: float = 0.0
    term_sent: bool = False

    def status(self, uid: str) -> dict[str, Any]:
        cid = f"shim://{uid}/{self.name}"
        st: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "containerID": cid,
            "restartCount": self.restart_count,
            "ready": False,
            "started": False,
        }
        if self.exit_code is not None:
            st["state"] = {
                "terminated": {
                    "exitCode": self.exit_code,
                    "reason": "Completed" if self.exit_code == 0 else "Error",
                    "startedAt": self.started_at,
                    "finishedAt": self.finished_at,
                    "containerID": cid,
                }
            }
        elif self.popen is not None:
            st["state"] = {"running": {"startedAt": self.started_at}}
            st["ready"] = st["started"] = True
        else:
            waiting: dict[str, str] = {"reason": self.waiting_reason}
            if self.waiting_message:
                waiting["message"] = self.waiting_message
            st["state"] = {"waiting": waiting}
        if self.last_terminated:
            st["lastState"] = {"terminated": self.last_terminated}
        return st


@dataclass
class PodRun:
    """Everything the shim tracks for one pod UID."""

    uid: str
    namespace: str
    name: str
    sandbox: Path
    containers: list[ContainerRun] = field(default_factory=list)
    init_containers: list[ContainerRun] = field(default_factory=list)
    start_time: str = field(default_factory=_now)
    stop_requested: float | None = None
    grace: float = 0.0
    disruption: tuple[str, str] | None = None
    delete_after: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    phase: str = "Pending"
    volumes: PodVolumes | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def request_stop(self, grace: float, delete_after: bool) -> None:
        with self.lock:
            self.delete_after = self.delete_after or delete_after
            if self.stop_requested is None:
                self.stop_requested = time.monotonic()
                self.grace = grace
            else:  # a later deletion may only shorten the grace period
                self.grace = min(self.grace, grace)


def _exit_code(returncode: int) -> int:
    """Negative Popen codes are signals; runtimes report 128+signal."""
    return 128 - returncode if returncode < 0 else returncode


def _signal_group(popen: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, sig)


class KubeletShim:
    """Watches pods bound to ``node_names`` and runs them as local processes."""

    def __init__(
        self,
        api_client_factory: Callable[[], k8s.ApiClient],
        node_names: set[str],
        workdir: Path,
        api_port: int,
        entrypoints: dict[str, list[str]] | None = None,
        extra_env: dict[str, str] | None = None,
        max_grace_seconds: float = 5.0,
    ) -> None:
        self._factory = api_client_factory
        self._client = api_client_factory()
        self.core = k8s.CoreV1Api(self._client)
        self.node_names = set(node_names)
        self.workdir = workdir
        self.api_port = api_port
        self.entrypoints = dict(entrypoints or {})
        self.extra_env = dict(extra_env or {})
        # Deletion grace periods are capped so tests do not wait 30s per pod.
        self.max_grace_seconds = max_grace_seconds
        self._runs: dict[str, PodRun] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watch: k8s_watch.Watch | None = None
        self._threads: list[threading.Thread] = []
        self.errors: list[str] = []

    # ---------------------------------------------------------------- public

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        t = threading.Thread(target=self._watch_loop, name="kubelet-shim-watch", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        """Stop watching and kill every pod process the shim started."""
        self._stopping.set()
        if self._watch is not None:
            self._watch.stop()
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            for c in run.init_containers + run.containers:
                if c.popen is not None and c.popen.poll() is None:
                    _signal_group(c.popen, signal.SIGKILL)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        c.popen.wait(timeout=5)
        for t in self._threads:
            # The watch thread may sit in a blocking read until the API server stops;
            # it is a daemon thread, so do not wait long for it.
            t.join(timeout=10 if t.name.startswith("pod-") else 1)
        with contextlib.suppress(Exception):
            self._client.close()

    def preempt(
        self,
        namespace: str,
        pod_name: str,
        reason: str = "PreemptionByScheduler",
        message: str = "Preempted in order to admit critical pod (loocv e2e kubelet shim)",
        delete: bool = False,
        timeout: float = 60.0,
    ) -> None:
        """Disrupt a pod like scheduler preemption + kubelet would.

        Adds ``DisruptionTarget`` (True, ``reason``), terminates the processes and
        reports the pod Failed with that condition kept; with ``delete=True`` the
        pod is then deleted as the scheduler does after preempting.
        """
        pod = raw(self.core.read_namespaced_pod, pod_name, namespace)
        uid = pod["metadata"]["uid"]
        self._patch_status(
            namespace,
            pod_name,
            {"status": {"conditions": [self._disruption_cond(reason, message)]}},
        )
        with self._lock:
            run = self._runs.get(uid)
        if run is not None and not run.done.is_set():
            run.disruption = (reason, message)
            run.request_stop(grace=min(2.0, self.max_grace_seconds), delete_after=False)
            if not run.done.wait(timeout):
                raise TimeoutError(f"pod {namespace}/{pod_name} did not stop within {timeout}s")
        elif pod.get("status", {}).get("phase") not in TERMINAL:
            self._patch_status(
                namespace,
                pod_name,
                {
                    "status": {
                        "phase": "Failed",
                        "reason": reason,
                        "message": message,
                        "conditions": [self._disruption_cond(reason, message)],
                    }
                },
            )
        if delete:
            try:
                self.core.delete_namespaced_pod(pod_name, namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise

    def pod_log(self, namespace: str, pod_name: str, container: str | None = None) -> str:
        """Output of a pod's container (stdout+stderr), like ``kubectl logs``."""
        with self._lock:
            runs = [
                r for r in self._runs.values() if r.namespace == namespace and r.name == pod_name
            ]
        if not runs:
            raise KeyError(f"no pod {namespace}/{pod_name} ran on the shim")
        run = runs[-1]
        name = container or (run.containers[0].name if run.containers else "")
        path = run.sandbox / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def running_pids(self) -> list[int]:
        with self._lock:
            runs = list(self._runs.values())
        return [
            c.popen.pid
            for r in runs
            for c in r.init_containers + r.containers
            if c.popen is not None and c.popen.poll() is None
        ]

    # ------------------------------------------------------------ watching

    def _watch_loop(self) -> None:
        wclient = self._factory()
        core = k8s.CoreV1Api(wclient)
        selector = "spec.nodeName!="
        while not self._stopping.is_set():
            try:
                listing = raw(core.list_pod_for_all_namespaces, field_selector=selector)
                for pod in listing.get("items", []):
                    self._sync(pod)
                rv = listing["metadata"]["resourceVersion"]
                self._watch = k8s_watch.Watch()
                for event in self._watch.stream(
                    core.list_pod_for_all_namespaces,
                    field_selector=selector,
                    resource_version=rv,
                    timeout_seconds=30,
                    _request_timeout=60,
                ):
                    if self._stopping.is_set():
                        break
                    obj = event["raw_object"]
                    if event["type"] == "DELETED":
                        self._forget(obj)
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        self._sync(obj)
            except Exception as exc:
                if self._stopping.is_set():
                    break
                self.errors.append(f"watch: {exc!r}")
                time.sleep(0.5)
        with contextlib.suppress(Exception):
            wclient.close()

    def _sync(self, pod: dict[str, Any]) -> None:
        spec = pod.get("spec", {})
        if spec.get("nodeName") not in self.node_names:
            return
        meta = pod["metadata"]
        uid = meta["uid"]
        phase = pod.get("status", {}).get("phase", "Pending")
        with self._lock:
            run = self._runs.get(uid)
            if run is None and not meta.get("deletionTimestamp") and phase not in TERMINAL:
                run = PodRun(
                    uid=uid,
                    namespace=meta["namespace"],
                    name=meta["name"],
                    sandbox=self.workdir / f"{meta['namespace']}_{meta['name']}_{uid[:8]}",
                )
                self._runs[uid] = run
                t = threading.Thread(
                    target=self._run_pod, args=(run, pod), name=f"pod-{meta['name']}", daemon=True
                )
                self._threads.append(t)
                t.start()
                return
        if meta.get("deletionTimestamp"):
            grace = float(meta.get("deletionGracePeriodSeconds") or 0)
            grace = min(grace, self.max_grace_seconds)
            if run is not None and not run.done.is_set():
                run.request_stop(grace, delete_after=True)
            else:
                threading.Thread(
                    target=self._finalize, args=(meta["namespace"], meta["name"], uid), daemon=True
                ).start()

    def _forget(self, pod: dict[str, Any]) -> None:
        """Pod object is gone (force-deleted): make sure its processes are too."""
        with self._lock:
            run = self._runs.get(pod["metadata"]["uid"])
        if run is not None and not run.done.is_set():
            run.request_stop(0.0, delete_after=False)

    # ------------------------------------------------------------- running

    def _lookup(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        func = (
            self.core.read_namespaced_secret
            if kind == "secret"
            else self.core.read_namespaced_config_map
        )
        try:
            return raw(func, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _base_env(self, run: PodRun) -> dict[str, str]:
        venv_bin = str(Path(sys.executable).parent)
        path = os.pathsep.join([venv_bin, os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")])
        port = str(self.api_port)
        return {
            "PATH": path,
            "HOME": str(run.sandbox),
            "HOSTNAME": run.name,
            "LANG": "C.UTF-8",
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": port,
            "KUBERNETES_SERVICE_PORT_HTTPS": port,
            "KUBERNETES_PORT": f"tcp://127.0.0.1:{port}",
            **self.extra_env,
        }

    def _request_token(self, namespace: str, account: str, body: dict[str, Any]) -> str:
        response = raw(self.core.create_namespaced_service_account_token, account, namespace, body)
        return str(response["status"]["token"])

    def _prepare_volumes(self, run: PodRun, pod: dict[str, Any]) -> bool:
        """Set up the pod's volumes, retrying (ContainerCreating) while a source is missing."""
        run.volumes = PodVolumes(pod, run.sandbox / "volumes", self._lookup, self._request_token)
        posted = False
        while True:
            try:
                run.volumes.prepare()
                return True
            except VolumeError as exc:
                for c in run.init_containers + run.containers:
                    c.waiting_reason, c.waiting_message = "ContainerCreating", f"MountVolume: {exc}"
            if run.stop_requested is not None or self._stopping.is_set():
                return False
            if not posted:
                self._post(run, "Pending", initialized=not run.init_containers)
                posted = True
            time.sleep(1.0)

    def _isolated(self, run: PodRun, spec: dict[str, Any], argv: list[str]) -> list[str]:
        """argv run in a private mount namespace with the container's mounts, if it has any."""
        security = spec.get("securityContext") or {}
        read_only_root = bool(security.get("readOnlyRootFilesystem"))
        if run.volumes is None or not (spec.get("volumeMounts") or read_only_root):
            return argv
        if _UNSHARE is None or os.geteuid() != 0:
            raise VolumeError("mounting volumes needs root and util-linux unshare")
        mounts = [m.to_json() for m in run.volumes.mounts(spec)]
        keep = [sys.prefix, str(Path(__file__).resolve().parents[3])]  # venv, checkout
        layout = json.dumps({"mounts": mounts, "readOnlyRoot": read_only_root, "keep": keep})
        return [
            _UNSHARE,
            "--mount",
            "--propagation",
            "private",
            "--",
            sys.executable,
            "-I",
            "-S",
            str(PODMOUNTS),
            layout,
            *argv,
        ]

    def _spawn(
        self, run: PodRun, pod: dict[str, Any], spec: dict[str, Any], c: ContainerRun
    ) -> bool:
        """Start a container's process; False (with a waiting reason) if its config is missing."""
        try:
            env = container_env(pod, spec, self._base_env(run), self._lookup)
            argv = container_argv(spec, env, self.entrypoints)
        except EnvConfigError as exc:
            c.waiting_reason, c.waiting_message = "CreateContainerConfigError", str(exc)
            return False
        try:
            argv = self._isolated(run, spec, argv)
        except VolumeError as exc:
            c.waiting_reason, c.waiting_message = "CreateContainerConfigError", str(exc)
            return False
        workdir = spec.get("workingDir")
        cwd = workdir if workdir and os.path.isdir(workdir) else str(run.sandbox)
        with open(run.sandbox / f"{c.name}.log", "ab") as log:
            try:
                # The pod thread that spawns it lives until the process exits, so the
                # parent-death signal only fires if the harness itself dies.
                c.popen = subprocess.Popen(
                    die_with_parent(argv),
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:  # e.g. executable not found: the runtime's StartError
                c.started_at = c.finished_at = _now()
                c.exit_code = 128
                c.waiting_message = str(exc)
                log.write(f"kubelet-shim: failed to start {argv!r}: {exc}\n".encode())
                return True
        c.started_at = _now()
        c.exit_code = None
        return True

    def _reap(self, run: PodRun, procs: list[ContainerRun]) -> bool:
        """Poll processes, applying a requested stop; True when none is running."""
        with run.lock:
            stop_at, grace = run.stop_requested, run.grace
        alive = [c for c in procs if c.popen is not None and c.exit_code is None]
        for c in alive:
            assert c.popen is not None
            rc = c.popen.poll()
            if rc is not None:
                c.exit_code, c.finished_at = _exit_code(rc), _now()
                _signal_group(c.popen, signal.SIGKILL)  # leftovers in the container's group
            elif stop_at is not None:
                if time.monotonic() - stop_at >= grace:
                    _signal_group(c.popen, signal.SIGKILL)
                elif not c.term_sent:  # once, so graceful-shutdown handlers can finish
                    _signal_group(c.popen, signal.SIGTERM)
                    c.term_sent = True
        return all(c.exit_code is not None or c.popen is None for c in procs)

    def _run_pod(self, run: PodRun, pod: dict[str, Any]) -> None:
        try:
            self._run_pod_inner(run, pod)
        except Exception as exc:
            self.errors.append(f"pod {run.namespace}/{run.name}: {exc!r}")
        finally:
            for c in run.init_containers + run.containers:
                if c.popen is not None and c.popen.poll() is None:
                    _signal_group(c.popen, signal.SIGKILL)
            run.done.set()
        if run.delete_after:
            self._finalize(run.namespace, run.name, run.uid)

    def _run_pod_inner(self, run: PodRun, pod: dict[str, Any]) -> None:
        run.sandbox.mkdir(parents=True, exist_ok=True)
        spec = pod["spec"]
        policy = spec.get("restartPolicy", "Always")
        init_specs = [
            c for c in spec.get("initContainers") or [] if c.get("restartPolicy") != "Always"
        ]
        specs = spec.get("containers") or []
        run.init_containers = [ContainerRun(c["name"], c.get("image", "")) for c in init_specs]
        run.containers = [ContainerRun(c["name"], c.get("image", "")) for c in specs]
        if not self._prepare_volumes(run, pod):
            return self._finish(run, pod)
        for cspec, c in zip(init_specs, run.init_containers, strict=True):
            while True:
                if not self._wait_spawn(run, pod, cspec, c):
                    return self._finish(run, pod)
                self._post(run, "Pending", initialized=False)
                while not self._reap(run, [c]):
                    time.sleep(0.1)
                if c.exit_code == 0 or run.stop_requested is not None or policy == "Never":
                    break
                self._restart(c)
                time.sleep(1.0)
            if c.exit_code != 0:
                return self._finish(run, pod)
        for cspec, c in zip(specs, run.containers, strict=True):
            if not self._wait_spawn(run, pod, cspec, c):
                return self._finish(run, pod)
        self._post(run, "Running", initialized=True)
        while True:
            done = self._reap(run, run.containers)
            if run.stop_requested is None and policy != "Never":
                restarted = False
                for cspec, c in zip(specs, run.containers, strict=True):
                    if c.exit_code is None or (c.exit_code == 0 and policy == "OnFailure"):
                        continue
                    done = False
                    if time.monotonic() >= c.next_start:
                        self._restart(c)
                        self._spawn(run, pod, cspec, c)
                        restarted = True
                if restarted:
                    self._post(run, "Running", initialized=True)
            if done:
                break
            time.sleep(0.1)
        self._finish(run, pod)

    def _restart(self, c: ContainerRun) -> None:
        c.last_terminated = {
            "exitCode": c.exit_code,
            "reason": "Error" if c.exit_code else "Completed",
            "startedAt": c.started_at,
            "finishedAt": c.finished_at,
        }
        c.restart_count += 1
        c.exit_code = None
        c.popen = None
        c.term_sent = False
        # Crash-loop back-off, much shorter than the kubelet's 10s..5min.
        c.next_start = time.monotonic() + min(c.restart_count, 10)

    def _wait_spawn(
        self, run: PodRun, pod: dict[str, Any], cspec: dict[str, Any], c: ContainerRun
    ) -> bool:
        """Spawn, retrying while secrets/configmaps are missing; False if stopped meanwhile."""
        posted = False
        while not self._spawn(run, pod, cspec, c):
            if run.stop_requested is not None or self._stopping.is_set():
                return False
            if not posted:
                self._post(run, "Pending", initialized=not run.init_containers)
                posted = True
            time.sleep(1.0)
        return True

    def _finish(self, run: PodRun, pod: dict[str, Any]) -> None:
        """Report the terminal phase: Succeeded only if every container exited 0 undisturbed."""
        containers = run.init_containers + run.containers
        for c in containers:
            if c.popen is not None and c.popen.poll() is None:
                _signal_group(c.popen, signal.SIGKILL)
                c.exit_code = _exit_code(c.popen.wait())
            if c.exit_code is None:  # never started: the kubelet reports 137 as well
                c.exit_code = 137
                c.finished_at = _now()
            c.finished_at = c.finished_at or _now()
            c.started_at = c.started_at or c.finished_at
        ok = run.disruption is None and all(c.exit_code == 0 for c in containers)
        self._post(run, "Succeeded" if ok else "Failed", initialized=True)

    # -------------------------------------------------------------- status

    @staticmethod
    def _disruption_cond(reason: str, message: str) -> dict[str, str]:
        return {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": reason,
            "message": message,
            "lastTransitionTime": _now(),
        }

    def _post(self, run: PodRun, phase: str, initialized: bool) -> None:
        now = _now()
        terminal = phase in TERMINAL
        all_running = all(c.popen is not None and c.exit_code is None for c in run.containers)
        ready = phase == "Running" and all_running

        def cond(kind: str, ok: bool, reason: str = "") -> dict[str, str]:
            d = {"type": kind, "status": "True" if ok else "False", "lastTransitionTime": now}
            if reason and not ok:
                d["reason"] = reason
            return d

        not_ready = "PodCompleted" if terminal else "ContainersNotReady"
        conditions = [
            cond("PodReadyToStartContainers", not terminal),
            cond("Initialized", initialized, "ContainersNotInitialized"),
            cond("ContainersReady", ready, not_ready),
            cond("Ready", ready, not_ready),
        ]
        if run.disruption is not None:
            conditions.append(self._disruption_cond(*run.disruption))
        status: dict[str, Any] = {
            "phase": phase,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": run.start_time,
            "conditions": conditions,
            "containerStatuses": [c.status(run.uid) for c in run.containers],
        }
        if run.init_containers:
            status["initContainerStatuses"] = [c.status(run.uid) for c in run.init_containers]
        if run.disruption is not None and terminal:
            status["reason"], status["message"] = run.disruption
        run.phase = phase
        self._patch_status(run.namespace, run.name, {"status": status})

    def _patch_status(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        for attempt in range(10):
            try:
                self.core.patch_namespaced_pod_status(name, namespace, body)
                return
            except ApiException as exc:
                if exc.status == 404:
                    return
                if attempt == 9 or exc.status not in (409, 429, 500, 503, 504):
                    self.errors.append(f"status {namespace}/{name}: {exc.status} {exc.body!r}")
                    return
            except Exception as exc:
                if attempt == 9:
                    self.errors.append(f"status {namespace}/{name}: {exc!r}")
                    return
            time.sleep(0.2 * (attempt + 1))

    def _finalize(self, namespace: str, name: str, uid: str) -> None:
        """What the kubelet does after the containers are gone: delete with grace 0."""
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
        for attempt in range(5):
            try:
                self.core.delete_namespaced_pod(name, namespace, body=body, grace_period_seconds=0)
                return
            except ApiException as exc:
                if exc.status in (404, 409):  # gone, or a new pod with the same name
                    return
            except Exception:
                pass
            time.sleep(0.2 * (attempt + 1))
