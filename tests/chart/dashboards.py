"""The chart's Grafana dashboards, built here and written to charts/loocv-operator/dashboards/.

Three views, as the guide asks: executive (pass rate and trend, accuracy and calibration,
cost and duration, failure types), on-call (current runs, failing folds, resource use,
retries and preemptions, reconcile health) and debug (one run: its progress and metrics, and
a link to its report — per-sample detail lives in report.html, never in Prometheus).
`python -m tests.chart.dashboards` rewrites the JSON; a chart test fails when it is stale.
Every query is run against a real Prometheus in the e2e tier (tests/e2e/test_prometheus.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[2] / "charts" / "loocv-operator" / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}
NS = 'run_namespace=~"$run_namespace"'
FINISHED = 'result=~"passed|gate_failed"'
ACTIVE = f'loocv_run_phase{{{NS},phase=~"Pending|Running|Suspended"}} == 1'
RI = "[$__rate_interval]"
NOTE_COST = (
    "Requested cores x trainer pod running time (loocv_usage_core_seconds_total): what the "
    "scheduler reserved, what a run's spec.execution.budget bounds. Cost: loocv_usage_cost_total "
    "with the operator's --price."
)


@dataclass(frozen=True)
class Q:
    expr: str
    legend: str = ""
    instant: bool = False


def _panel(
    pid: int, title: str, kind: str, queries: list[Q], pos: tuple[int, int, int, int], **extra: Any
) -> dict[str, Any]:
    x, y, w, h = pos
    panel: dict[str, Any] = {
        "id": pid,
        "type": kind,
        "title": title,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DS,
                "expr": q.expr,
                "legendFormat": q.legend,
                "instant": q.instant,
                "range": not q.instant,
            }
            for i, q in enumerate(queries)
        ],
    }
    panel.update(extra)
    return panel


def _unit(unit: str, **defaults: Any) -> dict[str, Any]:
    return {"fieldConfig": {"defaults": {"unit": unit, **defaults}, "overrides": []}}


def _variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": name},
        "definition": query,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {},
        "hide": 0,
        "refresh": 2,
        "sort": 1,
    }


def _dashboard(
    uid: str,
    title: str,
    description: str,
    variables: list[dict[str, Any]],
    panels: list[dict[str, Any]],
) -> dict[str, Any]:
    links = [
        {"title": t, "type": "link", "url": f"/d/{u}", "keepTime": True, "includeVars": True}
        for u, t in (
            ("loocv-executive", "Executive"),
            ("loocv-oncall", "On-call"),
            ("loocv-debug", "Debug"),
        )
        if u != uid
    ]
    datasource = {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
    }
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["loocv", "kubernetes", "ml"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "annotations": {"list": []},
        "links": links,
        "templating": {"list": [datasource, *variables]},
        "panels": panels,
    }


NS_VARIABLE = _variable(
    "run_namespace", "Namespace", "label_values(loocv_run_phase, run_namespace)"
)


def executive() -> dict[str, Any]:
    pass_rate = (
        f'sum(loocv_runs_finished{{{NS},result="passed"}}) / '
        f"clamp_min(sum(loocv_runs_finished{{{NS},{FINISHED}}}), 1)"
    )
    finished_runs = f'(loocv_run_phase{{{NS},phase="Succeeded"}} == 1)'
    panels = [
        _panel(
            1,
            "Gate pass rate (finished runs)",
            "stat",
            [Q(pass_rate, instant=True)],
            (0, 0, 6, 5),
            **_unit("percentunit", min=0, max=1),
        ),
        _panel(
            2,
            "Runs finished (over the range)",
            "stat",
            [Q(f"sum(increase(loocv_run_completions_total{{{NS}}}[$__range]))", instant=True)],
            (6, 0, 6, 5),
            **_unit("short", decimals=0),
        ),
        _panel(
            3,
            "Median run duration (over the range)",
            "stat",
            [
                Q(
                    "histogram_quantile(0.5, sum by (le) (increase("
                    f"loocv_run_duration_seconds_bucket{{{NS}}}[$__range])))",
                    instant=True,
                )
            ],
            (12, 0, 6, 5),
            **_unit("s"),
        ),
        _panel(
            4,
            "Core-hours requested (over the range)",
            "stat",
            [
                Q(
                    f"sum(increase(loocv_usage_core_seconds_total{{{NS}}}[$__range])) / 3600",
                    instant=True,
                )
            ],
            (18, 0, 6, 5),
            description=NOTE_COST,
            **_unit("h"),
        ),
        _panel(
            5,
            "Gate pass rate, trend",
            "timeseries",
            [Q(pass_rate, "pass rate")],
            (0, 5, 12, 8),
            **_unit("percentunit", min=0, max=1),
        ),
        _panel(
            6,
            "Runs finished per hour, by result",
            "timeseries",
            [
                Q(
                    f"sum by (result) (increase(loocv_run_completions_total{{{NS}}}[1h]))",
                    "{{result}}",
                )
            ],
            (12, 5, 12, 8),
            **_unit("short"),
        ),
        _panel(
            7,
            "LOO accuracy of finished runs",
            "bargauge",
            [
                Q(
                    f'loocv_run_quality{{{NS},metric="accuracy"}} and on (run_namespace, run) '
                    f"{finished_runs}",
                    "{{run_namespace}}/{{run}}",
                    instant=True,
                )
            ],
            (0, 13, 8, 8),
            **_unit("percentunit", min=0, max=1),
        ),
        _panel(
            8,
            "Calibration: ECE and Brier of finished runs",
            "bargauge",
            [
                Q(
                    f'loocv_run_quality{{{NS},metric=~"ece|brier"}} and on (run_namespace, run) '
                    f"{finished_runs}",
                    "{{run}} {{metric}}",
                    instant=True,
                )
            ],
            (8, 13, 8, 8),
            description="Lower is better; ECE uses equal-width bins.",
            **_unit("short", min=0),
        ),
        _panel(
            9,
            "Finished runs by result",
            "piechart",
            [Q(f"sum by (result) (loocv_runs_finished{{{NS}}})", "{{result}}", instant=True)],
            (16, 13, 8, 8),
            description="passed / gate_failed / succeeded (no gate) / failed",
        ),
        _panel(
            10,
            "Run duration p50 / p95 (over the range)",
            "bargauge",
            [
                Q(
                    "histogram_quantile(0.5, sum by (le) (increase("
                    f"loocv_run_duration_seconds_bucket{{{NS}}}[$__range])))",
                    "p50",
                    instant=True,
                ),
                Q(
                    "histogram_quantile(0.95, sum by (le) (increase("
                    f"loocv_run_duration_seconds_bucket{{{NS}}}[$__range])))",
                    "p95",
                    instant=True,
                ),
            ],
            (0, 21, 12, 6),
            **_unit("s"),
        ),
        _panel(
            11,
            "Fold failure share (over the range)",
            "stat",
            [
                Q(
                    f"sum(increase(loocv_folds_failed_total{{{NS}}}[$__range])) / "
                    f"clamp_min(sum(increase(loocv_folds_completed_total{{{NS}}}[$__range])), 1)",
                    instant=True,
                )
            ],
            (12, 21, 12, 6),
            **_unit("percentunit", min=0),
        ),
    ]
    return _dashboard(
        "loocv-executive",
        "LOOCV: executive",
        "Release decisions: do LOOCV runs pass their gates, how good and how "
        "calibrated are the models, what do runs cost and how long do they take.",
        [NS_VARIABLE],
        panels,
    )


def oncall() -> dict[str, Any]:
    job = _variable("job", "Operator scrape job", "label_values(loocv_runs, job)")
    sel = 'job=~"$job"'
    progress = (
        f'loocv_run_folds{{{NS},state="done"}} / ignoring(state) '
        f'clamp_min(loocv_run_folds{{{NS},state="total"}}, 1) '
        f"and on (run_namespace, run) ({ACTIVE})"
    )
    panels = [
        _panel(
            1,
            "Runs by phase",
            "stat",
            [Q(f"sum by (phase) (loocv_runs{{{sel}}})", "{{phase}}", instant=True)],
            (0, 0, 12, 5),
        ),
        _panel(
            2,
            "Seconds since the last reconcile pass",
            "stat",
            [Q(f"time() - loocv_operator_last_pass_timestamp_seconds{{{sel}}}", instant=True)],
            (12, 0, 6, 5),
            **_unit("s"),
        ),
        _panel(
            3,
            "Operator up",
            "stat",
            [Q(f"up{{{sel}}}", "{{instance}}", instant=True)],
            (18, 0, 6, 5),
        ),
        _panel(
            4,
            "Active runs: share of folds done",
            "bargauge",
            [Q(progress, "{{run_namespace}}/{{run}}", instant=True)],
            (0, 5, 12, 8),
            **_unit("percentunit", min=0, max=1),
        ),
        _panel(
            5,
            "Active runs: time since a fold last finished",
            "bargauge",
            [
                Q(
                    f"time() - loocv_run_last_progress_timestamp_seconds{{{NS}}}",
                    "{{run_namespace}}/{{run}}",
                    instant=True,
                )
            ],
            (12, 5, 12, 8),
            description="LOOCVRunStuck tickets past prometheusRule.stuckAfterSeconds.",
            **_unit("s"),
        ),
        _panel(
            6,
            "Failing folds per run (done / failed)",
            "timeseries",
            [
                Q(f'loocv_run_folds{{{NS},state="failed"}}', "{{run}} failed"),
                Q(f'loocv_run_folds{{{NS},state="done"}}', "{{run}} done"),
            ],
            (0, 13, 12, 8),
            description="Error types and messages of failed folds: report.html > Failures.",
            **_unit("short"),
        ),
        _panel(
            7,
            "Folds done and failed per second",
            "timeseries",
            [
                Q(
                    f"sum by (run_namespace) (rate(loocv_folds_completed_total{{{NS}}}{RI}))",
                    "{{run_namespace}} done",
                ),
                Q(
                    f"sum by (run_namespace) (rate(loocv_folds_failed_total{{{NS}}}{RI}))",
                    "{{run_namespace}} failed",
                ),
            ],
            (12, 13, 12, 8),
            **_unit("ops"),
        ),
        _panel(
            8,
            "Job retries, preemptions, batches given up",
            "timeseries",
            [
                Q(
                    f"sum by (run_namespace) (increase(loocv_job_retries_total{{{NS}}}[1h]))",
                    "{{run_namespace}} retries / h",
                ),
                Q(
                    f"sum by (run_namespace) (increase(loocv_job_preemptions_total{{{NS}}}[1h]))",
                    "{{run_namespace}} preemptions / h",
                ),
                Q(
                    f"sum by (run_namespace) (increase(loocv_batches_given_up_total{{{NS}}}[1h]))",
                    "{{run_namespace}} given up / h",
                ),
                Q(
                    f"sum by (run_namespace) (increase(loocv_jobs_created_total{{{NS}}}[1h]))",
                    "{{run_namespace}} Jobs created / h",
                ),
            ],
            (0, 21, 12, 8),
            **_unit("short"),
        ),
        _panel(
            9,
            "Cores in use (requested) and busy fitting",
            "timeseries",
            [
                Q(
                    f"sum by (run_namespace) (rate(loocv_usage_core_seconds_total{{{NS}}}{RI}))",
                    "{{run_namespace}} requested",
                ),
                Q(
                    f"sum by (run_namespace) (rate(loocv_fold_duration_seconds_sum{{{NS}}}{RI}))",
                    "{{run_namespace}} fitting",
                ),
            ],
            (12, 21, 12, 8),
            description=NOTE_COST
            + " Fitting: fold fit + predict seconds. Budget burn: x 24 = core-hours a day, as "
            "the LOOCVCoreHoursBurnRate alert reads it.",
            **_unit("short"),
        ),
        _panel(
            10,
            "Operator CPU",
            "timeseries",
            [Q(f"rate(process_cpu_seconds_total{{{sel}}}{RI})", "{{instance}}")],
            (0, 29, 8, 7),
            **_unit("percentunit"),
        ),
        _panel(
            11,
            "Operator memory (RSS)",
            "timeseries",
            [Q(f"process_resident_memory_bytes{{{sel}}}", "{{instance}}")],
            (8, 29, 8, 7),
            **_unit("bytes"),
        ),
        _panel(
            12,
            "Reconciles: errors, p95 duration, status patches",
            "timeseries",
            [
                Q(
                    f"sum by (run_namespace) (rate(loocv_reconcile_errors_total{{{sel}}}{RI}))",
                    "{{run_namespace}} errors / s",
                ),
                Q(
                    "histogram_quantile(0.95, sum by (le) (rate("
                    f"loocv_reconcile_duration_seconds_bucket{{{sel}}}{RI})))",
                    "p95 s",
                ),
                Q(
                    f"sum(rate(loocv_status_patches_total{{{sel}}}{RI}))",
                    "patches / s",
                ),
            ],
            (16, 29, 8, 7),
            **_unit("short"),
        ),
        _panel(
            13,
            "Fold duration p50 / p95 (fit + predict)",
            "timeseries",
            [
                Q(
                    "histogram_quantile(0.5, sum by (le) (rate("
                    f"loocv_fold_duration_seconds_bucket{{{NS}}}{RI})))",
                    "p50",
                ),
                Q(
                    "histogram_quantile(0.95, sum by (le) (rate("
                    f"loocv_fold_duration_seconds_bucket{{{NS}}}{RI})))",
                    "p95",
                ),
            ],
            (0, 36, 24, 7),
            **_unit("s"),
        ),
    ]
    panels.append(
        _panel(
            14,
            "Failing folds by error type",
            "bargauge",
            [
                Q(
                    f"sum by (error_type) (loocv_run_failed_folds{{{NS}}})",
                    "{{error_type}}",
                    instant=True,
                ),
                Q(
                    f"sum by (run_namespace, run, error_type) (loocv_run_failed_folds{{{NS}}})",
                    "{{run_namespace}}/{{run}} {{error_type}}",
                    instant=True,
                ),
            ],
            (0, 43, 24, 8),
            description="From each run's ResultsIncomplete condition; messages and sample ids "
            "are in report.html > Failures.",
            **_unit("short", decimals=0),
        )
    )
    return _dashboard(
        "loocv-oncall",
        "LOOCV: on-call",
        "Triage: what is running, what is failing and why, what the operator uses.",
        [NS_VARIABLE, job],
        panels,
    )


def debug() -> dict[str, Any]:
    run = _variable(
        "run", "Run", 'label_values(loocv_run_phase{run_namespace=~"$run_namespace"}, run)'
    )
    one = f'{NS},run=~"$run"'
    text = (
        "Per-sample detail (predictions, losses, probabilities, the worst samples, label-noise "
        "candidates, failed folds with their errors) is in each run's **report.html** and "
        "**predictions.csv**, never in Prometheus: the table below gives each run's report "
        "address (`status.resultsUri`), also shown by `kubectl get loocvrun NAME -o "
        "jsonpath='{.status.resultsUri}'`."
    )
    panels = [
        {
            "id": 1,
            "type": "text",
            "title": "Where the per-sample detail is",
            "gridPos": {"x": 0, "y": 0, "w": 24, "h": 4},
            "options": {"mode": "markdown", "content": text},
        },
        _panel(
            2,
            "Runs and their reports",
            "table",
            [Q(f"loocv_run_info{{{one}}}", instant=True)],
            (0, 4, 24, 8),
            transformations=[
                {"id": "labelsToFields", "options": {"mode": "columns"}},
                {
                    "id": "organize",
                    "options": {
                        "excludeByName": {
                            "Time": True,
                            "Value": True,
                            "__name__": True,
                            "instance": True,
                            "job": True,
                        },
                        "renameByName": {"report": "report.html"},
                    },
                },
            ],
            fieldConfig={
                "defaults": {},
                "overrides": [
                    {
                        "matcher": {"id": "byName", "options": "report"},
                        "properties": [
                            {
                                "id": "links",
                                "value": [{"title": "open the report", "url": "${__value.raw}"}],
                            }
                        ],
                    }
                ],
            },
        ),
        _panel(
            3,
            "Folds of the run",
            "timeseries",
            [Q(f"loocv_run_folds{{{one}}}", "{{run}} {{state}}")],
            (0, 12, 12, 8),
            **_unit("short"),
        ),
        _panel(
            4,
            "Pooled LOO metrics of the run",
            "timeseries",
            [Q(f"loocv_run_quality{{{one}}}", "{{run}} {{metric}}")],
            (12, 12, 12, 8),
            **_unit("short"),
        ),
        _panel(
            5,
            "Phase of the run",
            "state-timeline",
            [Q(f"loocv_run_phase{{{one}}} == 1", "{{run}} {{phase}}")],
            (0, 20, 12, 6),
        ),
        _panel(
            6,
            "Job retries and pod preemptions of the run",
            "timeseries",
            [Q(f"loocv_run_jobs{{{one}}}", "{{run}} {{kind}}")],
            (12, 20, 12, 6),
            **_unit("short"),
        ),
    ]
    return _dashboard(
        "loocv-debug",
        "LOOCV: debug",
        "One run at a time, with the link to its report (per-sample detail).",
        [NS_VARIABLE, run],
        panels,
    )


DASHBOARDS = {
    "loocv-executive.json": executive,
    "loocv-oncall.json": oncall,
    "loocv-debug.json": debug,
}


def render(name: str) -> str:
    return json.dumps(DASHBOARDS[name](), indent=2) + "\n"


def queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard: its panels' targets and its query variables."""
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs


if __name__ == "__main__":
    for old in OUT.glob("*.json"):
        old.unlink()
    for name in DASHBOARDS:
        (OUT / name).write_text(render(name))
        print(OUT / name)
