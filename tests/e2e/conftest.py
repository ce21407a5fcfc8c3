"""pytest wiring for the e2e suite: the session-scoped ``control_plane`` fixture.

Why session scope: starting etcd + the three control-plane components costs
~20-40s on the 2-core machine, so all e2e tests share one cluster and isolate
themselves by namespace (``namespace`` fixture). If the binaries are not in the
cache yet, the fixture builds them first (printing progress). On any test
failure the component log tails are printed and the temp dir is kept.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import Cluster, ensure_binaries, in_private_namespace, start_cluster

from tests.chart.helmbin import ensure_helm

_FAILED_KEY = pytest.StashKey[bool]()
_HELM: dict[str, Path] = {}
_STARTUPS: list[str] = []  # cluster start-up lines, for the terminal summary (fd capture)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _STARTUPS:
        terminalreporter.write_line(line)


def _sigterm_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: end-to-end test against a real local control plane (slow)"
    )
    config.addinivalue_line("markers", "images: checks inside the built images (make images-test)")
    config.addinivalue_line("markers", "realnode: a real node (kubelet, containerd), our images")
    config.stash[_FAILED_KEY] = False
    # A CI time-out sends SIGTERM, which would skip fixture teardown and atexit; turn it
    # into KeyboardInterrupt so the cluster is stopped by pid (pdeathsig is the backstop).
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build missing binaries before any test runs, outside pytest-timeout's per-test limit."""
    if session.config.option.collectonly:
        return
    if any(
        {"control_plane", "real_cluster"} & set(getattr(item, "fixturenames", ()))
        for item in session.items
    ):
        try:
            ensure_binaries()
        except Exception as exc:
            pytest.exit(f"[e2e] could not build the control-plane binaries: {exc}", returncode=3)
    elif any(  # only the S3 server (test_s3_server.py, make images-test): ~2 min cold
        {"s3", "server", "store"} & set(getattr(item, "fixturenames", ())) for item in session.items
    ):
        try:
            ensure_binaries(s3_only=True)
        except Exception as exc:
            pytest.exit(f"[e2e] could not build the S3 server: {exc}", returncode=3)
    if any("kueue" in getattr(item, "fixturenames", ()) for item in session.items):
        from cluster.kueue import kueue_binary  # test_kueue.py: ~6 min cold, once per machine

        try:
            kueue_binary()
        except Exception as exc:
            pytest.exit(f"[e2e] could not build kueue: {exc}", returncode=3)
    if any("helm_binary" in getattr(item, "fixturenames", ()) for item in session.items):
        try:
            _HELM["bin"] = ensure_helm()
        except Exception as exc:
            pytest.exit(f"[e2e] could not build helm: {exc}", returncode=3)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    names = getattr(item, "fixturenames", ())
    if report.failed and ("control_plane" in names or "real_cluster" in names):
        item.config.stash[_FAILED_KEY] = True
        funcargs = getattr(item, "funcargs", {})
        cluster = funcargs.get("control_plane") or funcargs.get("real_cluster")
        if isinstance(cluster, Cluster):
            report.sections.append(("e2e control plane logs", cluster.diagnostics()))
    return report


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A running cluster: ``.kubeconfig``, ``.api_url``, ``.api_client``, ``.kubectl``, ``.shim``.

    Extra env for pod processes can be given with LOOCV_E2E_POD_ENV as
    ``KEY=VALUE;KEY2=VALUE2`` (e.g. a PYTHONPATH for the operator's worker).
    """
    extra_env = dict(
        item.split("=", 1)
        for item in os.environ.get("LOOCV_E2E_POD_ENV", "").split(";")
        if "=" in item
    )
    cluster = start_cluster(extra_env=extra_env)
    _STARTUPS.append(f"[e2e] control plane + fake nodes up in {cluster.startup_seconds:.1f}s")
    stream = sys.__stderr__ or sys.stderr
    print(
        f"\n[e2e] control plane up in {cluster.startup_seconds:.1f}s at {cluster.api_url}; "
        f"workdir {cluster.control_plane.workdir}",
        file=stream,
        flush=True,
    )
    try:
        yield cluster
    finally:
        failed = request.config.stash.get(_FAILED_KEY, False)
        cluster.stop()
        if failed or os.environ.get("LOOCV_E2E_KEEP") == "1":
            print(
                f"[e2e] kept logs/certs in {cluster.control_plane.workdir}", file=stream, flush=True
            )
        else:
            cluster.cleanup()


@pytest.fixture(scope="session")
def real_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A control plane and one real node (containerd, kubelet, kube-proxy) running our images;
    only inside tests/e2e/node/isolated.sh (`make e2e` runs pytest there), else skipped."""
    if not in_private_namespace():
        pytest.skip("the real node runs only inside tests/e2e/node/isolated.sh (make e2e)")
    cluster = start_cluster(node_specs=(), real_node=True)
    assert cluster.real_node is not None
    line = (
        f"[e2e] real node up: control plane + node in {cluster.startup_seconds:.1f}s "
        f"(node {cluster.real_node.startup_seconds:.1f}s, of which image import "
        f"{cluster.real_node.import_seconds:.1f}s); workdir {cluster.control_plane.workdir}"
    )
    _STARTUPS.append(line)
    print(f"\n{line}", file=sys.__stderr__ or sys.stderr, flush=True)
    try:
        yield cluster
    finally:
        failed = request.config.stash.get(_FAILED_KEY, False)
        cluster.stop()
        if not failed and os.environ.get("LOOCV_E2E_KEEP") != "1":
            cluster.cleanup()


@pytest.fixture
def namespace(control_plane: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test (with its default ServiceAccount ready); deleted afterwards."""
    base = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    name = control_plane.create_namespace(f"{base}-{uuid.uuid4().hex[:5]}")
    yield name
    from kubernetes import client as k8s

    with contextlib.suppress(Exception):
        k8s.CoreV1Api(control_plane.api_client).delete_namespace(name)


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    """The pinned helm (tests/chart/build-helm.sh builds it once into ~/.cache)."""
    return _HELM.get("bin") or ensure_helm()
