"""``loocv operator`` / ``python -m loocv_operator.kube.main``: run the operator.

Builds everything once (settings, the Kubernetes client, the stores, the metrics server,
the run service, kopf's registry and settings), then hands control to kopf.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

import kopf
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from . import settings as operator_settings
from .handlers import register
from .kubeapi import KubeApi
from .service import RunService
from .settings import Settings
from .telemetry import Telemetry

PREFIX = "loocv.dev"


def kube_client(pool_size: int) -> k8s.ApiClient:
    """In a pod: its service account; elsewhere: the kubeconfig (KUBECONFIG or ~/.kube)."""
    configuration = k8s.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=configuration)
    except k8s_config.ConfigException:
        k8s_config.load_kube_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = max(4, pool_size * 2)
    return k8s.ApiClient(configuration)


def kopf_settings(settings: Settings) -> kopf.OperatorSettings:
    result = kopf.OperatorSettings()
    result.execution.max_workers = settings.workers
    # kopf's bookkeeping in our annotations, never in the status (its schema is ours).
    result.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    result.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration"
    )
    result.persistence.finalizer = f"{PREFIX}/delete-results"
    result.posting.level = logging.WARNING  # kopf's own log lines as Events: problems only
    result.scanning.disabled = True  # no cluster-wide CRD/namespace watches: least privilege
    return result


def configure_logging(settings: Settings) -> None:
    kopf.configure(
        verbose=settings.verbose,
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL,
    )
    logging.getLogger("loocv").setLevel(logging.DEBUG if settings.verbose else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    settings = operator_settings.load(sys.argv[1:] if argv is None else argv)
    configure_logging(settings)
    if settings.s3_endpoint:  # the engine's store and dataset readers look here
        os.environ.setdefault("LOOCV_S3_ENDPOINT", settings.s3_endpoint)
    if settings.s3_addressing_style:  # and the style the s3 client uses (s3client.py)
        os.environ["LOOCV_S3_ADDRESSING_STYLE"] = settings.s3_addressing_style
    telemetry = Telemetry()
    if settings.metrics_port:
        telemetry.serve(settings.metrics_port)
    service = RunService(settings, KubeApi(kube_client(settings.workers)), telemetry)
    registry = kopf.OperatorRegistry()
    register(registry, service, settings)
    kopf.run(
        registry=registry,
        settings=kopf_settings(settings),
        clusterwide=settings.clusterwide,
        namespaces=settings.namespaces,
        standalone=settings.peering is None,
        peering_name=settings.peering,
        liveness_endpoint=settings.liveness,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
