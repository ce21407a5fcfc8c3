"""The run service, offline: an in-memory Kubernetes API, a directory store, the real
planner, trainer (in-process) and aggregator."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from loocv_operator.estimators import DEFAULT_ALLOWLIST
from loocv_operator.kube.kubeapi import RunGone
from loocv_operator.kube.service import RunService
from loocv_operator.kube.settings import Settings
from loocv_operator.ledger import load_results
from loocv_operator.plan import Plan
from loocv_operator.store import LocalStore, RunLocation
from loocv_operator.trainer import run_batch, runner_for

UID = "uid-1"


class FakeKube:
    """Jobs, pods, run status and Events, in memory."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.created: list[str] = []
        self.pods: list[dict[str, Any]] = []
        self.status: dict[str, Any] = {}
        self.patches: list[dict[str, Any]] = []
        self.suspends: list[tuple[str, bool]] = []
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
        self.created.append(name)
        return True

    def set_job_suspend(self, namespace: str, name: str, suspend: bool) -> None:
        self.suspends.append((name, suspend))
        self.jobs[name]["spec"]["suspend"] = suspend

    def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
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


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_service(kube: FakeKube, root: Path, clock: Clock, **settings: Any) -> RunService:
    options: dict[str, Any] = {
        "storage_uri": str(root),
        "allow_local_store": True,
        "status_interval": 10.0,
        "max_resubmits": 1,
    }
    options.update(settings)
    return RunService(Settings(**options), kube, clock=clock)


def body(
    spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, generation: int = 1
) -> dict[str, Any]:
    return {
        "metadata": {"name": "iris", "namespace": "ns", "uid": UID, "generation": generation},
        "spec": spec
        or {
            "dataset": {"builtin": "iris"},
            "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
            "strategy": {"subset": {"indices": list(range(0, 150, 15))}},  # 10 folds
            "execution": {"foldsPerJob": 3, "maxConcurrentJobs": 2, "retries": 0},
        },
        "status": status or {},
    }


def plan_of(root: Path) -> Plan:
    store = LocalStore(root)
    return Plan.from_json(store.get(RunLocation("ns", "iris", UID).plan))


def train(root: Path, kube: FakeKube, name: str, wall: int | None = None) -> None:
    """What the Job's pod does: the real trainer on its batch."""
    plan = plan_of(root)
    batch = int(kube.jobs[name]["metadata"]["labels"]["loocv.dev/batch"])
    run_batch(runner_for(plan, DEFAULT_ALLOWLIST), batch, LocalStore(root))
    kube.finish(name, wall=wall)


