"""The chart's PrometheusRule, as rendered, passes `promtool check rules` and the unit tests
in alerts/loocv-operator.test.yaml (`promtool test rules`): each alert fires on the series
that should page or ticket, stays quiet on the ones that should not, and says so in words.

promtool comes with Debian's `prometheus` package (`apt-get install prometheus`).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.conftest import Manifests, only

TESTS = Path(__file__).with_name("alerts") / "loocv-operator.test.yaml"
README = Path(__file__).resolve().parents[2] / "README.md"
PAGE = {
    "LOOCVOperatorDown",
    "LOOCVOperatorNotReconciling",
    "LOOCVReconcileErrorsSustained",
    "LOOCVRunsFailing",
}
TICKET = {
    "LOOCVGateFailed",
    "LOOCVFoldFailureRateHigh",
    "LOOCVRunStuck",
    "LOOCVRetriesSurging",
    "LOOCVBatchesGivenUp",
    "LOOCVCoreHoursBurnRate",
}
# The promtool cases' values: the burn-rate alert exists only with a core-hour budget.
TESTED = {"coreHoursPerDay": 48, "burnRate": 2}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: apt-get install prometheus (Debian ships promtool in it)")
    return found


def rendered_rules(
    render: Callable[..., Manifests], values: dict[str, Any] | None = None
) -> dict[str, Any]:
    manifests = render({"prometheusRule": {"enabled": True, **(values or {})}})
    rule = only(manifests, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    return {"groups": rule["spec"]["groups"]}


def _alerts(groups: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in groups["groups"] for r in g["rules"]}


def test_no_prometheus_rule_by_default(render: Callable[..., Manifests]) -> None:
    assert not [m for m in render() if m["kind"] == "PrometheusRule"]


def test_rules_pass_promtool_unit_tests(render: Callable[..., Manifests], tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rendered_rules(render, TESTED)))
    shutil.copy(TESTS, tmp_path / TESTS.name)
    tool = promtool()
    check = subprocess.run(
        [tool, "check", "rules", "rules.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    done = subprocess.run(
        [tool, "test", "rules", TESTS.name], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_is_tested_pages_or_tickets_and_has_a_runbook(
    render: Callable[..., Manifests],
) -> None:
    alerts = _alerts(rendered_rules(render, TESTED))
    assert set(alerts) == PAGE | TICKET
    tested = {
        case["alertname"]
        for test in yaml.safe_load(TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert tested == set(alerts), "every alert needs a promtool case where it fires"
    headings = {
        line.lstrip("#").strip().lower()
        for line in README.read_text().splitlines()
        if line.startswith("#")
    }
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] == ("critical" if name in PAGE else "warning"), name
        anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == name.lower() and anchor in headings, f"README has no section {name}"


def test_values_reach_the_rules(render: Callable[..., Manifests]) -> None:
    alerts = _alerts(
        rendered_rules(
            render,
            {
                "job": "my-scrape",
                "stuckAfterSeconds": 7200,
                "foldFailureRatio": 0.2,
                "severities": {"page": "P1", "ticket": "P3"},
                "runbookBaseUrl": "https://wiki.example/loocv",
                "labels": {"release": "kube-prometheus-stack"},
            },
        )
    )
    assert 'job="my-scrape"' in alerts["LOOCVOperatorDown"]["expr"]
    assert "> 7200" in alerts["LOOCVRunStuck"]["expr"]
    assert "> 0.2" in alerts["LOOCVFoldFailureRateHigh"]["expr"]
    assert alerts["LOOCVRunsFailing"]["labels"]["severity"] == "P1"
    assert alerts["LOOCVGateFailed"]["labels"]["severity"] == "P3"
    assert alerts["LOOCVGateFailed"]["annotations"]["runbook_url"] == (
        "https://wiki.example/loocv#loocvgatefailed"
    )


def test_service_monitor_sets_the_job_the_rules_select(render: Callable[..., Manifests]) -> None:
    manifests = render({"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}})
    monitor = only(manifests, "ServiceMonitor")
    service = only(manifests, "Service")
    job = service["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    rule = only(manifests, "PrometheusRule")
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            assert f'job="{job}"' in r["expr"], r["alert"]


def test_the_burn_rate_alert_needs_a_core_hour_budget(render: Callable[..., Manifests]) -> None:
    assert "LOOCVCoreHoursBurnRate" not in _alerts(rendered_rules(render))
    alerts = _alerts(rendered_rules(render, {"coreHoursPerDay": 100, "burnRate": 1.5}))
    expr = alerts["LOOCVCoreHoursBurnRate"]["expr"]
    assert "[1h]" in expr and "[6h]" in expr and expr.count("> 150") == 2
