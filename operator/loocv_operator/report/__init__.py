"""The run's artifacts: report.json, predictions.csv and report.html (design §5).

report.json is the machine-readable record (what CI archives), predictions.csv the
per-sample drill-down, report.html a single self-contained page (inline SVG, no server, no
network). The package is split by idea: predictions (CSV), stats (curves, baselines,
intervals), svg and charts (pictures), cells, gatetable, quality and samples (sections),
page (the HTML). Nothing here imports matplotlib or scikit-learn.
"""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING, Any

from ..gate import GateVerdict
from ..outcome import outcome_of
from ..summary import SummaryLike, as_summary
from .page import now as _now
from .page import report_html
from .predictions import predictions_csv

if TYPE_CHECKING:
    from ..plan import Plan
    from ..results import FoldResult
    from ..store import Store
    from ..usage import Usage

log = logging.getLogger("loocv.report")
REPORT_SCHEMA_VERSION = 1
ARTIFACTS = ("predictions.csv", "report.html", "report.json")  # report.json last: complete
__all__ = [
    "ARTIFACTS",
    "REPORT_SCHEMA_VERSION",
    "build_report",
    "predictions_csv",
    "report_html",
    "write_report",
]


def _json_safe(value: Any) -> Any:
    """Non-finite floats (say C: .inf in a manifest) as strings, so report.json is strict
    JSON; everything else as is."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def build_report(
    plan: Plan, summary: SummaryLike, verdict: GateVerdict, usage: Usage | None = None
) -> dict[str, Any]:
    """report.json's content: what ran (spec and data by digest), what came out, the verdict."""
    summary = as_summary(summary)
    versions = summary.trainer_versions
    report = {
        "schemaVersion": REPORT_SCHEMA_VERSION,
        "run": {
            "namespace": plan.location.namespace,
            "name": plan.location.name,
            "uid": plan.location.uid,
        },
        "spec": plan.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        "specDigest": plan.spec_digest,
        "datasetDigest": plan.dataset_digest,
        "nSamples": plan.n_samples,
        "task": plan.task,
        "classes": plan.classes,
        "batching": plan.batching.to_json(),
        "summary": summary.to_dict(),
        "gate": {
            "passed": verdict.passed if verdict.evaluated else None,
            "evaluated": verdict.evaluated,
            "failures": list(verdict.failures),
            "reason": verdict.reason if verdict.evaluated else None,
            "incomplete": verdict.incomplete,
        },
        "outcome": outcome_of(summary, verdict).to_json(),
        "generatedAt": _now(),
        "trainerVersions": sorted(str(v) for v in versions),
    }
    if plan.oom:  # what the operator did about OOM-killed pods
        report["oom"] = {"summary": plan.oom.summary(), **plan.oom.to_json()}
    if usage is not None:  # what the run used (usage.py)
        report["usage"] = usage.to_json()
    safe: dict[str, Any] = _json_safe(report)
    return safe


def write_report(
    store: Store,
    plan: Plan,
    results: list[FoldResult],
    summary: SummaryLike,
    verdict: GateVerdict,
    usage: Usage | None = None,
) -> dict[str, str]:
    """Write the three artifacts beside the run's folds; returns name -> address.

    report.json is written last, so a reader that finds it finds the other two as well.
    With spec.tracking.mlflow the run is then logged to MLflow (address under "mlflow"); a
    tracking failure is a warning, never a lost report or a run that cannot finish.
    """
    summary = as_summary(summary)
    contents = {
        "predictions.csv": predictions_csv(plan, results).encode("utf-8"),
        "report.html": report_html(plan, summary, verdict, results, usage).encode("utf-8"),
        "report.json": json.dumps(
            build_report(plan, summary, verdict, usage), indent=2, allow_nan=False
        ).encode("utf-8"),
    }
    written: dict[str, str] = {}
    for name in ARTIFACTS:
        key = plan.location.artifact(name)
        store.put(key, contents[name])
        written[name] = store.uri(key)
    if plan.spec.tracking is not None and plan.spec.tracking.mlflow is not None:
        from ..tracking import mlflow as tracking

        try:
            logged = tracking.log_run(plan, summary, verdict, contents)
        except Exception as exc:  # the server down, refused credentials, no client
            log.warning("could not log %s to MLflow: %s", plan.location.name, exc)
        else:
            if logged is not None:
                written["mlflow"] = f"{logged.uri} run {logged.run_id}"
    return written
