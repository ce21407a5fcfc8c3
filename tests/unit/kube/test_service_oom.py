"""OOM kills through the run service, offline (the fakes of test_service): the memory is
raised to the cap, then the batch is split down to one fold, and a fold that alone exceeds
the cap is a failed fold (OOMKilled), and the run completes; status, Events, the report and
predictions.csv say what happened."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loocv_operator.kube.jobs import LABEL_BATCH
from loocv_operator.ledger import load_results
from loocv_operator.store import LocalStore, RunLocation

from .fakekube import Clock, FakeKube
from .test_service import UID, admit, body, make_service, pending, plan_of, train

LOCATION = RunLocation("ns", "iris", UID)


def oom_kill(kube: FakeKube, name: str) -> None:
    """What the kubelet and the Job controller leave after the kernel kills the trainer (or
    the planner)."""
    job = kube.jobs[name]
    kube.finish(name, ok=False, reason="PodFailurePolicy")
    kube.jobs[name]["status"]["conditions"][0]["message"] = (
        f"Container trainer for pod ns/{name}-x failed with exit code 137 matching FailJob "
        "rule at index 2"
    )
    kube.pods.append(
        {
            "metadata": {
                "name": f"{name}-x",
                "labels": job["spec"]["template"]["metadata"]["labels"],
            },
            "spec": job["spec"]["template"]["spec"],
            "status": {
                "phase": "Failed",
                "containerStatuses": [
                    {"state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}
                ],
            },
        }
    )


def memory_of(kube: FakeKube, name: str) -> dict[str, Any]:
    resources: dict[str, Any] = kube.jobs[name]["spec"]["template"]["spec"]["containers"][0][
        "resources"
    ]
    return resources


def test_an_oom_killed_batch_gets_memory_then_is_split_and_the_run_completes(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    spec = body()["spec"]
    spec["execution"] = {**spec["execution"], "resources": {"limits": {"memory": "256Mi"}}}
    service = make_service(kube, root, clock, trainer_memory_cap="512Mi")
    admit(service, kube, body(spec))
    first = kube.created[0]
    assert memory_of(kube, first)["limits"]["memory"] == "256Mi"
    hungry = set(plan_of(root).batches[0])  # every pod holding one of these is killed

    for _ in range(20):
        for name in pending(kube):  # trainers, then the report Job
            if kube.jobs[name]["metadata"]["labels"].get(LABEL_BATCH) == "0":
                oom_kill(kube, name)
            else:
                train(root, kube, name)
        clock.now += 10
        service.reconcile(UID)
        if service.tracked() == []:
            break

    reasons = [e["reason"] for e in kube.events]
    # 1: raised (256Mi -> 512Mi, the cap); 2, 3: split at the cap; 4: one fold left, failed
    assert reasons.count("OOMKilled") == 4
    assert reasons.count("MemoryRaised") == 1 and reasons.count("BatchSplit") == 2
    assert reasons.count("FoldOOMKilled") == 1
    raised = next(e for e in kube.events if e["reason"] == "MemoryRaised")
    assert "OOM-killed at 256Mi" in raised["message"] and "raised to 512Mi" in raised["message"]
    retry = next(n for n in kube.created if n.endswith("-b0-r1"))
    assert memory_of(kube, retry) == {
        "requests": {"memory": "512Mi", "cpu": "500m"},
        "limits": {"memory": "512Mi"},
    }
    assert kube.jobs[retry]["metadata"]["annotations"]["loocv.dev/failures-before"] == "0"
    killed_at = [
        json.loads(json.dumps(p["spec"]))["containers"][0]["resources"]["limits"]["memory"]
        for p in kube.pods
    ]
    assert killed_at == ["256Mi", "512Mi", "512Mi", "512Mi"]

    plan = plan_of(root)
    assert len(plan.batches) == 6  # 4 planned + 2 halves
    assert plan.oom.memory == "512Mi" and len(plan.oom.steps) == 4
    assert {f for b in plan.batches for f in b} == set(range(10))
    (lonely,) = plan.batches[0]

    assert kube.conditions()["Complete"]["status"] == "True"
    assert kube.status["folds"] == {
        "total": 10,
        "done": 10,
        "succeeded": 9,
        "failed": 1,
        "running": 0,
        "missing": 0,
    }
    assert kube.status["oom"] == {
        "killed": 4,
        "memory": "512Mi",
        "splits": 2,
        "failedFolds": 1,
        "message": "4 OOM-killed pods; memory raised to 512Mi; 2 batches split; "
        "1 folds failed alone at the cap (OOMKilled)",
    }
    assert kube.status["jobs"]["retried"] == 0  # OOM kills are not failures to count
    stored = {r.index: r for r in load_results(LocalStore(root), LOCATION)}
    error = stored[lonely].error
    assert error is not None and error.type == "OOMKilled"
    assert stored[lonely].path == "oom-killed"
    assert all(stored[f].error is None for f in hungry - {lonely})

    store = LocalStore(root)
    report = json.loads(store.get(LOCATION.artifact("report.json")))
    assert report["oom"]["memory"] == "512Mi"
    assert [s["action"] for s in report["oom"]["steps"]] == ["raised", "split", "split", "failed"]
    html = store.get(LOCATION.artifact("report.html")).decode()
    assert "out of memory: 4 OOM-killed pods" in html
    csv = store.get(LOCATION.artifact("predictions.csv")).decode()
    assert sum("OOMKilled" in line for line in csv.splitlines()) == 1


def test_a_restarted_operator_keeps_the_raised_memory_and_repeats_no_step(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    """The remediation lives in plan.json: a new operator process neither handles the same
    kill again nor forgets the memory the run's next Jobs need."""
    spec = body()["spec"]
    spec["execution"] = {**spec["execution"], "resources": {"limits": {"memory": "256Mi"}}}
    service = make_service(kube, root, clock, trainer_memory_cap="1Gi")
    admit(service, kube, body(spec))
    first, second = kube.created
    oom_kill(kube, first)
    clock.now += 10
    service.reconcile(UID)
    assert [n for n in kube.created if n.endswith("-b0-r1")]

    restarted = make_service(kube, root, clock, trainer_memory_cap="1Gi")
    admit(restarted, kube, body(spec, status=kube.status))
    train(root, kube, second)
    clock.now += 10
    restarted.reconcile(UID)

    reasons = [e["reason"] for e in kube.events]
    assert reasons.count("MemoryRaised") == 1
    plan = plan_of(root)
    assert plan.oom.memory == "512Mi" and len(plan.oom.steps) == 1
    assert len(plan.batches) == 4  # raised, not split
    third = next(n for n in kube.created if n.endswith("-b2-r0"))
    assert memory_of(kube, third)["limits"]["memory"] == "512Mi"
    assert kube.status["oom"]["memory"] == "512Mi" and kube.status["oom"]["killed"] == 1


