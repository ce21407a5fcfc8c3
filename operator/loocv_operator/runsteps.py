"""The three steps of every run — plan, train, finish — as one library, whoever runs them.

A run is the same three steps wherever it runs:

1. **plan**: load the data and build the estimator (``load_inputs``), check them together
   and plan the folds (``plan_run``: planning.py, then one trial fit), write ``plan.json``;
2. **train**: the trainers compute the folds of their batches and write segments
   (trainer.py; ``FoldRunner`` is made from the same ``load_inputs``);
3. **finish**: read the stored folds, aggregate, judge the gate and the baseline, write
   ``report.json``, ``predictions.csv`` and ``report.html`` (``finish_run``).

``loocv run --local`` calls the three in one process (local.py); on a cluster each is a Job
of the trainer image (podsteps.py: ``loocv plan`` and ``loocv finish``, trainer.py:
``loocv train``), so the operator never touches user data; ``loocv validate`` runs step 1
without writing anything, and ``loocv report`` step 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .aggregator import summarize
from .compare.gate import BaselineVerdict, combine, judge_run, record_baseline
from .gate import GateVerdict, evaluate_gate
from .inputs import Inputs, load_inputs
from .ledger import load_results
from .plan import Plan
from .report import write_report
from .results import OPERATOR_PATHS, FoldResult, SampleResult, to_python
from .spec import LOOCVRunSpec
from .store import RunLocation, Store
from .summary import RunSummary
from .usage import Prices, Usage, finished_usage

__all__ = ["Finished", "Inputs", "finish_run", "load_inputs", "plan_run"]


def plan_run(
    spec: LOOCVRunSpec,
    location: RunLocation,
    inputs: Inputs,
    store: Store | None,
    executor: str = "local",
) -> Plan:
    """Step 1: plan, try one fit on every sample, write plan.json (``store=None``: check
    only). On a cluster a stored plan is kept as it is (the planner pod's retry; it may
    have been sized after its probe batch); locally it is rewritten (a changed gate reuses
    the folds of its key), and a key with a plan already passed its trial fit."""
    from .planning import make_plan  # scikit-learn: only to plan, never to report
    from .preflight import trial_fit

    stored = store is not None and store.exists(location.plan)
    if store is not None and stored and executor == "cluster":
        return Plan.from_json(store.get(location.plan), store.uri(location.plan))
    plan = make_plan(location, spec, inputs.dataset, inputs.estimator, executor=executor)
    if not stored:
        trial_fit(spec, inputs.estimator, inputs.dataset.X, inputs.dataset.y)
    if store is not None:
        store.put(location.plan, plan.to_json())
    return plan


@dataclass(frozen=True)
class Finished:
    """What step 3 found and wrote."""

    results: list[FoldResult]
    summary: RunSummary
    verdict: GateVerdict
    baseline: BaselineVerdict | None
    artifacts: dict[str, str]
    usage: Usage | None = None  # what the run used (usage.py), also in report.json


def needs_samples(results: Sequence[FoldResult]) -> bool:
    """Folds recorded by the operator (a batch given up, a fold OOM-killed alone) carry only
    their rows: the operator never reads the data, so ids and true labels are filled in at
    the end."""
    return any(r.path in OPERATOR_PATHS and any(not s.id for s in r.samples) for r in results)


def with_samples(results: list[FoldResult], inputs: Inputs) -> list[FoldResult]:
    """``results`` with every operator-recorded fold's held-out rows named (id, true label)."""
    dataset, hasher = inputs.dataset, inputs.hasher

    def named(sample: SampleResult) -> SampleResult:
        if sample.id or not 0 <= sample.row < dataset.n_samples:
            return sample
        row = sample.row
        return replace(sample, id=hasher(dataset.ids[row]), y_true=to_python(dataset.y[row]))

    return [
        replace(r, samples=[named(s) for s in r.samples]) if r.path in OPERATOR_PATHS else r
        for r in results
    ]


def finish_run(
    store: Store,
    plan: Plan,
    endpoint: str | None = None,
    inputs: Inputs | None = None,
    measured: Usage | None = None,
    prices: Prices | None = None,
) -> Finished:
    """Step 3: aggregate every stored fold, judge the gate (and the baseline), write the
    report. ``inputs`` names the folds the operator recorded as not run. The usage is
    ``measured`` (a local run) or, on a cluster, the usage.json the operator wrote before
    it created the report Job (kube/accounting.py)."""
    results = load_results(store, plan.location)
    if inputs is not None and needs_samples(results):
        results = with_samples(results, inputs)
    usage = finished_usage(store, plan, results, measured, prices)
    summary = summarize(plan, results)
    verdict = evaluate_gate(plan.spec.gate, summary)
    baseline = judge_run(store, plan, results, endpoint)
    if baseline is not None:
        verdict = combine(verdict, baseline)
    artifacts = write_report(store, plan, results, summary, verdict, usage=usage)
    if baseline is not None:
        record_baseline(store, plan.location.artifact("report.json"), baseline)
    return Finished(results, summary, verdict, baseline, artifacts, usage)
