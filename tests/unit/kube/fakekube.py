"""An in-memory Kubernetes API for the run service's offline tests (the KubeGateway the
operator talks to), and a clock the tests move by hand."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from loocv_operator.kube.kubeapi import RunGone


class FakeKube:
    """Jobs, pods, run status and Events, in memory."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.created: list[str] = []
        self.steps: list[str] = []
        self.pods: list[dict[str, Any]] = []
        self.status: dict[str, Any] = {}
        self.patches: list[dict[str, Any]] = []
        self.suspends: list[tuple[str, bool]] = []
        self.deleted: list[str] = []
        self.pod_lists = 0
        self.events: list[dict[str, Any]] = []
        self.selectors: list[tuple[str, str]] = []
        self.gone = False

    def list_jobs(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        self.selectors.append((namespace, selector))
        return [dict(j) for j in self.jobs.values()]

    def create_job(self, namespace: str, body: Mapping[str, Any]) -> bool:
        name = body["metadata"]["name"]
        if name in self.jobs:
            return False
        self.jobs[name] = json.loads(json.dumps(body))
        if body["metadata"]["labels"].get("loocv.dev/step") == "train":
            self.created.append(name)  # trainer Jobs; the planner's and the report's: steps
        else:
            self.steps.append(name)
        return True

    def set_job_suspend(self, namespace: str, name: str, suspend: bool) -> None:
        self.suspends.append((name, suspend))
        self.jobs[name]["spec"]["suspend"] = suspend

    def delete_job(self, namespace: str, name: str) -> None:
        """Background propagation: the Job goes at once, the garbage collector takes its
        pods (here at once too)."""
        self.deleted.append(name)
        job = self.jobs.pop(name, None)
        if job is not None:
            labels = job["spec"]["template"]["metadata"]["labels"]
            self.pods = [p for p in self.pods if p["metadata"]["labels"] != labels]

    def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        self.pod_lists += 1
        return list(self.pods)

    def patch_run_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        if self.gone:
            raise RunGone(name)
        self.patches.append(dict(status))
        for key, value in status.items():
            if value is None:
                self.status.pop(key, None)
            else:
                self.status[key] = value

    def post_event(self, namespace: str, body: Mapping[str, Any]) -> None:
        self.events.append(dict(body))

    def list_workloads(self, namespace: str) -> list[dict[str, Any]] | None:
        return []  # Kueue's Workloads: test_service_kueue.py fills them in

    def finish(
        self,
        name: str,
        ok: bool = True,
        reason: str = "BackoffLimitExceeded",
        wall: int | None = None,
    ) -> None:
        condition = {
            "type": "Complete" if ok else "Failed",
            "status": "True",
            "reason": "" if ok else reason,
            "message": "m",
        }
        self.jobs[name]["status"] = {"conditions": [condition]}
        if wall is not None:  # as the Job controller stamps them, to the second
            self.jobs[name]["status"]["startTime"] = "2026-11-24T10:00:00Z"
            self.jobs[name]["status"]["completionTime"] = f"2026-11-24T10:00:{wall:02d}Z"

    def conditions(self) -> dict[str, dict[str, Any]]:
        return {c["type"]: c for c in self.status.get("conditions", [])}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
