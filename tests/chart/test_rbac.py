"""The chart's RBAC is exactly what the operator needs: tests/chart/permissions.py, which is
itself checked against the operator's API calls and kopf's settings."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from loocv_operator.kube.main import kopf_settings
from loocv_operator.kube.settings import Settings
from tests.chart.conftest import CHART, NAMESPACE, Manifests, find, only
from tests.chart.permissions import PERMISSIONS, declared, kubeapi_calls

WATCHED = ["ml-team-a", "ml-team-b"]


def granted(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(group, resource, verb) triples a Role/ClusterRole grants; wildcards are refused."""
    out: set[tuple[str, str, str]] = set()
    for rule in role["rules"]:
        assert "nonResourceURLs" not in rule and "resourceNames" not in rule, rule
        for part in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[part], f"wildcard in {part}: {rule}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    out.add((group, resource, verb))
    return out


def test_declared_client_permissions_are_the_calls_in_kubeapi() -> None:
    """A call added to (or removed from) kubeapi.py must be reflected in the declared set."""
    assert kubeapi_calls() == declared("kubeapi")


def test_kopf_needs_only_the_declared_permissions() -> None:
    """No CRD or Namespace watching, no peering objects, annotations instead of status."""
    defaults = Settings()
    settings = kopf_settings(defaults)
    assert settings.scanning.disabled is True  # else: list/watch CRDs and Namespaces
    assert defaults.peering is None  # standalone; else: kopfpeerings get/list/watch/patch
    assert type(settings.persistence.progress_storage).__name__ == "AnnotationsProgressStorage"
    assert type(settings.persistence.diffbase_storage).__name__ == "AnnotationsDiffBaseStorage"
    assert settings.posting.enabled  # kopf posts Events: events create is needed
    assert declared("kopf") == {("loocv.dev", "loocvruns", v) for v in ("list", "watch", "patch")}


def test_every_permission_says_why() -> None:
    keys = [p.key for p in PERMISSIONS]
    assert len(keys) == len(set(keys))
    assert all(p.why and p.source in ("kubeapi", "kopf", "admission") for p in PERMISSIONS)


def test_cluster_role_grants_exactly_the_declared_permissions(
    render: Callable[..., Manifests],
) -> None:
    manifests = render()
    role = only(manifests, "ClusterRole")
    assert granted(role) == declared()
    binding = only(manifests, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    account = only(manifests, "ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    deployment = only(manifests, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]


def test_watched_namespaces_get_roles_and_nothing_cluster_wide(
    render: Callable[..., Manifests],
) -> None:
    manifests = render({"watchNamespaces": WATCHED})
    assert not find(manifests, "ClusterRole") and not find(manifests, "ClusterRoleBinding")
    roles = find(manifests, "Role")
    bindings = find(manifests, "RoleBinding")
    assert sorted(r["metadata"]["namespace"] for r in roles) == WATCHED
    assert sorted(b["metadata"]["namespace"] for b in bindings) == WATCHED
    account = only(manifests, "ServiceAccount")["metadata"]["name"]
    for role in roles:
        assert granted(role) == declared()
    for binding in bindings:
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}
        ]


def test_rbac_can_be_left_to_the_admin(render: Callable[..., Manifests]) -> None:
    manifests = render({"rbac": {"create": False}})
    for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
        assert not find(manifests, kind)


def _rule_blocks() -> list[tuple[list[str], list[str]]]:
    """(comment lines, verbs) of each rule in the chart's rules template."""
    text = (CHART / "templates" / "_helpers.tpl").read_text()
    body = text.split('define "loocv-operator.rules"', 1)[1].split("{{- end }}", 1)[0]
    blocks: list[tuple[list[str], list[str]]] = []
    for chunk in body.split("- apiGroups:")[1:]:
        comments = [ln.strip() for ln in chunk.splitlines() if ln.strip().startswith("#")]
        verbs = re.search(r"verbs: \[(.*)\]", chunk)
        assert verbs is not None, chunk
        blocks.append((comments, re.findall(r'"([a-z]+)"', verbs.group(1))))
    return blocks


def test_every_verb_in_the_template_is_commented() -> None:
    verbs = [(comments, verb) for comments, vs in _rule_blocks() for verb in vs]
    assert len(verbs) == len(declared())
    missing = [
        verb
        for comments, verb in verbs
        if not any(re.match(rf"#\s+(\S+ \+ )?{verb}( \+ \S+)?:", c) for c in comments)
    ]
    assert not missing, f"no '# <verb>: why' comment above the rules granting {missing}"
