"""A finished LOOCVRun as the terminal shows a local run: the summary table from its
report.json (read from the store with the user's credentials), the outcome from its
conditions, and the same exit codes: 0 passed, 3 gate failed, 2 invalid, 1 anything else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..console import SummaryContext, render_summary
from ..errors import EXIT_ERROR, EXIT_GATE_FAILED, EXIT_INVALID, EXIT_OK, InvalidInput, StoreError
from ..gate import GateVerdict
from ..outcome import RunOutcome
from ..spec import parse_spec
from ..usage import Usage
from .follow import conditions
from .submit import RunAddress

ARTIFACTS = ("report.json", "predictions.csv", "report.html")


def outcome_of_resource(resource: Mapping[str, Any]) -> RunOutcome:
    found = conditions(resource)
    status = resource.get("status") or {}
    invalid = found.get("Invalid", {})
    if invalid.get("status") == "True":
        return RunOutcome(EXIT_INVALID, "invalid", f"invalid: {invalid.get('message')}")
    if status.get("phase") == "Failed":
        failed = found.get("Failed", {})
        code = EXIT_INVALID if failed.get("reason") == "TrainerInvalidInput" else EXIT_ERROR
        return RunOutcome(code, "failed", f"the run failed: {failed.get('message')}")
    gate = found.get("GatePassed")
    if gate is None:
        return RunOutcome(EXIT_OK, "no-gate")
    if gate.get("status") == "True":
        return RunOutcome(EXIT_OK, "passed")
    return RunOutcome(
        EXIT_GATE_FAILED,
        "gate-failed",
        f"gate failed ({gate.get('reason')}): {gate.get('message')}",
    )


def _report(resource: Mapping[str, Any], endpoint: str | None) -> tuple[dict[str, Any], Any]:
    """report.json and the store it lives in; raises StoreError/InvalidInput/KeyError."""
    from ..store import open_store

    status = resource.get("status") or {}
    uri = status.get("resultsUri")
    if not uri:
        raise KeyError("resultsUri")
    storage = (resource.get("spec") or {}).get("storage") or {}
    store = open_store(str(uri), endpoint or storage.get("endpoint"), storage.get("region"))
    report: dict[str, Any] = json.loads(store.get("report.json"))
    return report, store


def _status_lines(address: RunAddress, resource: Mapping[str, Any]) -> str:
    """When the report cannot be read from here: what the status itself says."""
    status = resource.get("status") or {}
    folds = status.get("folds") or {}
    metrics = status.get("metrics") or {}
    rows = [
        ("run", f"{address.namespace}/{address.name}"),
        ("phase", str(status.get("phase"))),
        (
            "folds",
            f"{folds.get('done', 0)}/{folds.get('total', 0)} done, "
            f"{folds.get('failed', 0)} failed, {folds.get('missing', 0)} missing",
        ),
    ]
    rows += [(key, f"{value}") for key, value in metrics.items() if not isinstance(value, dict)]
    if isinstance(status.get("usage"), dict):  # what the run used so far (usage.py)
        rows += Usage.from_json({"executor": "cluster", **status["usage"]}).rows()
    for type_, c in conditions(resource).items():
        rows.append((type_, f"{c.get('status')} ({c.get('reason')}): {c.get('message')}"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def show(
    address: RunAddress,
    resource: Mapping[str, Any],
    endpoint: str | None,
    out: str | None,
    warn: Any,
) -> RunOutcome:
    """Print the summary (and download the artifacts to ``out``); return the outcome."""
    outcome = outcome_of_resource(resource)
    try:
        report, store = _report(resource, endpoint)
    except (StoreError, InvalidInput, KeyError, ValueError) as exc:
        if outcome.state not in ("invalid", "failed") or (resource.get("status") or {}).get(
            "resultsUri"
        ):
            warn(f"the report could not be read from the store ({exc}); the status says:")
        print(_status_lines(address, resource))
        return outcome
    gate = report.get("gate") or {}
    verdict = GateVerdict(
        passed=bool(gate.get("passed")) or not gate.get("evaluated"),
        failures=list(gate.get("failures") or []),
        evaluated=bool(gate.get("evaluated")),
    )
    spec = parse_spec(report.get("spec") or resource.get("spec") or {})
    artifacts = {name: store.uri(name) for name in ARTIFACTS}
    if out:
        target = Path(out)
        target.mkdir(parents=True, exist_ok=True)
        for name in ARTIFACTS:
            (target / name).write_bytes(store.get(name))
        artifacts = {name: str(target / name) for name in ARTIFACTS}
    used = report.get("usage")  # usage.py: what the run used, as the operator counted it
    context = SummaryContext(
        f"{address.namespace}/{address.name}",
        spec,
        usage=Usage.from_json(used) if isinstance(used, dict) else None,
    )
    print(render_summary(context, report.get("summary") or {}, verdict, artifacts))
    return outcome
