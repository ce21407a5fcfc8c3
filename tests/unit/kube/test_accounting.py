"""The run service's usage bookkeeping over a real (directory) store: the pod ledger
survives an operator restart without counting a pod twice, and the budget trims a decision
and ends the run once nothing runs."""

from __future__ import annotations

import json
from pathlib import Path

from loocv_operator.datasets import load_dataset
from loocv_operator.estimators import DEFAULT_ALLOWLIST, build_estimator
from loocv_operator.kube.accounting import LEDGER_ARTIFACT, RunAccounting
from loocv_operator.kube.jobs import JobDefaults, JobOrder, build_job
from loocv_operator.kube.reconcile import Decision
from loocv_operator.kube.usage import Requests
from loocv_operator.plan import Plan
from loocv_operator.planning import make_plan
from loocv_operator.spec import BudgetSpec
from loocv_operator.store import LocalStore, RunLocation
from loocv_operator.usage import FoldCompute

from .conftest import RUN, spec_of
from .test_usage import T0, pod


def plan_of(store: LocalStore) -> Plan:
    spec = spec_of(execution={"foldsPerJob": 30, "resources": {"requests": {"cpu": "2"}}})
    estimator = build_estimator(spec.model, DEFAULT_ALLOWLIST)
    location = RunLocation(RUN.namespace, RUN.name, RUN.uid)
    return make_plan(location, spec, load_dataset(spec.dataset), estimator, executor="cluster")


def test_the_pod_ledger_survives_a_restart_without_double_counting(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    plan = plan_of(store)
    first = RunAccounting(store, plan)
    pods = [pod("a", 0, 100, cpu="2"), pod("b", 50, cpu="1")]
    first.observe(pods, T0 + 150)
    stored = json.loads(store.get(plan.location.artifact(LEDGER_ARTIFACT)))
    assert {p["uid"] for p in stored["pods"]} == {"a", "b"}
    before = first.usage(FoldCompute(), 0, 0, T0 + 150)
    assert before.core_seconds == 200 + 100

    # A new operator process: it reads pods.json, lists the same pods, counts each once.
    again = RunAccounting(store, plan)
    again.observe(pods, T0 + 150)
    assert again.usage(FoldCompute(), 0, 0, T0 + 150).core_seconds == before.core_seconds
    # pod a's Job was deleted (TTL) while the operator was down: still counted
    third = RunAccounting(store, plan)
    third.observe([pod("b", 50, cpu="1")], T0 + 170)
    assert third.usage(FoldCompute(), 0, 0, T0 + 170).core_seconds == 200 + 120


def test_the_budget_trims_the_jobs_to_create_and_stops_the_run_when_none_runs(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path)
    plan = plan_of(store)
    accounting = RunAccounting(store, plan, budget=BudgetSpec(max_core_hours=0.1))  # 360 s
    accounting.set_job_shape(
        build_job(RUN, plan.spec, "s3://b/plan.json", JobOrder(0), JobDefaults(image="t:1"))
    )
    assert accounting.per_job == Requests(cores=2.0, memory_gib=0.0)
    accounting.observe([pod("a", 0, 100, cpu="2")], T0 + 100)  # 200 core-s; next Job: 200
    decision = Decision(create=(JobOrder(1), JobOrder(2)), active=2)
    trimmed = accounting.within(decision, plan, T0 + 100)
    assert trimmed.create == () and trimmed.active == 0
    assert accounting.blocked is not None and "2 Jobs not created" in accounting.blocked
    assert accounting.stops(trimmed) and accounting.stopped == accounting.blocked

    # a raised budget lets them through again
    raised = RunAccounting(store, plan, budget=BudgetSpec(max_core_hours=1.0))
    raised.per_job = accounting.per_job
    assert raised.within(decision, plan, T0 + 100) == decision and raised.blocked is None
    assert not raised.stops(decision)
