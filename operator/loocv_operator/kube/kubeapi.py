"""The few Kubernetes API calls the operator makes, behind one small interface.

Built once at start-up on one shared ``ApiClient``. Objects travel as plain dicts (the
API's own camelCase JSON), so the pure builders' output is sent as is and what is read back
is what the builders' tests describe. Patches say their content type: the client would
otherwise send a dict as a JSON Patch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from kubernetes import client as k8s

from . import kueue
from .crd import GROUP, PLURAL, VERSION

MERGE_PATCH = "application/merge-patch+json"
TIMEOUT = (5.0, 30.0)


class RunGone(Exception):
    """The LOOCVRun no longer exists."""


class KubeGateway(Protocol):
    def list_jobs(self, namespace: str, selector: str) -> list[dict[str, Any]]: ...
    def create_job(self, namespace: str, body: Mapping[str, Any]) -> bool: ...
    def set_job_suspend(self, namespace: str, name: str, suspend: bool) -> None: ...
    def delete_job(self, namespace: str, name: str) -> None: ...
    def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]: ...
    def patch_run_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None: ...
    def post_event(self, namespace: str, body: Mapping[str, Any]) -> None: ...
    def list_workloads(self, namespace: str) -> list[dict[str, Any]] | None: ...


class KubeApi:
    """KubeGateway over the official client."""

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self.batch = k8s.BatchV1Api(api_client)
        self.core = k8s.CoreV1Api(api_client)
        self.custom = k8s.CustomObjectsApi(api_client)
        self.kueue = k8s.CustomObjectsApi(api_client)  # Kueue's Workloads (queued runs only)

    @staticmethod
    def _json(response: Any) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(response.data or b"{}")
        return data

    def list_jobs(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        response = self.batch.list_namespaced_job(
            namespace, label_selector=selector, _preload_content=False, _request_timeout=TIMEOUT
        )
        return list(self._json(response).get("items") or [])

    def create_job(self, namespace: str, body: Mapping[str, Any]) -> bool:
        """True if created, False if a Job of that name already exists (a restart)."""
        try:
            self.batch.create_namespaced_job(
                namespace, dict(body), _request_timeout=TIMEOUT, _preload_content=False
            )
        except k8s.ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def set_job_suspend(self, namespace: str, name: str, suspend: bool) -> None:
        try:
            self.batch.patch_namespaced_job(
                name,
                namespace,
                {"spec": {"suspend": suspend}},
                _content_type=MERGE_PATCH,
                _request_timeout=TIMEOUT,
                _preload_content=False,
            )
        except k8s.ApiException as exc:
            if exc.status != 404:  # finished and deleted meanwhile
                raise

    def delete_job(self, namespace: str, name: str) -> None:
        """In the background: the Job goes at once, the garbage collector removes its pods
        (a Job replaced by a resubmission, kube/disruption.py). Gone already: fine."""
        try:
            self.batch.delete_namespaced_job(
                name,
                namespace,
                propagation_policy="Background",
                _request_timeout=TIMEOUT,
                _preload_content=False,
            )
        except k8s.ApiException as exc:
            if exc.status != 404:
                raise

    def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        response = self.core.list_namespaced_pod(
            namespace, label_selector=selector, _preload_content=False, _request_timeout=TIMEOUT
        )
        return list(self._json(response).get("items") or [])

    def patch_run_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        try:
            self.custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                {"status": dict(status)},
                _content_type=MERGE_PATCH,
                _request_timeout=TIMEOUT,
                _preload_content=False,
            )
        except k8s.ApiException as exc:
            if exc.status == 404:
                raise RunGone(f"{namespace}/{name}") from None
            raise

    def post_event(self, namespace: str, body: Mapping[str, Any]) -> None:
        self.core.create_namespaced_event(
            namespace, dict(body), _request_timeout=TIMEOUT, _preload_content=False
        )

    def list_workloads(self, namespace: str) -> list[dict[str, Any]] | None:
        """Kueue's Workloads in the namespace (a queued run's Jobs each have one); None if
        the cluster has no Workload API (Kueue is not installed)."""
        try:
            response = self.kueue.list_namespaced_custom_object(
                kueue.GROUP,
                kueue.VERSION,
                namespace,
                kueue.WORKLOADS,
                _preload_content=False,
                _request_timeout=TIMEOUT,
            )
        except k8s.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return list(self._json(response).get("items") or [])
