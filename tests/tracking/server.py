"""A real MLflow tracking server on loopback, for the tests.

The server needs full `mlflow` (Flask, SQLAlchemy, pandas, pyarrow < 26, ...), whose pins
clash with ours (pyarrow 26), so it lives in its own virtualenv, built once per machine from
PyPI with the version pinned in mlflow-server.txt (~1 min) and cached under
~/.cache/loocv-operator/mlflow-server/. Our code only ever uses the mlflow-skinny client.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PINS = Path(__file__).with_name("mlflow-server.txt")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "loocv-operator"


def ensure_server_venv() -> Path:
    """The `mlflow` executable of the server's virtualenv, built if missing."""
    version = PINS.read_text().strip().split("==")[1]
    home = CACHE / "mlflow-server" / version
    binary = home / "bin" / "mlflow"
    if binary.is_file():
        return binary
    print(f"[mlflow] building the server's virtualenv in {home} (once)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(home)], check=True, timeout=300)
    subprocess.run(
        [str(home / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", str(PINS)],
        check=True,
        timeout=1200,
    )
    return binary


@dataclass
class MlflowServer:
    uri: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """Stop the server and its workers: its own process group (started for it)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=20)
                break
            except subprocess.TimeoutExpired:
                continue


def start(workdir: Path, port: int) -> MlflowServer:
    """Start `mlflow server` on 127.0.0.1:port with a SQLite store and served artifacts in
    workdir; return once /health answers."""
    binary = ensure_server_venv()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "mlflow-server.log"
    process = subprocess.Popen(
        [
            str(binary),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{workdir / 'mlflow.db'}",
            "--artifacts-destination",
            (workdir / "artifacts").as_uri(),
            "--serve-artifacts",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=workdir,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                if answer.status == 200:
                    return MlflowServer(uri, process, log)
        except OSError:
            time.sleep(0.5)
    MlflowServer(uri, process, log).stop()
    raise RuntimeError(f"mlflow server did not answer in 120 s: {log.read_text()[-3000:]}")


if __name__ == "__main__":
    print(ensure_server_venv())
