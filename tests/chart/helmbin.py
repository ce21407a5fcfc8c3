"""The pinned Helm binary: built once from the Go module proxy by build-helm.sh, then cached.

Used by the chart tests and by the e2e Helm install. ``LOOCV_HELM=/path/to/helm`` uses a
given binary instead (it must be the pinned version).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

BUILD_SCRIPT = Path(__file__).resolve().with_name("build-helm.sh")


def pinned_version() -> str:
    """The version build-helm.sh pins (its HELM_VERSION default)."""
    match = re.search(
        r'HELM_VERSION="\$\{LOOCV_HELM_VERSION:-(v[0-9.]+)\}"', BUILD_SCRIPT.read_text()
    )
    if match is None:
        raise RuntimeError(f"no HELM_VERSION pin in {BUILD_SCRIPT}")
    return match.group(1)


def ensure_helm() -> Path:
    """The helm binary, building it first if it is not cached (progress goes to stderr)."""
    given = os.environ.get("LOOCV_HELM")
    if given:
        return Path(given)
    done = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False, timeout=1800
    )
    if done.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT} failed with exit code {done.returncode}")
    path = Path(done.stdout.strip().splitlines()[-1])
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{BUILD_SCRIPT} printed {path}, which is not an executable")
    return path
