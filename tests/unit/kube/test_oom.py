"""Failed trainer pods become one Event each: OOM kills with the limit, errors with the
trainer's termination message."""

from __future__ import annotations

from typing import Any

from loocv_operator.kube.jobs import LABEL_BATCH
from loocv_operator.kube.observe import observe_pod
from loocv_operator.kube.oom import pod_failure_events


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
