"""The dashboards and alerts against a real Prometheus: the operator runs three LOOCVRuns
(one passes its gate, one fails it, one fails outright) on the e2e control plane while
Debian's `prometheus` scrapes its /metrics on loopback every second with the chart's
PrometheusRule loaded. Then every PromQL query of the three dashboards must return series,
every alert rule must evaluate cleanly on series that exist, and LOOCVRunsFailing and
LOOCVGateFailed must fire — for the runs that earned them, and no others.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_operator as _op
import yaml
from cluster import Cluster
from cluster.processes import wait_until
from cluster.prometheus import JOB, Prometheus, binary, start_prometheus
from kubernetes import client as k8s

from tests.chart.dashboards import DASHBOARDS, queries
from tests.conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
CHART = Path(__file__).resolve().parents[2] / "charts" / "loocv-operator"

crd = _op.crd
s3 = _op.s3
bucket = _op.bucket


def rendered_rules(helm: Path, tmp_path: Path) -> Path:
    """The chart's PrometheusRule, rendered by helm with its defaults, as a rule file."""
    import subprocess

    out = subprocess.run(
        [
            str(helm),
            "template",
            "loocv",
            str(CHART),
            "--set",
            "prometheusRule.enabled=true",
            "--show-only",
            "templates/prometheusrule.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    rule = yaml.safe_load(out)
    path = tmp_path / "loocv-operator.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    return path


@pytest.fixture
def watched(
    control_plane: Cluster,
    crd: None,
    namespace: str,
    bucket: str,
    s3: _op.S3Server,
    helm_binary: Path,
    tmp_path: Path,
) -> Iterator[tuple[_op.Operator, Prometheus]]:
    if binary() is None:
        pytest.fail("prometheus is missing: apt-get install prometheus")
    k8s.CoreV1Api(control_plane.api_client).create_namespaced_secret(
        namespace, {"metadata": {"name": "s3-creds"}, "stringData": _op.CREDENTIALS}
    )
    metrics_port = free_port()
    operator = _op.Operator(control_plane, namespace, bucket, s3.endpoint, tmp_path / "op.log")
    at = operator.command.index("--metrics-port")
    operator.command[at + 1] = str(metrics_port)
    operator.start()
    prometheus = start_prometheus(
        tmp_path / "prometheus",
        free_port(),
        f"127.0.0.1:{metrics_port}",
        [rendered_rules(helm_binary, tmp_path)],
    )
    try:
        wait_until(prometheus.targets_up, 60, what="prometheus scraping the operator")
        yield operator, prometheus
    finally:
        prometheus.stop()
        operator.stop()
        print(f"--- operator log ---\n{operator.output()}")


def _substitute(expr: str, namespace: str, seconds: float) -> str:
    return (
        expr.replace("$__rate_interval", "5s")
        .replace("$__range", f"{max(60, int(seconds))}s")
        .replace("$run_namespace", namespace)
        .replace("$job", JOB)
        .replace("$run", ".*")
    )


def _as_promql(expr: str) -> str:
    """A query variable's label_values(metric, label) as the series it reads."""
    match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", expr)
    return f"count by ({match.group(2)}) ({match.group(1)})" if match else expr


def test_dashboards_return_data_and_alerts_fire(
    control_plane: Cluster,
    watched: tuple[_op.Operator, Prometheus],
    namespace: str,
    s3: _op.S3Server,
    bucket: str,
) -> None:
    _operator, prometheus = watched
    start = time.time()
    gate = {"accuracy": {"min": 0.9}}
    _op.apply(control_plane, namespace, _op.manifest("good", gate=gate))
    _op.apply(control_plane, namespace, _op.manifest("strict", gate={"accuracy": {"min": 0.999}}))
    # every held-out sample has a category its fold never saw: every fold fails, run Failed
    X = np.column_stack([np.arange(30.0), np.tile([5.0, 6.0, 7.0], 10)])
    uri = _op.upload_npz(s3, bucket, "data/broken.npz", X=X, y=np.array([0, 1] * 15))
    broken = _op.manifest(
        "broken",
        dataset={"uri": uri},
        model={
            "estimator": "sklearn.linear_model.LogisticRegression",
            "preprocessing": [{"estimator": "sklearn.preprocessing.OneHotEncoder"}],
        },
        execution={"foldsPerJob": 10},
    )
    _op.apply(control_plane, namespace, broken)
    _op.wait_condition(control_plane, namespace, "good", "Complete")
    _op.wait_condition(control_plane, namespace, "strict", "Complete")
    _op.wait_condition(control_plane, namespace, "broken", "Failed")

    def firing(name: str, **labels: str) -> list[dict[str, Any]]:
        return [
            a
            for a in prometheus.alerts()
            if a["labels"].get("alertname") == name
            and a["state"] == "firing"
            and all(a["labels"].get(k) == v for k, v in labels.items())
        ]

    wait_until(
        lambda: bool(firing("LOOCVRunsFailing", run_namespace=namespace)),
        90,
        what="LOOCVRunsFailing firing",
    )
    wait_until(
        lambda: bool(firing("LOOCVGateFailed", run="strict")),
        60,
        what="LOOCVGateFailed firing for strict",
    )
    assert not firing("LOOCVGateFailed", run="good")
    assert not firing("LOOCVOperatorDown") and not firing("LOOCVOperatorNotReconciling")
    (failing,) = firing("LOOCVRunsFailing", run_namespace=namespace)
    assert failing["labels"]["severity"] == "critical"
    assert failing["annotations"]["runbook_url"].endswith("#loocvrunsfailing")

    end = time.time()
    empty = []
    for name, build in DASHBOARDS.items():
        for expr in queries(build()):
            promql = _as_promql(_substitute(expr, namespace, end - start))
            if not prometheus.query_range(promql, start, end, 1.0):
                empty.append(f"{name}: {promql}")
    assert not empty, "dashboard queries without data:\n" + "\n".join(empty)

    rules = prometheus.rules()
    assert {r["name"] for r in rules} >= {"LOOCVRunsFailing", "LOOCVGateFailed", "LOOCVRunStuck"}
    for rule in rules:
        assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
        for metric in set(re.findall(r"\b(loocv_[a-z_]+|up)\b", rule["query"])):
            # over the test's window: some (a run's progress) exist only while a run runs
            series = prometheus.query_range(f'count({metric}{{job="{JOB}"}})', start, end)
            assert series, (rule["name"], metric)
