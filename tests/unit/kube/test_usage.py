"""The cluster accounting without a cluster: pods -> usage, usage + budget -> Jobs allowed,
and reopening a run its budget stopped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from loocv_operator.kube.accounting import reopened_status
from loocv_operator.kube.usage import (
    PodLedger,
    Requests,
    budget_allows_more,
    budget_leaves_room,
    check_budget,
    container_requests,
    expected_job_seconds,
    pod_usage,
)
from loocv_operator.spec import BudgetSpec
from loocv_operator.usage import Usage

T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def stamp(offset: float) -> str:
    return datetime.fromtimestamp(T0 + offset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    uid: str,
    start: float | None,
    end: float | None = None,
    cpu: Any = "1",
    memory: str = "1Gi",
    gpu: Any = None,
    phase: str | None = None,
    preempted: bool = False,
) -> dict[str, Any]:
    requests: dict[str, Any] = {"cpu": cpu, "memory": memory}
    limits: dict[str, Any] = {}
    if gpu is not None:
        limits["nvidia.com/gpu"] = gpu  # extended resources: the limit is the request
    state: dict[str, Any] = {}
    if start is not None and end is None:
        state = {"running": {"startedAt": stamp(start)}}
    elif start is not None:
        state = {"terminated": {"startedAt": stamp(start), "finishedAt": stamp(end or 0)}}
    status: dict[str, Any] = {
        "phase": phase or ("Running" if end is None else "Succeeded"),
        "containerStatuses": [{"name": "trainer", "state": state}] if state else [],
    }
    if preempted:
        status["conditions"] = [{"type": "DisruptionTarget", "status": "True"}]
    return {
        "metadata": {"uid": uid, "name": uid},
        "spec": {
            "containers": [
                {"name": "trainer", "resources": {"requests": requests, "limits": limits}}
            ]
        },
        "status": status,
    }


def ledger_of(*pods: dict[str, Any], now: float) -> PodLedger:
    ledger = PodLedger.empty()
    ledger.observe([p for p in (pod_usage(raw, T0 + now) for raw in pods) if p is not None])
    return ledger


def test_requests_read_like_the_scheduler_with_limits_standing_in() -> None:
    assert container_requests(
        [
            {"resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}},
            {"resources": {"limits": {"cpu": 2, "memory": "1Gi", "nvidia.com/gpu": 1}}},
        ]
    ) == Requests(cores=2.5, gpus=1.0, memory_gib=1.5)
    assert container_requests([{"resources": {"requests": {"cpu": "lots"}}}]) == Requests()


def test_each_pod_counts_once_by_uid_requested_times_running_time() -> None:
    ledger = ledger_of(
        pod("a", 0, 100, cpu="2", memory="2Gi"),  # 200 core-s, 200 GiB-s
        pod("b", 50, 80, cpu="500m", gpu=1),  # preempted: still counts, 15 core-s, 30 GPU-s
        pod("c", 100, cpu="1"),  # still running at t=160: 60 core-s
        pod("d", None, phase="Pending"),  # never started: nothing
        now=160,
    )
    # the same pods listed again later (and a-d's listing twice) count nothing twice
    ledger.observe(
        [p for p in (pod_usage(x, T0 + 160) for x in (pod("a", 0, 100, cpu="2"),)) if p]
        + [p for p in (pod_usage(x, T0 + 160) for x in (pod("c", 100, cpu="1"),)) if p]
    )
    used = ledger.usage(T0 + 160, retries=1, preemptions=1)
    assert used.core_seconds == pytest.approx(200 + 15 + 60)
    assert used.gpu_seconds == pytest.approx(30)
    assert used.pods_started == 3 and used.pods_running == 1
    assert (used.retries, used.preemptions, used.executor) == (1, 1, "cluster")


def test_a_running_pod_counts_up_to_now_and_a_vanished_one_up_to_when_last_seen() -> None:
    ledger = ledger_of(pod("a", 0, cpu="1", memory="1Gi"), now=30)
    assert ledger.usage(T0 + 45).core_seconds == pytest.approx(45)
    assert ledger.observe([]) is True  # its Job deleted with the pod before it was seen ending
    assert ledger.usage(T0 + 1000).core_seconds == pytest.approx(30)
    assert ledger.usage(T0 + 1000).pods_running == 0


def test_the_ledger_survives_a_restart_through_json() -> None:
    ledger = ledger_of(pod("a", 0, 100), pod("b", 10), now=50)
    again = PodLedger.from_json(ledger.to_json())
    again.observe([p for p in (pod_usage(pod("b", 10), T0 + 60),) if p])
    assert again.usage(T0 + 60).core_seconds == pytest.approx(100 + 50)
    assert again.usage(T0 + 60).pods_started == 2


def test_what_the_next_job_costs_comes_from_finished_pods_else_the_probe() -> None:
    ledger = ledger_of(pod("a", 0, 100), pod("b", 0, 50, preempted=True), pod("c", 0, 20), now=200)
    assert expected_job_seconds(ledger, 25, 0.5, 3.0) == pytest.approx(60)  # a and c
    assert expected_job_seconds(PodLedger.empty(), 25, 0.5, 3.0) == pytest.approx(15.5)
    assert expected_job_seconds(PodLedger.empty(), 25, None, None) == 0.0


def test_the_budget_allows_the_jobs_that_fit_and_says_why_not_the_rest() -> None:
    budget = BudgetSpec(max_core_hours=1.0)  # 3600 core-s
    used = Usage(executor="cluster", core_seconds=1000)
    one_core = Requests(cores=1)
    running = [(Requests(cores=2), 100.0)]  # will use 2 x (500 - 100) = 800 more
    check = check_budget(budget, used, running, one_core, 500, proposed=5)
    # left: 3600 - 1000 - 800 = 1800 -> 3 Jobs of 500 core-s
    assert check.allowed == 3
    assert check.message is not None
    assert "maxCoreHours is 1 core-hours: 0.2778 used" in check.message
    assert "~0.2222 committed by 1 running pods" in check.message
    assert check.message.endswith("2 Jobs not created")
    # with nothing running, 2600 core-s are left: all 5 fit
    assert check_budget(budget, used, [], one_core, 500, proposed=5).message is None
    assert check_budget(None, used, running, one_core, 500, 5).allowed == 5
    assert check_budget(budget, used, [], one_core, 100, 2).message is None


def test_a_spent_budget_allows_nothing_even_when_the_next_job_looks_free() -> None:
    budget = BudgetSpec(max_core_hours=0.5)
    spent = Usage(executor="cluster", core_seconds=1800)
    assert check_budget(budget, spent, [], Requests(cores=1), 0.0, 3).allowed == 0
    # GPU budget: a CPU-only Job never needs GPU-hours
    gpus = BudgetSpec(max_gpu_hours=1.0)
    assert check_budget(gpus, spent, [], Requests(cores=1), 100, 3).allowed == 3
    gpu_used = Usage(executor="cluster", gpu_seconds=3000)
    check = check_budget(gpus, gpu_used, [], Requests(cores=1, gpus=1), 500, 3)
    assert check.allowed == 1 and "maxGPUHours" in (check.message or "")


def stopped_run(budget: dict[str, Any], core_seconds: float) -> dict[str, Any]:
    return {
        "metadata": {"generation": 3},
        "spec": {"execution": {"budget": budget}},
        "status": {
            "phase": "Failed",
            "completionTime": "2026-01-01T00:10:00Z",
            "usage": {"coreSeconds": core_seconds},
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BudgetExceeded",
                    "message": "m",
                    "lastTransitionTime": "2026-01-01T00:10:00Z",
                },
                {
                    "type": "BudgetExceeded",
                    "status": "True",
                    "reason": "BudgetExceeded",
                    "message": "m",
                    "lastTransitionTime": "2026-01-01T00:10:00Z",
                },
            ],
        },
    }


def test_a_raised_budget_reopens_a_run_it_stopped_and_only_such_a_run() -> None:
    now = datetime(2026, 1, 1, 1, tzinfo=UTC)
    reopened = reopened_status(stopped_run({"maxCoreHours": 2.0}, 3600), now)
    assert reopened is not None
    assert reopened["phase"] == "Running" and "completionTime" not in reopened
    kinds = {c["type"]: c for c in reopened["conditions"]}
    assert "Failed" not in kinds
    assert kinds["BudgetExceeded"]["status"] == "False"
    assert kinds["Progressing"]["status"] == "True"
    assert reopened["observedGeneration"] == 3
    # not raised enough: 1 core-hour used of a 1 core-hour budget
    assert reopened_status(stopped_run({"maxCoreHours": 1.0}, 3600), now) is None
    other = stopped_run({"maxCoreHours": 2.0}, 0)
    other["status"]["conditions"][0]["reason"] = "NoFoldSucceeded"
    assert reopened_status(other, now) is None


def test_budget_allows_more_reads_the_status_usage() -> None:
    assert budget_allows_more(None, None)
    assert budget_allows_more(BudgetSpec(max_core_hours=1), {"coreSeconds": 3599})
    assert not budget_allows_more(BudgetSpec(max_gpu_hours=1), {"gpuSeconds": 3600})


def test_a_budget_stopped_run_reopens_only_for_a_changed_spec_with_room_for_a_pod() -> None:
    now = datetime(2026, 1, 1, 1, tzinfo=UTC)
    restarted = stopped_run({"maxCoreHours": 2.0}, 3600)
    restarted["status"]["conditions"][0]["observedGeneration"] = 3  # as it ended: no change
    assert reopened_status(restarted, now) is None
    raised = stopped_run({"maxCoreHours": 2.0}, 3600)
    raised["status"]["conditions"][0]["observedGeneration"] = 2
    assert reopened_status(raised, now) is not None
    # 3600 core-s used by 2 pods: another (~1800) fits under 1.6 core-hours, not under 1.4
    raised["status"]["usage"]["podsStarted"] = 2
    raised["spec"]["execution"]["budget"] = {"maxCoreHours": 1.6}
    assert reopened_status(raised, now) is not None
    raised["spec"]["execution"]["budget"] = {"maxCoreHours": 1.4}
    assert reopened_status(raised, now) is None


def test_budget_leaves_room_for_one_more_pod_of_the_mean_size() -> None:
    used = {"coreSeconds": 300.0, "gpuSeconds": 30.0, "podsStarted": 3}
    assert budget_leaves_room(None, used)
    assert budget_leaves_room(BudgetSpec(max_core_hours=401 / 3600), used)
    assert not budget_leaves_room(BudgetSpec(max_core_hours=400 / 3600), used)
    assert not budget_leaves_room(BudgetSpec(max_gpu_hours=40 / 3600), used)
    assert budget_leaves_room(BudgetSpec(max_core_hours=301 / 3600), {"coreSeconds": 300.0})