def test_an_oom_killed_planner_fails_the_run_naming_its_limit_and_the_field_to_raise(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    """The planner is not remediated (it runs with the run's resources, which only the
    manifest changes): the run fails PlannerOOMKilled, not a generic PlannerFailed, and
    says which limit it hit and what to raise."""
    spec = body()["spec"]
    spec["execution"] = {**spec["execution"], "resources": {"limits": {"memory": "448Mi"}}}
    service = make_service(kube, root, clock, trainer_memory_cap="1Gi")
    service.admit(body(spec))
    (planner,) = kube.steps
    oom_kill(kube, planner)
    clock.now += 10
    service.reconcile(UID)

    failed = kube.conditions()["Failed"]
    assert failed["status"] == "True" and failed["reason"] == "PlannerOOMKilled", failed
    message = failed["message"]
    assert f"the planner pod {planner}-x was OOM-killed at its memory limit of 448Mi" in message
    assert "raise spec.execution.resources.limits.memory" in message
    assert kube.status["phase"] == "Failed" and kube.created == []
    assert service.tracked() == [] and service.phase_counts() == {"Failed": 1}
    events = {e["reason"]: e for e in kube.events}
    assert "the plan step" in events["OOMKilled"]["message"]  # the kubelet's fact, told
    assert "448Mi" in events["OOMKilled"]["message"]
    assert events["Failed"]["message"] == message and events["Failed"]["type"] == "Warning"
    assert not (root / "ns/iris/uid-1/plan.json").exists()
