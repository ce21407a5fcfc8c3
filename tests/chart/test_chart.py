"""The Helm chart: lint, render, Kubernetes schemas, values.schema.json, CRDs, pod security,
and that what it renders configures the operator as the values say."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from prometheus_client import CollectorRegistry

from loocv_operator.kube import settings as operator_settings
from loocv_operator.kube.telemetry import Telemetry
from loocv_operator.usage import Prices
from tests.chart.conftest import CHART, KUBE_VERSION, NAMESPACE, ROOT, Helm, Manifests, find, only
from tests.chart.dashboards import DASHBOARDS, executive, queries
from tests.chart.dashboards import render as render_dashboard

NON_DEFAULT: dict[str, Any] = {
    "image": {"repository": "registry.example.com/ml/loocv-operator", "tag": "0.1.0-rc1"},
    "watchNamespaces": ["ml-team-a", "ml-team-b"],
    "estimatorAllowlist": ["xgboost", "lightgbm.sklearn"],
    "trainer": {"image": "registry.example.com/ml/loocv-trainer:0.1.0-rc1", "memoryCap": "16Gi"},
    "storage": {
        "uri": "s3://ml-results/loocv/",
        "endpoint": "http://minio.storage:9000",
        "region": "eu-west-1",
        "addressingStyle": "virtual",
        "secretName": "loocv-s3",
    },
    "tracking": {
        "mlflowSecretName": "loocv-mlflow",
    },
    "operator": {
        "logFormat": "plain",
        "statusInterval": 5,
        "workers": 8,
        "verbose": True,
        "price": {"coreHour": 0.04, "gpuHour": 2.5, "gibHour": 0.005},
    },
    "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "dashboard": {"enabled": True, "annotations": {"grafana_folder": "ML"}},
    "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "resources": {"requests": {"cpu": "200m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "ml", "operator": "Exists", "effect": "NoSchedule"}],
    "priorityClassName": "system-cluster-critical",
}
# Not in Kubernetes' own schemas (a CRD of the Prometheus Operator): checked by hand below.
FOREIGN_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}


def _container(manifests: Manifests) -> dict[str, Any]:
    deployment = only(manifests, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = container
    return result


def _env(container: dict[str, Any]) -> dict[str, str]:
    """The container's plain env values (valueFrom entries excluded)."""
    return {e["name"]: e["value"] for e in container.get("env") or [] if "value" in e}


def test_lint_strict(helm: Helm, tmp_path: Path) -> None:
    helm.run("lint", "--strict", str(CHART))
    values = tmp_path / "values.json"
    values.write_text(json.dumps(NON_DEFAULT))
    helm.run("lint", "--strict", str(CHART), "--values", str(values))


@pytest.mark.parametrize("values", [None, NON_DEFAULT], ids=["default", "non-default"])
def test_every_manifest_is_valid_for_kubernetes(
    render: Callable[..., Manifests], values: dict[str, Any] | None
) -> None:
    manifests = render(values)
    kinds = {m["kind"] for m in manifests}
    assert {"CustomResourceDefinition", "Deployment", "ServiceAccount", "Service"} <= kinds
    for manifest in manifests:
        if (manifest["apiVersion"], manifest["kind"]) in FOREIGN_KINDS:
            continue
        try:  # strict: an unknown or misspelt field is an error too
            kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{manifest['kind']}/{manifest['metadata']['name']}: {exc}")


def test_defaults_render_cluster_wide_without_optional_objects(
    render: Callable[..., Manifests],
) -> None:
    manifests = render()
    assert len(find(manifests, "ClusterRole")) == 1
    assert len(find(manifests, "ClusterRoleBinding")) == 1
    assert not find(manifests, "Role") and not find(manifests, "RoleBinding")
    assert not find(manifests, "ServiceMonitor")
    assert not find(manifests, "ConfigMap")
    namespaced = [m for m in manifests if m["kind"] not in ("ClusterRole", "ClusterRoleBinding")]
    for m in namespaced:
        if m["kind"] != "CustomResourceDefinition":
            assert m["metadata"]["namespace"] == NAMESPACE, m["kind"]
    from loocv_operator import __version__

    # the chart's appVersion is the package's version: one number to bump
    assert _container(manifests)["image"] == f"ghcr.io/loocv-dev/loocv-operator:{__version__}"


