"""Find (and if needed build) the cached control-plane binaries.

Why: the binaries are built from the Go module proxy by
``tests/e2e/controlplane/build.sh`` into a cache outside the repository,
keyed by the Kubernetes version, so only the first run on a machine pays the
build. This module reads the pinned versions, checks the cache and runs the
build script when something is missing, streaming its progress to the terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CONTROLPLANE_DIR = Path(__file__).resolve().parent.parent / "controlplane"
BUILD_SCRIPT = CONTROLPLANE_DIR / "build.sh"


def _versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (CONTROLPLANE_DIR / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


VERSIONS = _versions()
K8S_VERSION = VERSIONS["K8S_VERSION"]
ETCD_VERSION = VERSIONS["ETCD_VERSION"]
VERSITYGW_VERSION = VERSIONS["VERSITYGW_VERSION"]


def cache_root() -> Path:
    env = os.environ.get("LOOCV_E2E_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "loocv-operator" / "e2e"


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of the control-plane executables."""

    bin_dir: Path

    @property
    def etcd(self) -> Path:
        return self.bin_dir / f"etcd-{ETCD_VERSION}"

    @property
    def kube_apiserver(self) -> Path:
        return self.bin_dir / "kube-apiserver"

    @property
    def kube_controller_manager(self) -> Path:
        return self.bin_dir / "kube-controller-manager"

    @property
    def kube_scheduler(self) -> Path:
        return self.bin_dir / "kube-scheduler"

    @property
    def kubectl(self) -> Path:
        return self.bin_dir / "kubectl"

    @property
    def kubelet(self) -> Path:
        return self.bin_dir / "kubelet"

    @property
    def kube_proxy(self) -> Path:
        return self.bin_dir / "kube-proxy"

    @property
    def versitygw(self) -> Path:
        """The S3 server (``s3server.py``), versioned in its name like etcd."""
        return self.bin_dir / f"versitygw-{VERSITYGW_VERSION}"

    def all(self) -> list[Path]:
        return [
            self.etcd,
            self.kube_apiserver,
            self.kube_controller_manager,
            self.kube_scheduler,
            self.kubectl,
            self.kubelet,
            self.kube_proxy,
            self.versitygw,
        ]

    def missing(self) -> list[Path]:
        return [p for p in self.all() if not os.access(p, os.X_OK)]


def ensure_binaries(build: bool = True, s3_only: bool = False) -> Binaries:
    """Return the cached binaries, running build.sh first if any is missing.

    The build's progress lines go straight to the real stderr so they are
    visible even while pytest captures output. Set LOOCV_E2E_NO_BUILD=1 to
    fail instead of building. ``s3_only``: only the S3 server is needed (and built).
    """
    bins = Binaries(cache_root() / K8S_VERSION / "bin")
    wanted = [bins.versitygw] if s3_only else bins.all()
    missing = [p for p in wanted if not os.access(p, os.X_OK)]
    if not missing:
        return bins
    if not build or os.environ.get("LOOCV_E2E_NO_BUILD") == "1":
        raise FileNotFoundError(
            f"e2e binaries missing ({', '.join(p.name for p in missing)}); run {BUILD_SCRIPT}"
        )
    stream = sys.__stderr__ or sys.stderr
    print(
        f"\n[e2e] building {', '.join(p.name for p in missing)} ({K8S_VERSION}, etcd "
        f"{ETCD_VERSION}, versitygw {VERSITYGW_VERSION}) into {bins.bin_dir} (first run "
        "only; about 10 minutes on 2 cores for everything, 2 for versitygw alone)",
        file=stream,
        flush=True,
    )
    proc = subprocess.Popen(
        ["bash", str(BUILD_SCRIPT)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={
            **os.environ,
            "LOOCV_E2E_CACHE": str(cache_root()),
            **({"LOOCV_E2E_BUILD_ONLY": "versitygw"} if s3_only else {}),
        },
    )
    assert proc.stderr is not None
    for raw in proc.stderr:
        stream.write(raw.decode(errors="replace"))
        stream.flush()
    if proc.wait() != 0:
        raise RuntimeError(f"{BUILD_SCRIPT} failed with exit code {proc.returncode}")
    still = [p for p in wanted if not os.access(p, os.X_OK)]
    if still:
        raise RuntimeError(f"build finished but binaries are missing: {still}")
    return bins
