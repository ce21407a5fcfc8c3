"""Failed trainer pods become one Event each (OOM kills with the limit, errors with the
trainer's termination message), and OOM kills are remediated: memory raised to the cap,
then the batch split, then a fold alone at the cap recorded as failed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from loocv_operator.folds import Fold
from loocv_operator.kube.jobs import LABEL_BATCH, STEP_PLAN
from loocv_operator.kube.observe import (
    FINISHED_FAILED,
    FINISHED_SUCCEEDED,
    ObservedJob,
    ObservedPod,
    observe_pod,
)
from loocv_operator.kube.oom import (
    OomPolicy,
    memory_bytes,
    memory_quantity,
    planner_oom,
    pod_failure_events,
    remedied,
    remedy,
    step_event,
)
from loocv_operator.oomlog import ACTION_FAILED, ACTION_RAISED, ACTION_SPLIT, OomLog
from loocv_operator.plan import Plan
from loocv_operator.store import RunLocation

from .conftest import spec_of


def pod(name: str, terminated: dict[str, Any] | None, disrupted: bool = False) -> dict[str, Any]:
    conditions = [{"type": "DisruptionTarget", "status": "True"}] if disrupted else []
    state = {"terminated": terminated} if terminated else {"running": {}}
    return {
        "metadata": {"name": name, "labels": {LABEL_BATCH: "4"}},
        "status": {"conditions": conditions, "containerStatuses": [{"state": state}]},
    }


def test_each_failed_pod_is_told_once_with_what_the_kubelet_and_trainer_said() -> None:
    raw = [
        pod("oom", {"reason": "OOMKilled", "exitCode": 137}),
        pod("bad", {"reason": "Error", "exitCode": 2, "message": "invalid input: --batch: no"}),
        pod("ok", {"reason": "Completed", "exitCode": 0}),
        pod("running", None),
        pod("preempted", {"reason": "Error", "exitCode": 143}, disrupted=True),
    ]
    observed = [p for p in (observe_pod(r) for r in raw) if p is not None]
    assert observed[0].terminated == ("OOMKilled", 137, "")
    events: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    pod_failure_events(observed, seen, "2Gi", lambda *e: events.append(e))
    pod_failure_events(observed, seen, "2Gi", lambda *e: events.append(e))  # not again
    assert [(t, r) for t, r, _ in events] == [
        ("Warning", "OOMKilled"),
        ("Warning", "TrainerFailed"),
    ]
    assert "batch 4" in events[0][2] and "memory limit of 2Gi" in events[0][2]
    assert events[1][2].endswith("exited 2 (Error): invalid input: --batch: no")


# ------------------------------------------------------------------ remediation (pure)

POLICY = OomPolicy(base_memory="384Mi", cap="448Mi")


def plan_of(batches: list[list[int]]) -> Plan:
    n = sum(len(b) for b in batches)
    return Plan(
        location=RunLocation("ns", "run", "uid"),
        spec=spec_of(),
        spec_digest="s",
        dataset_digest="d",
        n_samples=n,
        task="classification",
        classes=[0, 1],
        folds=[Fold(i, (i,)) for i in range(n)],
        batches=batches,
    )


def killed(batch: int, attempt: int = 0, memory: str | None = "384Mi") -> ObservedJob:
    return ObservedJob(
        name=f"j{batch}-{attempt}",
        batch=batch,
        attempt=attempt,
        finished=FINISHED_FAILED,
        failure="Error",
        memory_limit=memory,
    )


def oom_pod(batch: int, attempt: int = 0, reason: str = "OOMKilled", **kw: object) -> ObservedPod:
    return ObservedPod(
        name=f"p{batch}-{attempt}",
        batch=batch,
        disrupted=bool(kw.get("disrupted", False)),
        waiting=None,
        terminated=(reason, 137, ""),
        attempt=attempt,
    )


@pytest.mark.parametrize(
    ("quantity", "n_bytes"),
    [("384Mi", 384 * 2**20), ("1.5Gi", 3 * 2**29), ("1G", 10**9), ("1e6", 10**6), ("2", 2)],
)
def test_memory_quantities_parse_as_kubernetes_reads_them(quantity: str, n_bytes: int) -> None:
    assert memory_bytes(quantity) == n_bytes


def test_unreadable_or_absent_memory_is_none_and_output_is_whole_mebibytes() -> None:
    assert memory_bytes(None) is None and memory_bytes("lots") is None and memory_bytes("0") is None
    assert memory_quantity(2**30) == "1024Mi" and memory_quantity(10**9) == "954Mi"


def test_memory_is_raised_first_to_twice_the_killed_limit_at_most_the_cap() -> None:
    plan = plan_of([[0, 1, 2], [3, 4, 5]])
    policy = OomPolicy(base_memory="1Gi", cap="8Gi")
    fix = remedy(plan, [killed(0, memory="1Gi")], [oom_pod(0)], set(), policy)
    (step,) = fix.steps
    assert (step.action, step.killed_at, step.memory) == (ACTION_RAISED, "1Gi", "2048Mi")
    assert fix.plan.oom.memory == "2048Mi" and fix.plan.batches == plan.batches
    again = remedy(fix.plan, [killed(0, 1, "2048Mi")], [oom_pod(0, 1)], set(), policy)
    assert again.plan.oom.memory == "4096Mi"
    capped = remedy(plan, [killed(0)], [oom_pod(0)], set(), POLICY)
    assert capped.plan.oom.memory == "448Mi"  # 2 x 384Mi is over the cap


def test_batches_killed_together_raise_the_run_once_not_once_each() -> None:
    plan = plan_of([[0, 1], [2, 3], [4, 5]])
    policy = OomPolicy(base_memory="1Gi", cap="8Gi")
    jobs = [killed(0, memory="1Gi"), killed(1, memory="1Gi")]
    fix = remedy(plan, jobs, [oom_pod(0), oom_pod(1)], set(), policy)
    assert [s.action for s in fix.steps] == [ACTION_RAISED, ACTION_RAISED]
    assert fix.plan.oom.memory == "2048Mi"
    assert remedied(fix.plan.oom, jobs) == {0, 1}


def test_at_the_cap_the_batch_is_split_keeping_its_stored_folds_and_number() -> None:
    plan = plan_of([[0, 1, 2, 3, 4], [5, 6]])
    fix = remedy(plan, [killed(0, 2, "448Mi")], [oom_pod(0, 2)], {0}, POLICY)
    (step,) = fix.steps
    assert (step.action, step.new_batch, step.folds) == (ACTION_SPLIT, 2, (3, 4))
    assert fix.plan.batches == [[0, 1, 2], [5, 6], [3, 4]]
    assert "split in two" in step.message() and "batch 2" in step.message()
    assert step_event(step)[:2] == ("Normal", "BatchSplit")
    assert remedied(fix.plan.oom, [killed(0, 2, "448Mi")]) == {0}


def test_without_a_cap_or_a_limit_batches_are_only_split() -> None:
    plan = plan_of([[0, 1, 2, 3]])
    no_cap = remedy(plan, [killed(0)], [oom_pod(0)], set(), OomPolicy("384Mi", None))
    no_limit = remedy(plan, [killed(0, memory=None)], [oom_pod(0)], set(), POLICY)
    for fix in (no_cap, no_limit):
        assert [s.action for s in fix.steps] == [ACTION_SPLIT]
        assert fix.plan.batches == [[0, 1], [2, 3]] and fix.plan.oom.memory is None


def test_one_fold_killed_alone_at_the_cap_is_failed_and_not_resubmitted() -> None:
    plan = plan_of([[0, 1, 2], [3]])
    fix = remedy(plan, [killed(1, 4, "448Mi")], [oom_pod(1, 4)], set(), POLICY)
    (step,) = fix.steps
    assert (step.action, step.folds) == (ACTION_FAILED, (3,))
    assert step_event(step)[:2] == ("Warning", "FoldOOMKilled")
    assert "fold 3" in step.message() and "recorded as failed (OOMKilled)" in step.message()
    assert remedied(fix.plan.oom, [killed(1, 4, "448Mi")]) == set()
    assert fix.plan.oom.failed_folds() == 1


def test_each_killed_attempt_is_handled_once() -> None:
    plan = plan_of([[0, 1, 2, 3]])
    jobs, pods = [killed(0, 0, "448Mi")], [oom_pod(0)]
    fix = remedy(plan, jobs, pods, set(), POLICY)
    assert remedy(fix.plan, jobs, pods, set(), POLICY).steps == ()
    # ... and survives a restarted operator: the log is in plan.json
    reread = Plan.from_json(fix.plan.to_json())
    assert reread.oom == fix.plan.oom and reread.batches == fix.plan.batches
    assert remedy(reread, jobs, pods, set(), POLICY).steps == ()


def test_only_the_newest_failed_attempt_with_an_oom_killed_pod_counts() -> None:
    plan = plan_of([[0, 1], [2, 3], [4, 5], [6, 7]])
    running = ObservedJob(name="r", batch=1, attempt=0)
    done = ObservedJob(name="d", batch=2, attempt=0, finished=FINISHED_SUCCEEDED)
    newer = killed(3, 1)
    pods = [
        oom_pod(0, reason="Error"),  # a trainer error, not a kill
        oom_pod(1),  # its Job is still running (the Job controller decides first)
        oom_pod(2),
        oom_pod(3, 0),  # an older attempt's pod
        replace(oom_pod(3, 1), disrupted=True),  # preempted: accounted elsewhere
    ]
    jobs = [killed(0), running, done, killed(3, 0), newer]
    assert remedy(plan, jobs, pods, set(), POLICY).steps == ()


def test_a_batch_whose_folds_were_all_stored_before_the_kill_needs_nothing() -> None:
    plan = plan_of([[0, 1]])
    assert remedy(plan, [killed(0)], [oom_pod(0)], {0, 1}, POLICY).steps == ()


def test_a_plan_without_oom_kills_writes_no_oom_log() -> None:
    plan = plan_of([[0, 1]])
    assert b'"oom"' not in plan.to_json()
    assert Plan.from_json(plan.to_json()).oom == OomLog()
    assert not OomLog()


def planner(
    message: str = "PodFailurePolicy: exit code 137", memory: str | None = "448Mi"
) -> ObservedJob:
    return ObservedJob(
        "r-plan",
        -1,
        0,
        step=STEP_PLAN,
        finished=FINISHED_FAILED,
        message=message,
        memory_limit=memory,
    )


def planner_pod(terminated: tuple[str, int, str] | None, **kw: Any) -> ObservedPod:
    fields: dict[str, Any] = {"disrupted": False, "waiting": None, "memory_limit": "448Mi"}
    fields.update(kw)
    return ObservedPod("r-plan-x", -1, step=STEP_PLAN, terminated=terminated, **fields)


def test_an_oom_killed_planner_is_named_with_its_limit_and_the_field_to_raise() -> None:
    said = planner_oom(planner(), [planner_pod(("OOMKilled", 137, ""))])
    assert said is not None
    assert said.startswith("the planner pod r-plan-x was OOM-killed at its memory limit of 448Mi")
    assert "raise spec.execution.resources.limits.memory" in said
    sigkill = planner_oom(planner(), [planner_pod(("Error", 137, ""), memory_limit=None)])
    assert (
        sigkill is not None
        and "killed (exit code 137, SIGKILL) at its memory limit of 448Mi" in sigkill
    )
    gone = planner_oom(planner(memory=None), [])  # the pod is gone: the Job's message says 137
    assert gone is not None and "with no memory limit set" in gone


def test_a_planner_that_crashed_or_was_preempted_is_not_an_oom_kill() -> None:
    crashed = planner("BackoffLimitExceeded: Job has reached the specified backoff limit")
    assert planner_oom(crashed, [planner_pod(("Error", 1, "Traceback"))]) is None
    assert planner_oom(crashed, [planner_pod(("Error", 137, ""), disrupted=True)]) is None
    assert planner_oom(crashed, [planner_pod(None)]) is None