def test_custom_image_and_digest(render: Callable[..., Manifests]) -> None:
    assert _container(render(NON_DEFAULT))["image"] == (
        "registry.example.com/ml/loocv-operator:0.1.0-rc1"
    )
    digest = "sha256:" + "ab" * 32
    values = {"image": {"repository": "r.example.com/op", "tag": "x", "digest": digest}}
    assert _container(render(values))["image"] == f"r.example.com/op@{digest}"


def test_the_rendered_deployment_configures_the_operator_as_the_values_say(
    render: Callable[..., Manifests],
) -> None:
    """The env and args the chart renders, read by the operator's own settings loader."""
    container = _container(render(NON_DEFAULT))
    env = _env(container)
    settings = operator_settings.load(container["args"], env=env)
    assert settings.namespaces == ("ml-team-a", "ml-team-b")
    assert not settings.clusterwide
    assert settings.allowlist_extra == ("xgboost", "lightgbm.sklearn")
    assert settings.trainer_image == "registry.example.com/ml/loocv-trainer:0.1.0-rc1"
    assert settings.trainer_memory_cap == "16Gi"
    assert settings.storage_uri == "s3://ml-results/loocv/"
    assert settings.s3_endpoint == "http://minio.storage:9000"
    assert settings.s3_addressing_style == "virtual"
    assert settings.storage_secret == "loocv-s3"
    assert settings.mlflow_secret == "loocv-mlflow"
    assert settings.log_format == "plain"
    assert settings.status_interval == 5.0
    assert settings.workers == 8
    assert settings.verbose is True
    assert settings.metrics_port == 8080
    assert settings.liveness == "http://0.0.0.0:8081/healthz"
    assert env["AWS_REGION"] == "eu-west-1"
    secret_env = {
        e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e
    }
    assert {k: v["name"] for k, v in secret_env.items()} == {
        "AWS_ACCESS_KEY_ID": "loocv-s3",
        "AWS_SECRET_ACCESS_KEY": "loocv-s3",
        "AWS_SESSION_TOKEN": "loocv-s3",
    }
    assert secret_env["AWS_SESSION_TOKEN"].get("optional") is True


def test_default_values_give_the_operators_own_defaults(render: Callable[..., Manifests]) -> None:
    container = _container(render())
    settings = operator_settings.load(container["args"], env=_env(container))
    defaults = operator_settings.Settings()
    assert settings.clusterwide
    assert settings.trainer_image == defaults.trainer_image  # the operator's, not a copy
    assert settings.storage_uri is None and settings.storage_secret is None
    assert settings.mlflow_secret is None
    assert settings.log_format == "json"
    assert settings.liveness == defaults.liveness
    assert not any("valueFrom" in e for e in container["env"])  # no Secret named: none read


def test_the_price_table_reaches_the_operator(render: Callable[..., Manifests]) -> None:
    container = _container(render({"operator": {"price": {"coreHour": 0.04, "gibHour": 0.005}}}))
    settings = operator_settings.load(container["args"], env=_env(container))
    assert settings.prices == Prices(core_hour=0.04, gpu_hour=0.0, gib_hour=0.005)
    unpriced = _container(render())
    assert "LOOCV_PRICE" not in _env(unpriced)
    assert operator_settings.load(unpriced["args"], env=_env(unpriced)).prices is None


