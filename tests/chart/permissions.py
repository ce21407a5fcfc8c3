"""Every Kubernetes permission the operator holds, declared once, with who needs it and why.

The chart's (Cluster)Role must grant exactly these (tests/chart/test_rbac.py), and the
``kubeapi`` part must equal what ``operator/loocv_operator/kube/kubeapi.py`` calls (derived
from its source), so adding an API call to the operator without the permission, or
keeping a permission nothing uses, fails a test. The e2e Helm install proves the set is
enough against the real API server's RBAC.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from loocv_operator.kube.crd import GROUP, PLURAL

KUBEAPI = (
    Path(__file__).resolve().parents[2] / "operator" / "loocv_operator" / "kube" / "kubeapi.py"
)


@dataclass(frozen=True)
class Permission:
    group: str
    resource: str
    verb: str
    source: str  # kubeapi (our client calls) | kopf (the framework) | admission
    why: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.group, self.resource, self.verb)


PERMISSIONS: tuple[Permission, ...] = (
    Permission(GROUP, PLURAL, "list", "kopf", "the initial listing of LOOCVRuns"),
    Permission(GROUP, PLURAL, "watch", "kopf", "the watch stream of LOOCVRuns"),
    Permission(
        GROUP,
        PLURAL,
        "patch",
        "kopf",
        "kopf's loocv.dev/* annotations and the delete-results finalizer (deleteOnDelete)",
    ),
    Permission(GROUP, f"{PLURAL}/status", "patch", "kubeapi", "progress, metrics, conditions"),
    Permission(
        GROUP,
        f"{PLURAL}/finalizers",
        "update",
        "admission",
        "blockOwnerDeletion in the Jobs' ownerReference (OwnerReferencesPermissionEnforcement)",
    ),
    Permission("batch", "jobs", "list", "kubeapi", "a run's Jobs by label selector"),
    Permission(
        "batch", "jobs", "create", "kubeapi", "the planner, one trainer per batch, the report"
    ),
    Permission("batch", "jobs", "patch", "kubeapi", "spec.suspend on suspend/resume"),
    Permission(
        "batch",
        "jobs",
        "delete",
        "kubeapi",
        "a trainer Job whose pod was disrupted, resubmitted as a new Job (kubernetes#130881)",
    ),
    Permission("", "pods", "list", "kubeapi", "a run's pods: preemptions, unschedulable pods"),
    Permission("", "events", "create", "kubeapi", "Events on runs (and kopf's warnings)"),
    Permission(
        "kueue.x-k8s.io",
        "workloads",
        "list",
        "kubeapi",
        "a queued run's Kueue Workloads: awaiting admission, missing queue, preemptions",
    ),
)

_API_GROUPS = {"batch": "batch", "core": "", "custom": GROUP, "kueue": "kueue.x-k8s.io"}
_VERBS = {
    "list": "list",
    "create": "create",
    "patch": "patch",
    "read": "get",
    "delete": "delete",
    "replace": "update",
}
_CALL = re.compile(
    r"^(list|create|patch|read|delete|replace)_(namespaced_)?([a-z_]+?)(_for_all_namespaces)?$"
)


def _resource(api: str, noun: str) -> str:
    if api == "custom":
        return {"custom_object": PLURAL, "custom_object_status": f"{PLURAL}/status"}[noun]
    if api == "kueue":  # the one Kueue object the operator reads
        return {"custom_object": "workloads"}[noun]
    return noun + "s"  # job -> jobs, pod -> pods, event -> events


def kubeapi_calls() -> set[tuple[str, str, str]]:
    """(group, resource, verb) of every ``self.<api>.<method>(...)`` call in kubeapi.py."""
    found: set[tuple[str, str, str]] = set()
    for node in ast.walk(ast.parse(KUBEAPI.read_text())):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value
        if not (
            isinstance(owner, ast.Attribute)
            and isinstance(owner.value, ast.Name)
            and owner.value.id == "self"
            and owner.attr in _API_GROUPS
        ):
            continue
        match = _CALL.match(node.func.attr)
        if match is None:
            raise AssertionError(f"kubeapi.py calls {owner.attr}.{node.func.attr}: map it here")
        verb, _, noun, _ = match.groups()
        found.add((_API_GROUPS[owner.attr], _resource(owner.attr, noun), _VERBS[verb]))
    return found


def declared(source: str | None = None) -> set[tuple[str, str, str]]:
    return {p.key for p in PERMISSIONS if source is None or p.source == source}