def test_an_invalid_run_is_marked_invalid_once_and_makes_no_job(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    spec = body()["spec"] | {"model": {"estimator": "os.system"}}
    service.admit(body(spec))
    assert kube.conditions()["Invalid"]["status"] == "True"
    assert "spec.model.estimator" in kube.conditions()["Invalid"]["message"]
    assert kube.status["phase"] == "Failed" and kube.jobs == {}
    assert [e["reason"] for e in kube.events] == ["Invalid"]
    assert service.tracked() == []
    patches = len(kube.patches)
    service.admit(body(spec, status=kube.status))  # a restart does not reopen it
    assert len(kube.patches) == patches


def test_cluster_only_problems_are_invalid(kube: FakeKube, root: Path, clock: Clock) -> None:
    service = make_service(kube, root, clock, allow_local_store=False)
    service.admit(body())
    assert "spec.storage.uri" in kube.conditions()["Invalid"]["message"]
    kube2 = FakeKube()
    service2 = make_service(kube2, root, clock)
    spec = body()["spec"] | {"privacy": {"hashSampleIds": True}}
    service2.admit(body(spec))
    assert "spec.privacy.saltSecretRef" in kube2.conditions()["Invalid"]["message"]


def test_admission_plans_once_and_fills_the_window(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    service.admit(body())
    plan = plan_of(root)
    assert plan.n_folds == 10 and len(plan.batches) == 4
    assert len(kube.created) == 2  # maxConcurrentJobs
    assert all(sel == ("ns", f"loocv.dev/run-uid={UID}") for sel in kube.selectors)
    assert kube.status["phase"] == "Running"
    assert kube.conditions()["Progressing"]["status"] == "True"
    raw = LocalStore(root).get(RunLocation("ns", "iris", UID).plan)

    # A restarted operator (a new service) reuses the plan and duplicates no Job.
    restarted = make_service(kube, root, clock)
    restarted.admit(body(status=kube.status))
    assert LocalStore(root).get(RunLocation("ns", "iris", UID).plan) == raw
    assert len(kube.created) == 2


def test_a_whole_run_ends_complete_with_report_and_events(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    service.admit(body())
    for _ in range(10):
        for name in [n for n, j in kube.jobs.items() if "status" not in j]:
            train(root, kube, name)
        clock.now += 10
        service.reconcile(UID)
        if service.tracked() == []:
            break
    assert kube.conditions()["Complete"]["status"] == "True"
    assert kube.status["folds"] == {
        "total": 10,
        "done": 10,
        "succeeded": 10,
        "failed": 0,
        "running": 0,
        "missing": 0,
    }
    assert kube.status["jobs"]["total"] == 4 and kube.status["jobs"]["succeeded"] == 4
    store = LocalStore(root)
    location = RunLocation("ns", "iris", UID)
    for artifact in ("report.json", "predictions.csv", "report.html"):
        assert store.exists(location.artifact(artifact))
    assert "Completed" in [e["reason"] for e in kube.events]
    assert service.phase_counts() == {"Succeeded": 1}
    assert service.tracked() == []


def test_a_failing_batch_is_resubmitted_then_recorded_as_failed(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)  # max_resubmits=1
    service.admit(body())
    first = kube.created[0]
    kube.finish(first, ok=False)
    service.reconcile(UID)
    retry = kube.created[-1]
    assert retry.endswith("-b0-r1")
    assert kube.jobs[retry]["metadata"]["annotations"]["loocv.dev/failures-before"] == "1"
    kube.finish(retry, ok=False)
    clock.now += 10
    service.reconcile(UID)
    stored = load_results(LocalStore(root), RunLocation("ns", "iris", "uid-1"))
    failed = [r for r in stored if r.error]
    assert [r.index for r in failed] == [0, 1, 2]
    assert {r.error.type for r in failed if r.error} == {"RetriesExhausted"}
    rows = plan_of(root).batches[0]
    assert [s.row for r in failed for s in r.samples] == [
        plan_of(root).folds[i].test[0] for i in rows
    ]
    assert all(s.y_true in (0, 1, 2) for r in failed for s in r.samples)
    assert kube.status["jobs"]["givenUp"] == 1 and kube.status["jobs"]["retried"] == 1
    assert kube.conditions()["ResultsIncomplete"]["status"] == "True"
    assert not any(n.endswith("-b0-r2") for n in kube.created)


def test_status_is_patched_at_most_once_per_interval_unless_conditions_change(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    service.admit(body())
    baseline = len(kube.patches)
    name = kube.created[0]
    train(root, kube, name)  # new results: the status would change
    kube.jobs[name].pop("status")  # ... but the Job is still running: no transition
    for _ in range(5):
        clock.now += 1
        service.reconcile(UID)
    assert len(kube.patches) == baseline  # within the interval: nothing written
    clock.now += 10
    service.reconcile(UID)
    assert len(kube.patches) == baseline + 1
    assert kube.status["folds"]["done"] == 3


def test_suspend_and_resume_act_at_once(kube: FakeKube, root: Path, clock: Clock) -> None:
    service = make_service(kube, root, clock)
    service.admit(body())
    spec = body()["spec"] | {"suspend": True}
    service.spec_changed(body(spec, generation=2))
    assert sorted(kube.suspends) == sorted((n, True) for n in kube.created)
    assert kube.status["phase"] == "Suspended"
    assert kube.status["observedGeneration"] == 2
    created = len(kube.created)
    service.spec_changed(
        body(
            body()["spec"]
            | {
                "suspend": False,
                "execution": {"foldsPerJob": 3, "maxConcurrentJobs": 3, "retries": 0},
            },
            generation=3,
        )
    )
    assert kube.suspends[-1][1] is False
    assert len(kube.created) == created + 1  # the window grew to 3


def test_a_finished_run_is_restamped_with_the_new_generation(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    service.admit(body(body()["spec"] | {"model": {"estimator": "os.system"}}))
    finished = dict(kube.status)
    service.spec_changed(body(status=finished, generation=4))
    assert kube.status["observedGeneration"] == 4
    assert {c["observedGeneration"] for c in kube.status["conditions"]} == {4}
    assert (
        kube.conditions()["Invalid"]["lastTransitionTime"]
        == ({c["type"]: c for c in finished["conditions"]}["Invalid"]["lastTransitionTime"])
    )


def test_a_deleted_run_is_forgotten_and_its_results_removed_when_asked(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    spec = body()["spec"] | {"storage": {"deleteOnDelete": True}}
    service.admit(body(spec))
    assert LocalStore(root).list("ns/iris/")
    kube.gone = True
    train(root, kube, kube.created[0])
    clock.now += 100
    service.reconcile(UID)  # the next status patch finds the run gone
    assert service.tracked() == []
    service.delete_results(body(spec))
    assert LocalStore(root).list("ns/iris/") == []


def auto_body(estimator: str, folds: int = 40) -> dict[str, Any]:
    return body(
        {
            "dataset": {"builtin": "iris"},
            "model": {"estimator": estimator},
            "strategy": {"subset": {"indices": list(range(folds))}},
            "execution": {"maxConcurrentJobs": 2, "retries": 0},
        }
    )


def test_auto_batching_probes_then_sizes_the_rest_from_the_probe(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    service.admit(auto_body("sklearn.tree.DecisionTreeClassifier"))
    assert len(kube.created) == 1  # only the probe, though two slots are free
    probe = kube.created[0]
    assert kube.jobs[probe]["metadata"]["annotations"]["loocv.dev/folds"] == "0-4"
    assert kube.status["batching"]["mode"] == "probing"
    assert "probe batch of 5 folds" in kube.events[0]["message"]

    train(root, kube, probe, wall=4)
    clock.now += 10
    service.reconcile(UID)
    plan = plan_of(root)
    assert plan.batching.mode == "measured"
    assert plan.batching.pod_overhead_seconds is not None
    assert 3.0 < plan.batching.pod_overhead_seconds <= 4.0  # 4 s wall minus the folds
    # Tree folds take about a millisecond: 20 x 4 s of them is more than the rest, so the
    # 35 folds left are cut for the 2 slots: 18 + 17.
    assert [len(b) for b in plan.batches] == [5, 18, 17]
    assert len(kube.created) == 3
    assert kube.status["batching"]["foldsPerJob"] == 18
    assert "Batched" in [e["reason"] for e in kube.events]

    for _ in range(5):
        for name in [n for n, j in kube.jobs.items() if "status" not in j]:
            train(root, kube, name)
        clock.now += 10
        service.reconcile(UID)
    assert kube.conditions()["Complete"]["status"] == "True"
    assert kube.status["folds"]["succeeded"] == 40
    report = json.loads(
        LocalStore(root).get(RunLocation("ns", "iris", UID).artifact("report.json"))
    )
    assert report["batching"]["mode"] == "measured"


def test_a_restarted_operator_continues_a_probing_run(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    make_service(kube, root, clock).admit(auto_body("sklearn.tree.DecisionTreeClassifier"))
    train(root, kube, kube.created[0], wall=3)
    restarted = make_service(kube, root, clock)
    restarted.admit(auto_body("sklearn.tree.DecisionTreeClassifier") | {"status": kube.status})
    assert plan_of(root).batching.mode == "measured"
    assert len(kube.created) == 3


def test_the_probe_waits_briefly_for_its_jobs_completion_time(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    service.admit(auto_body("sklearn.tree.DecisionTreeClassifier"))
    probe = kube.created[0]
    train(root, kube, probe)
    kube.jobs[probe].pop("status")  # results are stored, the Job has not completed yet
    clock.now += 10
    service.reconcile(UID)
    assert plan_of(root).batching.probing and len(kube.created) == 1
    clock.now += 61
    service.reconcile(UID)
    plan = plan_of(root)
    assert plan.batching.mode == "measured" and "assumed" in plan.batching.message
    assert len(kube.created) == 2  # the unfinished probe Job still holds one of the 2 slots


def test_a_fast_path_run_is_planned_as_one_job(kube: FakeKube, root: Path, clock: Clock) -> None:
    service = make_service(kube, root, clock)
    service.admit(auto_body("sklearn.naive_bayes.GaussianNB"))
    assert len(kube.created) == 1
    assert kube.jobs[kube.created[0]]["metadata"]["annotations"]["loocv.dev/folds"] == "0-39"
    assert kube.status["batching"]["mode"] == "fast-path"
    train(root, kube, kube.created[0])
    clock.now += 10
    service.reconcile(UID)
    assert kube.conditions()["Complete"]["status"] == "True"
    assert kube.status["fastPath"].startswith("exact:gaussian-nb")


def test_a_freed_slot_is_filled_at_the_next_poll_not_the_next_status_interval(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock, poll_interval=2.0)
    service.admit(body())  # 4 batches, 2 slots: two batches wait
    assert len(kube.created) == 2 and service.due() == []
    clock.now += 2
    assert service.due() == [UID]
    service.reconcile(UID)  # a quick pass: nothing finished, nothing read
    assert len(kube.created) == 2
    train(root, kube, kube.created[0])
    clock.now += 2
    service.reconcile(UID)  # the finished Job's results are read and its slot refilled
    state = service.state(UID)
    assert len(kube.created) == 3 and state is not None and len(state.results) == 3
    train(root, kube, kube.created[1])
    clock.now += 2
    service.reconcile(UID)
    assert len(kube.created) == 4  # every batch has a Job: nothing waits for a slot
    clock.now += 2
    assert service.due() == []  # ... so the run is due only every status interval
    clock.now += 8
    assert service.due() == [UID]


def test_folds_failing_alike_halt_the_run() -> None:
    from loocv_operator.kube.service import failing_alike
    from loocv_operator.results import FoldError, FoldResult

    def failed(i: int, value: float) -> FoldResult:
        message = f"Found unknown categories [{value}] in column 0 during transform"
        return FoldResult(i, [], error=FoldError("ValueError", message))

    alike = {i: failed(i, float(i)) for i in range(10)}
    reason = failing_alike(alike, 100)
    assert reason is not None and reason.startswith("the first 10 folds all failed")
    assert failing_alike(dict(list(alike.items())[:9]), 100) is None  # too few to tell
    assert failing_alike(alike, 10) is None  # the run has ended anyway: judged at its end
    mixed = {**alike, 10: FoldResult(10, [], error=FoldError("KeyError", "x"))}
    assert failing_alike(mixed, 100) is None
    one_ok = {**alike, 10: FoldResult(10, [])}
    assert failing_alike(one_ok, 100) is None


def test_a_store_outage_is_an_event_not_a_crash(
    kube: FakeKube, root: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loocv_operator.errors import StoreError

    service = make_service(kube, root, clock)
    service.admit(body())
    state = service.state(UID)
    assert state is not None

    def down(prefix: str) -> list[str]:
        raise StoreError("listing s3://b/ns/: store unreachable for 300 s: connection refused")

    monkeypatch.setattr(state.store, "list", down)
    kube.finish(kube.created[0], ok=True)  # a finished Job makes the next pass read the store
    clock.now += 10
    service.reconcile(UID)  # must not raise
    unreachable = [e for e in kube.events if e["reason"] == "StoreUnreachable"]
    assert unreachable and "connection refused" in unreachable[-1]["message"]
    assert UID in service.tracked()  # still tracked: the next interval tries again


def test_the_trainers_own_words_reach_the_failed_condition(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    """Exit 2 (FailJob): the Failed condition quotes the pod's termination message, not only
    the Job controller's "failed with exit code 2"."""
    service = make_service(kube, root, clock)
    service.admit(body())
    first = kube.created[0]
    kube.finish(first, ok=False, reason="PodFailurePolicy")
    kube.jobs[first]["status"]["conditions"][0]["message"] = "matching FailJob rule at index 1"
    kube.pods.append(
        {
            "metadata": {"name": f"{first}-x", "labels": {"loocv.dev/batch": "0"}},
            "status": {
                "containerStatuses": [
                    {
                        "state": {
                            "terminated": {
                                "exitCode": 2,
                                "reason": "Error",
                                "message": (
                                    "invalid input: spec.privacy.hashSampleIds: needs a salt"
                                ),
                            }
                        }
                    }
                ]
            },
        }
    )
    clock.now += 10
    service.reconcile(UID)
    clock.now += 10
    service.reconcile(UID)
    said = "the trainer said: invalid input: spec.privacy.hashSampleIds: needs a salt"
    state = service.state(UID)
    assert state is not None and state.halted is not None
    assert said in state.halted  # what the Failed condition carries when the run ends
    assert any(e["reason"] == "Halted" and said in e["message"] for e in kube.events)
