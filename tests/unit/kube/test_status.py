"""Building the LOOCVRun status: phases, conditions, bounded content, schema validity."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest

from loocv_operator.gate import GateVerdict
from loocv_operator.kube.crd import build_crd
from loocv_operator.kube.status import (
    RunView,
    build_status,
    invalid_status,
    is_terminal,
    merge_patch,
    pending_status,
)
from loocv_operator.kube.wire import FoldCounts, JobCounts

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(seconds=30)
STATUS_SCHEMA = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
    "status"
]

SUMMARY: dict[str, Any] = {
    "task": "classification",
    "metrics": {
        "accuracy": 0.96,
        "accuracyCI95": [0.91, 0.98],
        "logLoss": 0.12,
        "brier": 0.05,
        "ece": float("nan"),
        "eceBins": 15,
        "lossMean": 0.12,
        "perClass": {
            "0": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 50},
            "1": {"precision": 0.9, "recall": None, "f1": 0.9, "support": 50},
        },
        "confusionMatrix": {"labels": [0, 1], "matrix": [[50, 0], [2, 48]]},
    },
    "worstSamples": [
        {"id": f"s{i}", "row": i, "loss": 5.0 - i / 10, "yTrue": 1, "yPred": 0} for i in range(25)
    ],
    "paths": {"brute-force": 148, "not-run": 2},
    "failureTypes": {"RetriesExhausted": 2},
}


def view(**overrides: Any) -> RunView:
    base: dict[str, Any] = {
        "generation": 2,
        "folds": FoldCounts(total=150, done=100, succeeded=100, failed=0, running=25),
        "jobs": JobCounts(total=5, batches=6, active=2, succeeded=3),
        "summary": SUMMARY,
        "results_uri": "s3://b/runs/ns/r/uid/",
    }
    base.update(overrides)
    return RunView(**base)


def schema_valid(status: dict[str, Any]) -> None:
    jsonschema.validate(status, {**STATUS_SCHEMA})


def types(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_a_running_run() -> None:
    status = build_status(None, view(), T0)
    schema_valid(status)
    assert status["phase"] == "Running"
    assert status["progress"] == "100/150"
    assert status["observedGeneration"] == 2
    assert status["startTime"] == "2026-01-01T00:00:00Z" and "completionTime" not in status
    progressing = types(status)["Progressing"]
    assert progressing["status"] == "True" and progressing["reason"] == "JobsRunning"
    assert progressing["observedGeneration"] == 2
    assert "Complete" not in types(status) and "GatePassed" not in types(status)
    assert status["metrics"]["accuracy"] == 0.96
    assert status["metrics"]["accuracyCI95"] == [0.91, 0.98]
    assert "ece" not in status["metrics"]  # NaN never reaches JSON
    assert "confusionMatrix" not in status["metrics"]  # stays in the store
    assert status["metrics"]["perClass"]["1"] == {"precision": 0.9, "f1": 0.9, "support": 50}
    assert len(status["worstSamples"]) == 10
    assert status["worstSamples"][0] == {"id": "s0", "loss": 5.0}
    assert status["fastPath"] == "brute-force, not-run"
    assert status["resultsUri"] == "s3://b/runs/ns/r/uid/"


def test_pending_suspended_and_waiting() -> None:
    pending = build_status(
        None, view(folds=FoldCounts(total=150), jobs=JobCounts(), summary=None), T0
    )
    assert pending["phase"] == "Pending" and "metrics" not in pending
    suspended = build_status(None, view(suspended=True), T0)
    assert suspended["phase"] == "Suspended"
    assert types(suspended)["Progressing"]["reason"] == "Suspended"
    assert types(suspended)["Progressing"]["status"] == "False"
    waiting = build_status(None, view(waiting="ImagePullBackOff: no such image"), T0)
    assert types(waiting)["Progressing"]["reason"] == "Waiting"
    assert "ImagePullBackOff" in types(waiting)["Progressing"]["message"]


def test_a_finished_run_with_failed_folds_and_a_failed_gate() -> None:
    previous = build_status(None, view(), T0)
    done = view(
        folds=FoldCounts(total=150, done=150, succeeded=148, failed=2),
        jobs=JobCounts(total=7, batches=6, succeeded=5, failed=2, retried=1, given_up=1),
        finished=True,
        verdict=GateVerdict(False, ["accuracy 0.96 < min 0.97"], True),
    )
    status = build_status(previous, done, T1)
    schema_valid(status)
    conditions = types(status)
    assert status["phase"] == "Succeeded"
    assert conditions["Complete"]["status"] == "True"
    assert conditions["Progressing"]["status"] == "False"
    assert conditions["Progressing"]["lastTransitionTime"] == "2026-01-01T00:00:30Z"
    assert conditions["ResultsIncomplete"]["status"] == "True"
    assert (
        "2 of 150 folds failed (RetriesExhausted x2)" in conditions["ResultsIncomplete"]["message"]
    )
    assert conditions["GatePassed"]["status"] == "False"
    assert conditions["GatePassed"]["message"] == "accuracy 0.96 < min 0.97"
    assert status["gate"] == {"passed": False, "failures": ["accuracy 0.96 < min 0.97"]}
    assert status["startTime"] == "2026-01-01T00:00:00Z"
    assert status["completionTime"] == "2026-01-01T00:00:30Z"
    assert is_terminal(status)
    again = build_status(status, done, T1 + timedelta(hours=1))
    assert again == status  # rebuilding changes nothing: no spurious patches


def test_no_gate_no_gate_condition_and_halted_or_empty_runs_fail() -> None:
    finished = {"finished": True, "folds": FoldCounts(total=10, done=10, succeeded=10)}
    status = build_status(None, view(**finished, verdict=GateVerdict(True, [], False)), T0)
    assert "GatePassed" not in types(status) and "gate" not in status
    assert types(status)["ResultsIncomplete"]["status"] == "False"
    halted = build_status(None, view(**finished, halted="the trainer reported invalid input"), T0)
    assert halted["phase"] == "Failed"
    assert types(halted)["Failed"]["reason"] == "TrainerInvalidInput"
    nothing = build_status(
        None, view(finished=True, folds=FoldCounts(total=4, done=4, failed=4)), T0
    )
    assert nothing["phase"] == "Failed"
    assert types(nothing)["Failed"]["reason"] == "NoFoldSucceeded"


def test_invalid_and_pending_statuses() -> None:
    status = invalid_status(
        None, 1, T0, [("spec.model.estimator", "not allowed"), ("spec.storage.uri", "missing")]
    )
    schema_valid(status)
    conditions = types(status)
    assert status["phase"] == "Failed" and is_terminal(status)
    assert conditions["Invalid"]["status"] == "True"
    assert conditions["Invalid"]["message"] == (
        "spec.model.estimator: not allowed; spec.storage.uri: missing"
    )
    assert conditions["Failed"]["reason"] == "InvalidSpec"
    planning = pending_status(None, 1, T0, "planning")
    schema_valid(planning)
    assert planning["phase"] == "Pending" and not is_terminal(planning)


def test_merge_patch_removes_what_the_new_status_lacks() -> None:
    assert merge_patch({"a": 1, "metrics": {"x": 1}}, {"a": 2}) == {"metrics": None, "a": 2}
    assert merge_patch(None, {"a": 2}) == {"a": 2}
    # Nested objects are merged key by key by the API server: a key gone is nulled there too
    # (the report's metrics replacing the partial mid-run ones).
    partial = {"metrics": {"partial": True, "folds": 50, "accuracy": 0.9, "perClass": {"0": {}}}}
    final = {"metrics": {"accuracy": 0.95, "accuracyCI95": [0.9, 0.98], "perClass": {"0": {}}}}
    assert merge_patch(partial, final) == {
        "metrics": {
            "partial": None,
            "folds": None,
            "accuracy": 0.95,
            "accuracyCI95": [0.9, 0.98],
            "perClass": {"0": {}},
        }
    }


@pytest.mark.parametrize("classes", [5, 1000])
def test_the_status_stays_small_with_many_classes_and_samples(classes: int) -> None:
    summary = json.loads(json.dumps(SUMMARY, allow_nan=True))
    summary["metrics"]["perClass"] = {
        str(i): {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 10} for i in range(classes)
    }
    status = build_status(None, view(summary=summary), T0)
    assert len(json.dumps(status)) < 6000
    assert ("perClass" in status["metrics"]) == (classes <= 20)
    assert all(math.isfinite(v) for v in status["metrics"].values() if isinstance(v, float))


def test_unschedulable_pods_keep_the_run_pending_and_say_why() -> None:
    reason = "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
    stuck = build_status(
        None,
        view(
            folds=FoldCounts(total=150),
            jobs=JobCounts(total=2, active=2),
            summary=None,
            unschedulable=reason,
        ),
        T0,
    )
    assert stuck["phase"] == "Pending"
    progressing = types(stuck)["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("False", "Unschedulable")
    assert "Insufficient nvidia.com/gpu" in progressing["message"]


def test_a_finished_run_with_missing_folds_fails_its_gate_as_incomplete() -> None:
    summary = {
        **SUMMARY,
        "folds": {
            "total": 150,
            "done": 148,
            "succeeded": 148,
            "failed": 0,
            "missing": 2,
            "notRun": 2,
            "missingIndices": [40, 41],
        },
    }
    verdict = GateVerdict(
        passed=False, failures=["results incomplete: …"], evaluated=True, incomplete=True
    )
    folds = FoldCounts(total=150, done=148, succeeded=148, failed=0, missing=2)
    status = build_status(
        None, view(folds=folds, summary=summary, finished=True, verdict=verdict), T1
    )
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["GatePassed"]["status"] == "False"
    assert conditions["GatePassed"]["reason"] == "ResultsIncomplete"
    incomplete = conditions["ResultsIncomplete"]
    assert incomplete["status"] == "True" and incomplete["reason"] == "FoldsMissing"
    assert "folds 40, 41" in incomplete["message"] and "never ran" in incomplete["message"]
    assert status["folds"]["missing"] == 2
    jsonschema.validate(status, STATUS_SCHEMA)


def test_given_up_folds_are_named_while_the_run_goes_on() -> None:
    summary = {**SUMMARY, "folds": {"total": 150, "done": 90, "notRun": 10}}
    status = build_status(None, view(summary=summary), T1)
    incomplete = {c["type"]: c for c in status["conditions"]}["ResultsIncomplete"]
    assert incomplete["reason"] == "FoldsMissing" and "10 folds" in incomplete["message"]


def test_jobs_awaiting_kueue_admission_are_counted_and_not_called_unschedulable() -> None:
    waiting = "3 Jobs await admission by Kueue (LocalQueue 'team-a'): insufficient quota"
    status = build_status(
        None,
        view(jobs=JobCounts(total=5, active=5, awaiting_admission=3), awaiting_admission=waiting),
        T0,
    )
    schema_valid(status)
    assert status["phase"] == "Running" and status["jobs"]["awaitingAdmission"] == 3
    progressing = types(status)["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("True", "AwaitingAdmission")
    assert waiting in progressing["message"]


def test_a_missing_queue_keeps_the_run_pending_with_the_queue_named() -> None:
    missing = "LocalQueue 'team-b' (spec.execution.queueName) cannot admit Jobs"
    status = build_status(
        None,
        view(
            folds=FoldCounts(total=150),
            jobs=JobCounts(total=1, active=1, awaiting_admission=1),
            summary=None,
            queue_missing=missing,
        ),
        T0,
    )
    assert status["phase"] == "Pending"
    progressing = types(status)["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("False", "QueueNotFound")
    assert "'team-b'" in progressing["message"]


def test_budget_exceeded_says_the_figures_then_keeps_the_reason_a_raise_gave_it() -> None:
    blocked = build_status(None, view(budget_exceeded="maxCoreHours is 1 core-hours"), T0)
    assert types(blocked)["BudgetExceeded"]["status"] == "True"
    assert types(blocked)["BudgetExceeded"]["message"] == "maxCoreHours is 1 core-hours"
    fits = build_status(blocked, view(), T1)
    assert types(fits)["BudgetExceeded"]["reason"] == "WithinBudget"
    schema_valid(fits)
    # a run the budget ended, reopened by a raise (accounting.reopened_status)
    reopened = dict(blocked)
    reopened["conditions"] = [
        {**c, "status": "False", "reason": "BudgetRaised", "message": "raised"}
        if c["type"] == "BudgetExceeded"
        else c
        for c in blocked["conditions"]
    ]
    later = build_status(reopened, view(generation=3), T1)
    kept = types(later)["BudgetExceeded"]
    assert (kept["status"], kept["reason"], kept["observedGeneration"]) == (
        "False",
        "BudgetRaised",
        3,
    )
    assert "BudgetExceeded" not in types(build_status(None, view(), T0))