def test_pod_security(render: Callable[..., Manifests]) -> None:
    deployment = only(render(), "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert isinstance(security["runAsUser"], int) and security["runAsUser"] > 0
    assert isinstance(security["runAsGroup"], int) and security["runAsGroup"] > 0
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    csc = container["securityContext"]
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["runAsNonRoot"] is True
    assert csc["capabilities"] == {"drop": ["ALL"]}
    assert csc.get("privileged") is False
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    # The only writable place is the emptyDir at /tmp, where HOME and TMPDIR point.
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == "/tmp"
    (volume,) = pod["volumes"]
    assert volume["name"] == mount["name"] and "emptyDir" in volume
    env = _env(container)
    assert env["HOME"] == "/tmp" and env["TMPDIR"] == "/tmp"
    assert env["MPLCONFIGDIR"].startswith("/tmp/")
    # The liveness probe hits kopf's health endpoint on the port the operator listens on.
    probe = container["livenessProbe"]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert probe["path"] == "/healthz"
    assert f":{ports[probe['port']]}/healthz" in str(
        operator_settings.load(container["args"], env=env).liveness
    )


def test_service_selects_the_operator_and_its_metrics_port(
    render: Callable[..., Manifests],
) -> None:
    manifests = render()
    deployment = only(manifests, "Deployment")
    service = only(manifests, "Service")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    (port,) = service["spec"]["ports"]
    container_ports = {p["name"]: p["containerPort"] for p in _container(manifests)["ports"]}
    assert port["targetPort"] == "metrics" and "metrics" in container_ports
    env = _env(_container(manifests))
    assert int(env["LOOCV_METRICS_PORT"]) == container_ports["metrics"]


def test_service_monitor_scrapes_the_metrics_service(render: Callable[..., Manifests]) -> None:
    manifests = render(NON_DEFAULT)
    service = only(manifests, "Service")
    monitor = only(manifests, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"
    assert re.fullmatch(r"\d+(ms|s|m|h)", endpoint["interval"])


def _dashboards(manifests: Manifests) -> dict[str, dict[str, Any]]:
    configmap = only(manifests, "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    return {name: json.loads(text) for name, text in configmap["data"].items()}


def test_dashboard_config_map_ships_the_three_views(render: Callable[..., Manifests]) -> None:
    manifests = render(NON_DEFAULT)
    configmap = only(manifests, "ConfigMap")
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "ML"}
    dashboards = _dashboards(manifests)
    assert set(dashboards) == set(DASHBOARDS)
    assert {d["uid"] for d in dashboards.values()} == {
        "loocv-executive",
        "loocv-oncall",
        "loocv-debug",
    }
    for name, dashboard in dashboards.items():
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in dashboard["panels"]:
            if panel["type"] != "text":
                assert panel["targets"], panel["title"]
                assert panel["datasource"]["uid"] == "${datasource}"
        # Shipped verbatim, and the committed JSON is what the generator builds.
        assert dashboard == json.loads((CHART / "dashboards" / name).read_text())
        assert (CHART / "dashboards" / name).read_text() == render_dashboard(name), (
            f"{name} is stale: python -m tests.chart.dashboards"
        )


def test_executive_view_answers_the_release_questions() -> None:
    titles = " | ".join(p["title"] for p in executive()["panels"]).lower()
    for wanted in (
        "pass rate",
        "trend",
        "accuracy",
        "calibration",
        "core-hours",
        "duration",
        "by result",
    ):
        assert wanted in titles, wanted


def test_no_query_uses_the_old_namespace_label_or_a_rate_over_the_range() -> None:
    for name, build in DASHBOARDS.items():
        for expr in queries(build()):
            assert not re.search(r"[{,]namespace=", expr), (name, expr)
            assert "exported_namespace" not in expr
            # rate()/increase() over $__range only in instant queries (stat, bar gauge)
            assert not re.search(r"rate\([^)]*\[\$__range\]", expr), (name, expr)
        for panel in build()["panels"]:
            for target in panel.get("targets", []):
                if "$__range" in target["expr"]:
                    assert target["instant"], (name, panel["title"])


def _dashboard_metrics() -> set[str]:
    names = set()
    for build in DASHBOARDS.values():
        for expr in queries(build()):
            names |= set(re.findall(r"\b(loocv_[a-z_]+)", expr))
    return names


def _exported_samples() -> set[str]:
    """Every sample name the operator's registry exposes (with _total, _bucket, ...)."""
    registry = CollectorRegistry()
    Telemetry(registry)
    names: set[str] = set()
    for family in registry.collect():
        names.add(family.name)
        names |= {s.name for s in family.samples}
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names |= {family.name + s for s in ("_bucket", "_sum", "_count")}
    return names


@pytest.mark.parametrize("metric", sorted(_dashboard_metrics()))
def test_dashboard_uses_metrics_the_operator_exports(metric: str) -> None:
    assert metric in _exported_samples()


BAD_VALUES = [
    ({"replicas": "1"}, "replicas"),
    ({"replicas": 2}, "replicas"),
    ({"operator": {"logFormat": "xml"}}, "logFormat"),
    ({"operator": {"workers": 0}}, "workers"),
    ({"watchNamespaces": ["Team_A"]}, "watchNamespaces"),
    ({"watchNamespace": ["team-a"]}, "watchNamespace"),  # a typo is not silently ignored
    ({"storage": {"uri": "http://minio:9000/bucket"}}, "uri"),
    ({"storage": {"endpoint": "minio:9000"}}, "endpoint"),
    ({"estimatorAllowlist": ["os; rm -rf /"]}, "estimatorAllowlist"),
    ({"runAsUser": 0}, "runAsUser"),
    ({"image": {"repository": "x", "digest": "latest"}}, "digest"),
    ({"serviceMonitor": {"interval": "soon"}}, "interval"),
    ({"serviceAccount": {"create": False}}, "name"),
]


@pytest.mark.parametrize(("values", "field"), BAD_VALUES, ids=[f for _, f in BAD_VALUES])
def test_schema_rejects_bad_values(
    helm: Helm, tmp_path: Path, values: dict[str, Any], field: str
) -> None:
    done = helm.template(values, tmp_dir=tmp_path, check=False)
    assert done.returncode != 0, f"{values} was accepted"
    assert "values don't meet the specifications of the schema" in done.stderr
    assert field in done.stderr, done.stderr


def test_schema_accepts_replicas_zero_and_an_existing_service_account(
    helm: Helm, tmp_path: Path
) -> None:
    values = {"replicas": 0, "serviceAccount": {"create": False, "name": "ops"}}
    out = helm.template(values, tmp_dir=tmp_path).stdout
    manifests = [d for d in yaml.safe_load_all(out) if d]
    deployment = only(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 0
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "ops"
    assert not find(manifests, "ServiceAccount")


def test_kube_version_floor(helm: Helm, tmp_path: Path) -> None:
    done = helm.run("template", "x", str(CHART), "--kube-version", "1.28.9", check=False)
    assert done.returncode != 0
    assert "kubeVersion" in done.stderr or "incompatible" in done.stderr, done.stderr


def test_chart_crds_are_the_top_level_crds() -> None:
    top = {p.name: p.read_bytes() for p in sorted((ROOT / "crds").glob("*.yaml"))}
    chart = {p.name: p.read_bytes() for p in sorted((CHART / "crds").glob("*.yaml"))}
    assert top, "crds/ is empty: run `make crd`"
    assert chart == top, "charts/loocv-operator/crds/ differs from crds/: run `make crd`"


def test_crds_render_with_the_chart(render: Callable[..., Manifests]) -> None:
    (crd,) = find(render(), "CustomResourceDefinition")
    assert crd["metadata"]["name"] == "loocvruns.loocv.dev"
    assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}


def test_dockerfile_is_pinned_and_non_root() -> None:
    text = (ROOT / "operator" / "Dockerfile").read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M)
    assert base is not None
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+", base.group(1)), base.group(1)
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms and all(f.startswith("${BASE_IMAGE}") for f in froms)
    (user,) = re.findall(r"^USER (\S+)$", text, re.M)
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit() and int(gid) > 0
    (entry,) = re.findall(r"^ENTRYPOINT (.+)$", text, re.M)
    assert json.loads(entry) == ["loocv", "operator"]
    # The chart's default runAsUser is the image's user, so runAsNonRoot holds either way.
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert (values["runAsUser"], values["runAsGroup"]) == (int(uid), int(gid))
