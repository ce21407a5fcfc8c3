"""Start and reliably stop the harness's own processes.

Why: a failed test must never leave an etcd or kube-apiserver running on the
machine (CI runs on the developer's machine). Every process is started here,
remembered by its pid, and stopped by that pid on shutdown, from the fixture's
teardown and again from ``atexit``. Processes also get a parent-death signal
(``setpriv --pdeathsig KILL``) so the kernel kills them if pytest dies hard.
Each process writes to its own log file so a failure can show the tail.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_SETPRIV = shutil.which("setpriv")


def die_with_parent(argv: Sequence[str]) -> list[str]:
    """Prefix ``argv`` so the kernel SIGKILLs it if the thread that started it dies.

    Uses util-linux's ``setpriv --pdeathsig`` (it execs, so the pid is the
    command's own) rather than a ``preexec_fn``, which is unsafe once the
    harness has threads. Without setpriv the atexit/teardown cleanup still applies.
    """
    if _SETPRIV:
        return [_SETPRIV, "--pdeathsig", "KILL", "--", *argv]
    return list(argv)


@dataclass
class ManagedProcess:
    """One process the harness started, with where its output goes."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def stop_pid(popen: subprocess.Popen[bytes], grace: float = 10.0, group: bool = False) -> None:
    """SIGTERM a process we started (or its own process group), then SIGKILL after ``grace``."""
    if popen.poll() is not None:
        return

    def send(sig: signal.Signals) -> None:
        try:
            if group:
                os.killpg(popen.pid, sig)
            else:
                popen.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    send(signal.SIGTERM)
    try:
        popen.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=10)
    if group:  # reap stragglers in the group even if the leader already exited
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGKILL)


@dataclass
class ProcessSet:
    """The control-plane processes of one cluster, stopped in reverse start order."""

    log_dir: Path
    procs: list[ManagedProcess] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _atexit_registered: bool = False

    def start(
        self, name: str, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> ManagedProcess:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                die_with_parent(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        proc = ManagedProcess(name=name, popen=popen, log_path=log_path)
        with self._lock:
            self.procs.append(proc)
            if not self._atexit_registered:
                atexit.register(self.stop_all)
                self._atexit_registered = True
        return proc

    def stop_all(self, grace: float = 10.0) -> None:
        with self._lock:
            procs = list(reversed(self.procs))
        for proc in procs:
            stop_pid(proc.popen, grace=grace)

    def dead(self) -> list[ManagedProcess]:
        return [p for p in self.procs if not p.alive()]

    def report(self, lines: int = 40) -> str:
        """Tails of every component log, for a failure message."""
        parts = []
        for proc in self.procs:
            state = "running" if proc.alive() else f"exited {proc.popen.returncode}"
            parts.append(f"===== {proc.name} (pid {proc.pid}, {state}) {proc.log_path} =====")
            parts.append(proc.tail(lines))
        return "\n".join(parts)


class ProcessDied(RuntimeError):
    """A process the harness depends on exited; waiting any longer is pointless."""


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    interval: float = 0.25,
    what: str = "",
) -> None:
    """Poll ``predicate`` until true or raise TimeoutError naming ``what``.

    Exceptions from the predicate count as "not yet" (the API server may still
    be starting), except ProcessDied, which is raised at once.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            if predicate():
                return
        except ProcessDied:
            raise
        except Exception as exc:
            last_error = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(
                f"timed out after {timeout:.0f}s waiting for {what or predicate}{detail}"
            )
        time.sleep(interval)
