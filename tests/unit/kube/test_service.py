"""The run service, offline: an in-memory Kubernetes API, a directory store, and the Jobs'
own commands (``loocv plan``, ``loocv train``, ``loocv finish``) run in-process as their
pods would run them."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from loocv_operator.cli import main as loocv
from loocv_operator.kube.service import RunService
from loocv_operator.kube.settings import Settings
from loocv_operator.ledger import load_results
from loocv_operator.plan import Plan
from loocv_operator.store import LocalStore, RunLocation

from .fakekube import Clock, FakeKube

UID = "uid-1"


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


def run_pod(kube: FakeKube, name: str, wall: int | None = None) -> int:
    """What the Job's pod does: its container's command, here; the Job finishes as the Job
    controller would finish it (exit 2: FailJob), the pod keeps its log's tail as its
    termination message (FallbackToLogsOnError)."""
    job = kube.jobs[name]
    container = job["spec"]["template"]["spec"]["containers"][0]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = loocv([*container["command"][1:], *container["args"]])
    if code == 0:
        kube.finish(name, wall=wall)
        return code
    kube.finish(name, ok=False, reason="PodFailurePolicy" if code == 2 else "BackoffLimitExceeded")
    if code == 2:
        kube.jobs[name]["status"]["conditions"][0]["message"] = "matching FailJob rule"
    kube.pods.append(
        {
            "metadata": {
                "name": f"{name}-pod",
                "labels": job["spec"]["template"]["metadata"]["labels"],
            },
            "status": {
                "containerStatuses": [
                    {
                        "state": {
                            "terminated": {
                                "exitCode": code,
                                "reason": "Error",
                                "message": err.getvalue()[-2048:],
                            }
                        }
                    }
                ]
            },
        }
    )
    return code


def train(root: Path, kube: FakeKube, name: str, wall: int | None = None) -> None:
    """A trainer (or any) Job's pod runs to its end."""
    assert run_pod(kube, name, wall) == 0


def pending(kube: FakeKube) -> list[str]:
    return [n for n, j in kube.jobs.items() if "status" not in j]


def admit(service: RunService, kube: FakeKube, document: dict[str, Any]) -> None:
    """Admission, then the planner Job's pod, then the pass that reads its plan."""
    service.admit(document)
    planners = [n for n in pending(kube) if n.endswith("-plan")]
    for name in planners:
        run_pod(kube, name)
    if planners:
        service.reconcile(UID)


def report(service: RunService, kube: FakeKube) -> None:
    """Every fold has a result: the report Job's pod, then the pass that reads report.json."""
    names = [n for n in pending(kube) if n.endswith("-report")]
    assert names, "no report Job was created"
    for name in names:
        run_pod(kube, name)
    service.reconcile(UID)


