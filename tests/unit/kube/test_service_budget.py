"""Usage and spec.execution.budget through the run service, offline (the fakes of
test_service): every trainer pod counted once by uid; Jobs past the budget are not created;
once none runs the run finishes over the folds it computed (its own report Job, the usage
in report.json and the final status), and raising the budget reopens it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from loocv_operator.kube.accounting import LEDGER_ARTIFACT
from loocv_operator.kube.jobs import LABEL_STEP, STEP_TRAIN
from loocv_operator.store import LocalStore, RunLocation
from loocv_operator.usage import USAGE_ARTIFACT

from .fakekube import Clock, FakeKube
from .test_service import UID, admit, body, make_service, pending, run_pod

LOCATION = RunLocation("ns", "iris", UID)
POD_SECONDS = 100  # each trainer pod runs this long, 1 core requested: 100 core-seconds


def budgeted(max_core_hours: float, concurrency: int = 1) -> dict[str, Any]:
    """10 folds in 4 batches of 3, one requested core per pod."""
    document = body()
    document["spec"]["execution"] = {
        "foldsPerJob": 3,
        "maxConcurrentJobs": concurrency,
        "retries": 0,
        "resources": {"requests": {"cpu": "1", "memory": "512Mi"}},
        "budget": {"maxCoreHours": max_core_hours},
    }
    return document


def train_with_pod(kube: FakeKube, name: str, start: int) -> None:
    """The trainer runs (in-process), and its pod is left as the kubelet reports it: its
    requests, and its container's start and finish, POD_SECONDS apart."""
    assert run_pod(kube, name) == 0
    job = kube.jobs[name]
    minute, second = divmod(start, 60)
    end_minute, end_second = divmod(start + POD_SECONDS, 60)
    kube.pods.append(
        {
            "metadata": {
                "name": f"{name}-p",
                "uid": f"uid-{name}",
                "labels": job["spec"]["template"]["metadata"]["labels"],
            },
            "spec": job["spec"]["template"]["spec"],
            "status": {
                "phase": "Succeeded",
                "containerStatuses": [
                    {
                        "state": {
                            "terminated": {
                                "exitCode": 0,
                                "startedAt": f"2026-11-24T10:{minute:02d}:{second:02d}Z",
                                "finishedAt": f"2026-11-24T10:{end_minute:02d}:{end_second:02d}Z",
                            }
                        }
                    }
                ],
            },
        }
    )


def trainers(kube: FakeKube) -> list[str]:
    return [
        n for n in pending(kube) if kube.jobs[n]["metadata"]["labels"][LABEL_STEP] == STEP_TRAIN
    ]


def step(service: Any, kube: FakeKube, clock: Clock, started: list[int]) -> None:
    for name in trainers(kube):
        train_with_pod(kube, name, started[0])
        started[0] += POD_SECONDS + 5
    clock.now += 10
    service.reconcile(UID)


def test_the_budget_ends_a_run_over_its_folds_and_raising_it_resumes_the_run(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    document = budgeted(0.05)  # 180 core-seconds: one 100 s pod, not a second
    admit(service, kube, document)
    assert len(kube.created) == 1  # nothing used, nothing measured: the first Job starts
    started = [0]
    step(service, kube, clock, started)

    # The next Job would pass the budget: none created, the run goes to its report Job.
    assert len(kube.created) == 1
    exceeded = kube.conditions()["BudgetExceeded"]
    assert exceeded["status"] == "True"
    assert exceeded["message"] == (
        "spec.execution.budget.maxCoreHours is 0.05 core-hours: 0.0278 used, "
        "~0.0278 per next Job: 1 Jobs not created"
    )
    assert "BudgetExceeded" in [e["reason"] for e in kube.events]
    store = LocalStore(root)
    written = json.loads(store.get(LOCATION.artifact(USAGE_ARTIFACT)))  # before the Job
    assert written["coreSeconds"] == 100.0 and written["podsStarted"] == 1
    (report_job,) = [n for n in pending(kube) if "-report" in n]
    assert report_job.endswith("-report-r4")  # over the 3 folds computed: its own Job
    assert run_pod(kube, report_job) == 0
    clock.now += 10
    service.reconcile(UID)

    status = kube.status
    assert status["phase"] == "Failed"
    failed = kube.conditions()["Failed"]
    assert failed["reason"] == "BudgetExceeded" and failed["message"] == exceeded["message"]
    assert kube.conditions()["ResultsIncomplete"]["reason"] == "FoldsMissing"
    assert status["folds"]["done"] == 3 and status["folds"]["missing"] == 7
    assert status["jobs"]["givenUp"] == 0  # nothing recorded as not run: it may resume
    usage = status["usage"]
    assert usage["coreSeconds"] == 100.0 and usage["memoryGiBSeconds"] == 50.0
    assert usage["podsStarted"] == 1 and usage["podsRunning"] == 0
    assert usage["foldSeconds"] > 0
    report = json.loads(store.get(LOCATION.artifact("report.json")))
    # the usage.json the report Job was given (the status holds its main figures)
    assert {k: report["usage"][k] for k in usage} == usage
    assert report["summary"]["folds"]["done"] == 3
    assert service.tracked() == []

    # A restart does not reopen it while the budget stays.
    again = make_service(kube, root, clock)
    again.admit(copy.deepcopy(document) | {"status": kube.status})
    assert again.tracked() == [] and kube.status["phase"] == "Failed"

    # Raising the budget (a spec change on an ended run) reopens it from its folds.
    raised = budgeted(1.0, concurrency=2)
    raised["metadata"]["generation"] = 2
    raised["status"] = kube.status
    again.spec_changed(raised)
    assert "BudgetRaised" in [e["reason"] for e in kube.events]
    assert "Failed" not in kube.conditions()
    assert kube.conditions()["BudgetExceeded"]["status"] == "False"
    for _ in range(6):
        if again.tracked() == []:
            break
        step(again, kube, clock, started)
        for name in [n for n in pending(kube) if n.endswith("-report")]:
            assert run_pod(kube, name) == 0
            clock.now += 10
            again.reconcile(UID)
    assert kube.conditions()["Complete"]["status"] == "True"
    assert kube.status["phase"] == "Succeeded"
    assert kube.status["folds"]["done"] == 10 and kube.status["folds"]["missing"] == 0
    budget = kube.conditions()["BudgetExceeded"]
    assert budget["status"] == "False" and budget["reason"] == "BudgetRaised"
    assert len(kube.created) == 4  # one Job per batch over both halves: none ran twice
    usage = kube.status["usage"]
    assert usage["podsStarted"] == 4 and usage["coreSeconds"] == 400.0
    final = json.loads(store.get(LOCATION.artifact("report.json")))
    assert final["summary"]["folds"]["done"] == 10
    assert {k: final["usage"][k] for k in usage} == usage


def test_the_pod_ledger_is_stored_and_a_restart_counts_no_pod_twice(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    admit(service, kube, budgeted(10.0, concurrency=2))
    started = [0]
    step(service, kube, clock, started)
    ledger = json.loads(LocalStore(root).get(LOCATION.artifact(LEDGER_ARTIFACT)))
    assert len(ledger["pods"]) == 2
    assert kube.status["usage"]["coreSeconds"] == 200.0

    restarted = make_service(kube, root, clock)
    restarted.admit(budgeted(10.0, concurrency=2) | {"status": kube.status})
    clock.now += 10
    restarted.reconcile(UID)
    assert kube.status["usage"]["coreSeconds"] == 200.0  # the same two pods, once each
    assert kube.status["usage"]["podsStarted"] == 2
    assert "BudgetExceeded" not in kube.conditions()
