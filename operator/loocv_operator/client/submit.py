"""Creating a LOOCVRun from a manifest, with the API server's refusals in words.

The manifest is validated here first (the same model as `loocv validate`), so most mistakes
are named before the cluster is contacted; what only the cluster knows (its admission rules,
a name in use, RBAC) comes back as the API server said it, with the field named.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput
from ..spec import API_GROUP, API_VERSION, parse_run

PLURAL = "loocvruns"


class ClusterError(Exception):
    """The cluster could not be reached or refused us for a reason that is not the manifest's."""


@dataclass(frozen=True)
class RunAddress:
    namespace: str
    name: str

    def kubectl(self, verb: str) -> str:
        return f"kubectl {verb} loocvrun/{self.name} -n {self.namespace}"


def api_client(context: str | None) -> Any:
    """A client from the current kubeconfig (KUBECONFIG or ~/.kube/config)."""
    from kubernetes import config

    try:
        return config.new_client_from_config(context=context)
    except (config.ConfigException, FileNotFoundError, TypeError) as exc:
        raise ClusterError(f"no usable kubeconfig: {exc}") from None


def context_namespace(context: str | None) -> str | None:
    from kubernetes import config

    try:
        contexts, active = config.list_kube_config_contexts()
    except (config.ConfigException, FileNotFoundError, TypeError):
        return None
    chosen = next((c for c in contexts if c["name"] == context), active) if context else active
    namespace = (chosen or {}).get("context", {}).get("namespace")
    return str(namespace) if namespace else None


def prepare_document(
    document: dict[str, Any], source: str, namespace: str | None, name: str | None
) -> tuple[dict[str, Any], str]:
    """The object to create and its namespace: validated, named (``--name``, or the API
    server generates one from ``metadata.generateName``), without a status."""
    doc = copy.deepcopy(document)
    metadata = dict(doc.get("metadata") or {})
    if name:
        metadata["name"] = name
        metadata.pop("generateName", None)
    probe = copy.deepcopy(doc)
    probe["metadata"] = dict(metadata)
    if "name" not in metadata and metadata.get("generateName"):
        probe["metadata"]["name"] = str(metadata["generateName"]).rstrip("-") + "-x"
    probe["metadata"].pop("generateName", None)
    run = parse_run(probe, source)  # ManifestError, field by field
    chosen = namespace or metadata.get("namespace") or run.metadata.namespace
    metadata["namespace"] = chosen
    doc["metadata"] = metadata
    doc.pop("status", None)
    return doc, str(chosen)


def _api_message(exc: Any) -> tuple[str, list[tuple[str, str]]]:
    """The API server's Status: its message and, for 422, each cause with its field."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return str(exc.reason or exc), []
    causes = [
        (str(c.get("field") or "manifest"), str(c.get("message") or ""))
        for c in (body.get("details") or {}).get("causes") or []
    ]
    return str(body.get("message") or exc.reason or exc), causes


def create(api: Any, document: dict[str, Any], namespace: str) -> RunAddress:
    """Create the LOOCVRun; InvalidInput for what the manifest got wrong, ClusterError else."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError

    custom = client.CustomObjectsApi(api)
    try:
        created = custom.create_namespaced_custom_object(
            API_GROUP, API_VERSION, namespace, PLURAL, document
        )
    except ApiException as exc:
        message, causes = _api_message(exc)
        if exc.status == 422:
            if causes:
                raise InvalidInput(
                    causes[0][0], "; ".join(f"{f}: {m}" for f, m in causes)
                ) from None
            raise InvalidInput("manifest", message) from None
        if exc.status == 409:
            name = document["metadata"].get("name")
            raise InvalidInput(
                "metadata.name",
                f"a LOOCVRun named {name!r} already exists in {namespace}: give --name, use "
                f"metadata.generateName for a fresh run per CI job, or delete it "
                f"(kubectl delete loocvrun/{name} -n {namespace})",
            ) from None
        if exc.status == 404 and "namespaces" in message:
            raise InvalidInput("metadata.namespace", message) from None
        if exc.status == 404:
            raise ClusterError(
                f"the cluster has no LOOCVRun resource ({message}): install the CRD "
                "(helm install loocv-operator charts/loocv-operator)"
            ) from None
        if exc.status in (401, 403):
            raise ClusterError(f"the cluster refused to create the run: {message}") from None
        raise ClusterError(f"creating the run failed ({exc.status}): {message}") from None
    except HTTPError as exc:
        raise ClusterError(f"cannot reach the cluster: {exc}") from None
    meta = created["metadata"]
    return RunAddress(str(meta["namespace"]), str(meta["name"]))