def test_an_invalid_run_is_marked_invalid_once_and_makes_no_job(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    spec = body()["spec"] | {"model": {"estimator": "os.system"}}
    admit(service, kube, body(spec))
    assert kube.conditions()["Invalid"]["status"] == "True"
    assert "spec.model.estimator" in kube.conditions()["Invalid"]["message"]
    assert kube.status["phase"] == "Failed" and kube.jobs == {}
    assert [e["reason"] for e in kube.events] == ["Invalid"]
    assert service.tracked() == []
    patches = len(kube.patches)
    admit(service, kube, body(spec, status=kube.status))  # a restart does not reopen it
    assert len(kube.patches) == patches


def test_cluster_only_problems_are_invalid(kube: FakeKube, root: Path, clock: Clock) -> None:
    service = make_service(kube, root, clock, allow_local_store=False)
    admit(service, kube, body())
    assert "spec.storage.uri" in kube.conditions()["Invalid"]["message"]
    kube2 = FakeKube()
    service2 = make_service(kube2, root, clock)
    spec = body()["spec"] | {"privacy": {"hashSampleIds": True}}
    admit(service2, kube2, body(spec))
    assert "spec.privacy.saltSecretRef" in kube2.conditions()["Invalid"]["message"]


def test_admission_plans_once_and_fills_the_window(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    admit(service, kube, body())
    plan = plan_of(root)
    assert plan.n_folds == 10 and len(plan.batches) == 4
    assert len(kube.created) == 2  # maxConcurrentJobs
    assert all(sel == ("ns", f"loocv.dev/run-uid={UID}") for sel in kube.selectors)
    assert kube.status["phase"] == "Running"
    assert kube.conditions()["Progressing"]["status"] == "True"
    raw = LocalStore(root).get(RunLocation("ns", "iris", UID).plan)

    # A restarted operator (a new service) reuses the plan and duplicates no Job.
    restarted = make_service(kube, root, clock)
    admit(restarted, kube, body(status=kube.status))
    assert LocalStore(root).get(RunLocation("ns", "iris", UID).plan) == raw
    assert len(kube.created) == 2


def test_a_whole_run_ends_complete_with_report_and_events(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    admit(service, kube, body())
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
    admit(service, kube, body())
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
    # The operator never reads the data: it records the rows; the report Job names them.
    assert all(s.id == "" for r in failed for s in r.samples)
    assert kube.status["jobs"]["givenUp"] == 1 and kube.status["jobs"]["retried"] == 1
    assert kube.conditions()["ResultsIncomplete"]["status"] == "True"
    assert not any(n.endswith("-b0-r2") for n in kube.created)
    for _ in range(6):
        for name in pending(kube):
            train(root, kube, name)
        clock.now += 10
        service.reconcile(UID)
    assert kube.conditions()["Complete"]["status"] == "True"
    lines = (root / "ns/iris/uid-1/predictions.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [line.split(",") for line in lines[1:]]
    by_row = {int(v[0]): dict(zip(header, v, strict=True)) for v in rows}
    given_up = [by_row[s.row] for r in failed for s in r.samples]
    assert {g["status"] for g in given_up} == {"failed"}
    assert all(g["y_true"] in ("0", "1", "2") and g["id"] for g in given_up)


def test_status_is_patched_at_most_once_per_interval_unless_conditions_change(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    admit(service, kube, body())
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
    admit(service, kube, body())
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


def test_a_run_suspended_while_planning_suspends_its_planner_then_resumes_it(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    """spec.suspend stops every pod of the run, the planner's too (kubectl apply of a
    suspended run, or a suspend right after apply), and resuming runs it on."""
    service = make_service(kube, root, clock)
    service.admit(body())
    (planner,) = kube.steps
    assert planner.endswith("-plan") and not kube.created
    service.spec_changed(body(body()["spec"] | {"suspend": True}, generation=2))
    assert kube.suspends == [(planner, True)]
    service.spec_changed(body(body()["spec"] | {"suspend": False}, generation=3))
    assert kube.suspends[-1] == (planner, False)
    run_pod(kube, planner)
    service.reconcile(UID)
    assert any(n.endswith("-b0-r0") for n in kube.created)  # on to the trainers


def test_a_finished_run_is_restamped_with_the_new_generation(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    admit(service, kube, body(body()["spec"] | {"model": {"estimator": "os.system"}}))
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
    admit(service, kube, body(spec))
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
    admit(service, kube, auto_body("sklearn.tree.DecisionTreeClassifier"))
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
    admit(make_service(kube, root, clock), kube, auto_body("sklearn.tree.DecisionTreeClassifier"))
    train(root, kube, kube.created[0], wall=3)
    restarted = make_service(kube, root, clock)
    admit(
        restarted, kube, auto_body("sklearn.tree.DecisionTreeClassifier") | {"status": kube.status}
    )
    assert plan_of(root).batching.mode == "measured"
    assert len(kube.created) == 3


def test_the_probe_waits_briefly_for_its_jobs_completion_time(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    admit(service, kube, auto_body("sklearn.tree.DecisionTreeClassifier"))
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
    admit(service, kube, auto_body("sklearn.naive_bayes.GaussianNB"))
    assert len(kube.created) == 1
    assert kube.jobs[kube.created[0]]["metadata"]["annotations"]["loocv.dev/folds"] == "0-39"
    assert kube.status["batching"]["mode"] == "fast-path"
    train(root, kube, kube.created[0])
    clock.now += 10
    service.reconcile(UID)
    report(service, kube)
    assert kube.conditions()["Complete"]["status"] == "True"
    assert kube.status["fastPath"].startswith("exact:gaussian-nb")


def test_a_freed_slot_is_filled_at_the_next_poll_not_the_next_status_interval(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock, poll_interval=2.0)
    admit(service, kube, body())  # 4 batches, 2 slots: two batches wait
    assert len(kube.created) == 2 and service.due() == []
    clock.now += 2
    assert service.due() == [UID]
    service.reconcile(UID)  # a quick pass: nothing finished, nothing read
    assert len(kube.created) == 2
    train(root, kube, kube.created[0])
    clock.now += 2
    service.reconcile(UID)  # the finished Job's results are read and its slot refilled
    state = service.state(UID)
    assert len(kube.created) == 3 and state is not None and len(state.results.tally.stored) == 3
    train(root, kube, kube.created[1])
    clock.now += 2
    service.reconcile(UID)
    assert len(kube.created) == 4  # every batch has a Job: nothing waits for a slot...
    clock.now += 2
    # ... but Jobs of the operator's own run: a disrupted one is resubmitted at the next
    # poll, not after the Job controller's backoff (kube/disruption.py)
    assert service.due() == [UID]


def test_folds_failing_alike_halt_the_run() -> None:
    from loocv_operator.kube.tally import Tally, failing_alike
    from loocv_operator.results import FoldError, FoldResult

    from .conftest import tally_from

    def failed(i: int, value: float) -> FoldResult:
        message = f"Found unknown categories [{value}] in column 0 during transform"
        return FoldResult(i, [], error=FoldError("ValueError", message))

    def tally(n: int, results: list[FoldResult]) -> Tally:
        return tally_from(n, results)

    alike = [failed(i, float(i)) for i in range(10)]
    reason = failing_alike(tally(100, alike))
    assert reason is not None and reason.startswith("the first 10 folds all failed")
    assert failing_alike(tally(100, alike[:9])) is None  # too few to tell
    assert failing_alike(tally(10, alike)) is None  # the run has ended anyway: judged at its end
    mixed = [*alike[:9], FoldResult(9, [], error=FoldError("KeyError", "x"))]
    assert failing_alike(tally(100, mixed)) is None
    one_ok = [FoldResult(10, []), *alike]
    assert failing_alike(tally(100, one_ok)) is None


def test_a_store_outage_is_an_event_not_a_crash(
    kube: FakeKube, root: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loocv_operator.errors import StoreError

    service = make_service(kube, root, clock)
    admit(service, kube, body())
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
    admit(service, kube, body())
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
    assert state is not None and state.stop is not None
    assert said in state.stop.message  # what the Failed condition carries when the run ends
    assert any(e["reason"] == "Halted" and said in e["message"] for e in kube.events)


def test_the_planners_refusal_reaches_the_invalid_condition_with_the_field_named(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    """What needs the data (a classifier on a continuous target) is the planner Job's to
    find; its last word becomes the Invalid condition, and no trainer Job is created."""
    service = make_service(kube, root, clock)
    spec = body()["spec"] | {
        "dataset": {"builtin": "diabetes"},
        "strategy": {"subset": {"indices": list(range(10))}},
    }
    admit(service, kube, body(spec))
    assert [n.endswith("-plan") for n in kube.steps] == [True]
    invalid = kube.conditions()["Invalid"]
    assert invalid["status"] == "True" and invalid["message"].startswith("spec.dataset: ")
    assert "continuous" in invalid["message"]
    assert kube.status["phase"] == "Failed" and kube.created == []
    assert service.tracked() == [] and service.phase_counts() == {"Failed": 1}
    assert [e["reason"] for e in kube.events] == ["Invalid"]


def test_the_operator_writes_the_spec_for_the_planner_and_reads_no_data(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    service = make_service(kube, root, clock)
    service.admit(body())
    planner = kube.jobs[kube.steps[0]]
    container = planner["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["loocv", "plan"]
    assert container["args"] == ["--spec", str(root / "ns/iris/uid-1/spec.json")]
    assert planner["spec"]["podFailurePolicy"]["rules"][1]["action"] == "FailJob"
    assert not (root / "ns/iris/uid-1/plan.json").exists()  # the planner writes it
    assert kube.status["phase"] == "Pending" and kube.created == []


def test_the_run_ends_when_its_report_job_does_not_when_report_json_appears(
    kube: FakeKube, root: Path, clock: Clock
) -> None:
    """report.json is written before the report pod logs the run to MLflow: a run marked
    Complete at the sight of report.json would be reported done while its tracking is not."""
    service = make_service(kube, root, clock)
    admit(service, kube, auto_body("sklearn.naive_bayes.GaussianNB"))
    train(root, kube, kube.created[0])
    clock.now += 10
    service.reconcile(UID)
    (name,) = [n for n in pending(kube) if n.endswith("-report")]
    container = kube.jobs[name]["spec"]["template"]["spec"]["containers"][0]
    with contextlib.redirect_stderr(io.StringIO()):
        assert loocv([*container["command"][1:], *container["args"]]) == 0  # pod still up
    clock.now += 10
    service.reconcile(UID)
    assert "Complete" not in kube.conditions()
    kube.finish(name)
    clock.now += 10
    service.reconcile(UID)
    assert kube.conditions()["Complete"]["status"] == "True"
