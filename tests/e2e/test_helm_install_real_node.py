"""test_helm_install.py's checks on the real node: the operator from its image, installed by
`helm install` of our chart, under a real kubelet, and every trainer pod from the trainer
image.

Why a second module: the scenarios are the same (they are imported and collected here
again, as test_real_node.py does with test_operator.py); what differs is the cluster and
what reaches it. Here ``control_plane`` is the real-node cluster; the chart's default image
(the operator image ``make images`` built) runs unchanged, nothing maps it to a host
command; the S3 server listens on the node's address, which the pods reach through the
bridge; the operator's log comes from ``kubectl logs`` and its /healthz and /metrics answer
at the pod's own IP (test_helm_install.Release does both when the cluster has a real node).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import test_helm_install
from cluster import Cluster
from test_helm_install import (  # noqa: F401  (collected here again, on the real node)
    test_helm_install_cluster_wide_runs_suspends_and_resumes_under_rbac,
    test_helm_install_watching_one_namespace_runs_there_only,
)

from loocv_operator import __version__

pytestmark = [pytest.mark.e2e, pytest.mark.realnode, pytest.mark.timeout(600)]

OPERATOR_IMAGE = f"ghcr.io/loocv-dev/loocv-operator:{__version__}"  # the chart's default

# test_helm_install's own fixtures, visible here by name.
bucket = test_helm_install.bucket
release_namespace = test_helm_install.release_namespace


@pytest.fixture(scope="module")
def control_plane(real_cluster: Cluster) -> Cluster:
    return real_cluster


@pytest.fixture(scope="module")
def s3_endpoint(control_plane: Cluster) -> Iterator[str]:
    """A moto S3 server on every address of the private namespace, named by the node's
    address: the operator pod and the trainer pods reach it through the bridge."""
    from cluster.controlplane import free_port
    from moto.server import ThreadedMotoServer

    assert control_plane.real_node is not None
    port = free_port()
    server = ThreadedMotoServer(ip_address="0.0.0.0", port=port, verbose=False)
    server.start()
    yield f"http://{control_plane.real_node.ip}:{port}"
    server.stop()


@pytest.fixture
def operator_image() -> str:
    """The chart's default image, in the node's containerd (``make images``): it runs as it
    is; nothing maps it to a host command as the shim does."""
    return OPERATOR_IMAGE
