"""The run service: the operator's loop over the runs it tracks — list, decide, act, write.

Each pass over a run (``reconcile``; ``admit`` and ``spec_changed`` start one at once):

1. **list** what is observable: the run's Jobs (and, on a full pass, their pods and the
   summary headers of the segments stored since the last pass, merged: tally.py);
2. **decide**, with pure functions: the step the run is in — planning (no plan.json yet:
   the planner Job), training (reconcile.decide: which trainer Jobs to create, resubmit,
   give up, suspend or resume, stopping.py: whether to stop creating them, and the budget:
   how many of them it leaves room for), finishing (every fold has a result, or the budget
   ended the run: the report Job); planning and finishing are stages.py;
3. **act**: create those Jobs, record given-up batches, post Events, keep the pod ledger
   (acts.py, accounting.py);
4. **write status**: a pure progress view of what was observed (progress.py), written at
   most once per interval unless a condition changes; at the end, the summary the report
   Job wrote into report.json.

Whatever needs the data or the model runs in pods of the trainer image (jobs.py: planner,
trainers, report); this process reads only plan.json, the segments' summary headers
(merged in tally.py: counts and partial metrics) and report.json.
Every run has a lock: the periodic pass and a handler never work on a run at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from ..errors import StoreError
from ..plan import Plan
from ..spec import ManifestError, parse_spec
from ..store import retry_notices
from . import disruption, kueue
from .accounting import reopened_status
from .acts import Acts
from .admission import accepted_spec, run_location
from .jobs import STEP_PLAN, STEP_TRAIN, selector
from .kubeapi import KubeGateway, RunGone
from .observe import (
    ObservedJob,
    ObservedPod,
    observe_job,
    observe_pod,
)
from .oom import remedied
from .plans import SPEC_OBJECT, stored_plan
from .progress import progress_of
from .reconcile import Decision, Limits, decide
from .registry import Runs
from .runstate import TrackedRun
from .settings import Settings
from .sizing import probe_done, sized_after_probe
from .stages import Stages
from .status import is_terminal, pending_status
from .stopping import operator_stop, trainer_stop
from .stores import StoreCache
from .tally import Tally
from .telemetry import Telemetry

log = logging.getLogger("loocv.operator")


class RetryLater(Exception):
    """A transient problem (the store is down): try the handler again later."""

    def __init__(self, message: str, delay: float = 30.0) -> None:
        super().__init__(message)
        self.delay = delay


class RunService:
    def __init__(
        self,
        settings: Settings,
        kube: KubeGateway,
        telemetry: Telemetry | None = None,
        stores: StoreCache | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.telemetry = telemetry or Telemetry()
        self.stores = stores or StoreCache()
        self.clock = clock
        self.acts = Acts(settings, kube, self.telemetry, clock, now)
        self.runs = Runs()
        self.stages = Stages(self.acts, kube, self.runs)
        # One pool for store reads, shared by every run (bench part 4: one GET at a time
        # made a 10,000-fold collect take 16 s).
        self._reads = ThreadPoolExecutor(settings.store_concurrency, thread_name_prefix="store")

    def close(self) -> None:
        self._reads.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ tracking
    def tracked(self) -> list[str]:
        return self.runs.uids()

    def state(self, uid: str) -> TrackedRun | None:
        return self.runs.get(uid)

    def due(self) -> list[str]:
        return self.runs.due(
            self.clock(), self.settings.poll_interval, self.settings.status_interval
        )

    def phase_counts(self) -> dict[str, int]:
        return self.runs.phase_counts()

    def forget(self, body: Mapping[str, Any]) -> None:
        self.runs.drop(run_location(body).uid, None)

    # ------------------------------------------------------------------ handlers
    def admit(self, body: Mapping[str, Any]) -> None:
        """On create and on resume: check what needs no data, track, start the first pass."""
        ref = run_location(body)
        generation = (body.get("metadata") or {}).get("generation")
        status = dict(body.get("status") or {})
        # A run its budget ended, the budget since raised, goes on (kube/accounting.py).
        reopened = reopened_status(body, self.acts.now()) if is_terminal(status) else None
        if reopened is not None:
            status = self.acts.write(ref, status, reopened)
            self.acts.event(ref, "Normal", "BudgetRaised", "the run goes on from its folds")
        if is_terminal(status):
            self.acts.restamp(ref, status, generation)
            self.runs.set_phase(ref.uid, str(status.get("phase") or "Failed"))
            return
        if self.state(ref.uid) is not None:
            self.spec_changed(body)
            return
        spec, problems = accepted_spec(body, self.settings)
        if spec is None:
            self.acts.invalid(ref, status, generation, problems)
            self.runs.set_phase(ref.uid, "Failed")
            return
        uri = spec.storage.uri or self.settings.storage_uri
        assert uri is not None
        store = self.stores.open(
            uri, spec.storage.endpoint or self.settings.s3_endpoint, spec.storage.region
        )
        run = TrackedRun(ref, spec, store, generation, status)
        try:
            plan = stored_plan(store, ref)
            if plan is None and not store.exists(ref.artifact(SPEC_OBJECT)):
                store.put(ref.artifact(SPEC_OBJECT), spec.model_dump_json(by_alias=True).encode())
        except StoreError as exc:
            raise RetryLater(f"the results store is unavailable: {exc}") from exc
        if plan is None:
            run.status = self.acts.write(
                ref, status, pending_status(status, generation, self.acts.now(), "planning folds")
            )
        else:
            run.attach(plan)
            if plan.spec_digest != spec.digest():
                self.acts.event(ref, "Warning", "SpecChangeIgnored", _IGNORED)
        self.runs.add(run)
        self.reconcile(ref.uid)

    def spec_changed(self, body: Mapping[str, Any]) -> None:
        """suspend, maxConcurrentJobs or budget changed (the rest is immutable): act at once."""
        ref = run_location(body)
        run = self.state(ref.uid)
        generation = (body.get("metadata") or {}).get("generation")
        if run is None:
            status = dict(body.get("status") or {})
            if is_terminal(status) and reopened_status(body, self.acts.now()) is None:
                self.acts.restamp(ref, status, generation)
            else:
                self.admit(body)
            return
        try:
            spec = parse_spec(body.get("spec") or {})
        except ManifestError:
            return
        with run.lock:
            run.generation = generation
            execution = run.spec.execution.model_copy(
                update={
                    "max_concurrent_jobs": spec.execution.max_concurrent_jobs,
                    "budget": spec.execution.budget,  # read by every pass (acts.budget)
                }
            )
            run.spec = run.spec.model_copy(update={"suspend": spec.suspend, "execution": execution})
            run.clocks.patch = run.clocks.full = float("-inf")  # write the new generation now
        if run.plan is not None and spec.digest() != run.plan.spec_digest:
            self.acts.event(ref, "Warning", "SpecChangeIgnored", _IGNORED)
        self.reconcile(ref.uid)

    def delete_results(self, body: Mapping[str, Any]) -> None:
        """The run is being deleted with spec.storage.deleteOnDelete: remove its objects."""
        ref = run_location(body)
        self.forget(body)
        try:
            spec = parse_spec(body.get("spec") or {})
        except ManifestError:
            return
        uri = spec.storage.uri or self.settings.storage_uri
        if not spec.storage.delete_on_delete or not uri:
            return
        store = self.stores.open(
            uri, spec.storage.endpoint or self.settings.s3_endpoint, spec.storage.region
        )
        try:
            removed = store.delete_prefix(ref.prefix)
        except StoreError as exc:
            raise RetryLater(f"cannot delete the results: {exc}") from exc
        log.info("deleted %d objects of %s/%s", removed, ref.namespace, ref.name)

    # ------------------------------------------------------------------ the loop
    def reconcile(self, uid: str) -> None:
        run = self.state(uid)
        if run is None:
            return
        started = self.clock()
        ref = run.ref

        def notice(message: str) -> None:
            self.acts.event(ref, "Warning", "StoreUnreachable", message)

        try:
            with run.lock, retry_notices(notice):
                if not run.finished:
                    self._pass(run)
        except StoreError as exc:
            self.telemetry.reconcile_errors.labels(ref.namespace).inc()
            log.warning("%s/%s: %s; trying again next interval", ref.namespace, ref.name, exc)
            self.acts.event(ref, "Warning", "StoreUnreachable", f"{exc}; trying again")
        except RunGone:
            log.info("%s/%s is gone; no longer tracked", ref.namespace, ref.name)
            self.runs.drop(uid, None)
        except Exception:
            self.telemetry.reconcile_errors.labels(ref.namespace).inc()
            log.exception("reconciling %s/%s failed; trying again", ref.namespace, ref.name)
        finally:
            self.telemetry.reconcile_seconds.observe(self.clock() - started)

    def _pass(self, run: TrackedRun) -> None:
        """One pass: list → decide → act → write status, for the step the run is in."""
        now = self.clock()
        run.clocks.reconcile = now
        jobs = self._list_jobs(run)
        trainers = [j for j in jobs if j.step == STEP_TRAIN]
        newly = {j.name for j in jobs if j.finished} - run.told.finished_jobs
        full = (
            run.plan is None
            or bool(newly)
            or now - run.clocks.full >= self.settings.status_interval
        )
        queued = bool(run.spec.execution.queue_name)
        sooner = disruption.pods_due(trainers, queued)  # a Job between pods: disrupted?
        pods = self._list_pods(run) if full or sooner else []
        if run.plan is None:
            self.stages.planning(run, _step(jobs, STEP_PLAN), pods)
            if run.plan is None:
                return
            full, pods = True, self._list_pods(run)
        plan, results = run.plan, run.results
        assert plan is not None and results is not None
        if full:  # after listing the Jobs: a Job seen finished has its results stored
            self.acts.collect(run, results.refresh(self._reads))
            self.acts.account(run, plan, pods)  # the pod ledger, before the budget reads it
            run.told.finished_jobs |= newly
            run.clocks.full = now
        if probe_done(plan, results.tally):
            self._size(run, plan, trainers)
            plan = run.plan
        if full:  # OOM kills: raise the memory, split the batch or fail the fold (oom.py)
            plan = self.acts.remedy_oom(run, plan, trainers, pods)
        # Kueue (kube/kueue.py): a queued run reads its Workloads every pass.
        admission = kueue.read_admission(
            plan.spec.execution.queue_name,
            trainers,
            lambda: self.kube.list_workloads(run.ref.namespace),
        )
        decision = self._decide(run, plan, results.tally, trainers, pods, admission)
        self.acts.apply(run, plan, decision)
        if full or sooner:  # a disrupted batch: a new Job now, not after a backoff
            self.acts.resubmit_disrupted(run, plan, trainers, pods, decision.halted is not None)
        if full:  # preemptions counted, failures told, before the progress that shows them
            self.acts.pods(run, plan.spec, pods, admission)
        progress = progress_of(
            plan,
            results.tally,
            trainers,
            pods,
            decision,
            run.suspend,
            preempted_seen=run.told.preempted_pods,
            admission=admission,
        )
        run.waiting = progress.batches_waiting or disruption.watching(trainers, queued)
        if not full:
            return
        if progress.done or run.budget_stop:
            self.stages.finishing(run, plan, progress, jobs, pods)
        else:
            self.stages.write_progress(run, plan, progress)

    def _decide(
        self,
        run: TrackedRun,
        plan: Plan,
        tally: Tally,
        trainers: list[ObservedJob],
        pods: list[ObservedPod],
        admission: kueue.Admission | None,
    ) -> Decision:
        """Which trainer Jobs to create, resubmit, give up, suspend or resume — and whether
        to stop creating them (told once, in a Halted Event). A queued run keeps one Job
        until Kueue shows its queue exists (kueue.job_window)."""
        if run.stop is None and (stop := operator_stop(tally)) is not None:
            run.stop = stop
            self.acts.event(run.ref, "Warning", "Halted", stop.message)
        decision = decide(
            len(plan.batches),
            {b for b, folds in enumerate(plan.batches) if tally.has(folds)},
            trainers,
            Limits(
                kueue.job_window(run.max_concurrent_jobs, admission),
                self.settings.max_resubmits,
                self.settings.max_preemption_resubmits,
            ),
            suspended=run.suspend,
            queue_managed=bool(plan.spec.execution.queue_name),
            halted_by=run.stop.message if run.stop else None,
            remedied=remedied(plan.oom, trainers),  # OOM-killed, remedied: not a failure
        )
        if run.stop is None and (stop := trainer_stop(decision, pods)) is not None:
            run.stop = stop
            self.acts.event(run.ref, "Warning", "Halted", stop.message)
        return self.acts.budget(run, plan, decision)  # spec.execution.budget (accounting.py)

    def _size(self, run: TrackedRun, plan: Plan, trainers: list[ObservedJob]) -> None:
        """foldsPerJob auto: the probe is done; cut the rest from what it measured."""
        assert run.results is not None
        if run.clocks.probe_results is None:
            run.clocks.probe_results = self.clock()
        waited = self.clock() - run.clocks.probe_results
        batching = sized_after_probe(
            plan, run.results.tally, trainers, run.max_concurrent_jobs, waited
        )
        if batching is None:
            return
        sized = plan.sized(batching)
        run.store.put(plan.location.plan, sized.to_json())
        run.plan = sized
        log.info("%s/%s: %s", run.ref.namespace, run.ref.name, batching.message)
        self.acts.event(run.ref, "Normal", "Batched", batching.message)

    # ------------------------------------------------------------------ listing
    def _list_jobs(self, run: TrackedRun) -> list[ObservedJob]:
        raw = self.kube.list_jobs(run.ref.namespace, selector(run.ref))
        return [j for j in (observe_job(r) for r in raw) if j is not None]

    def _list_pods(self, run: TrackedRun) -> list[ObservedPod]:
        raw = self.kube.list_pods(run.ref.namespace, selector(run.ref))
        return [p for p in (observe_pod(r) for r in raw) if p is not None]


_IGNORED = (
    "only spec.suspend, spec.execution.maxConcurrentJobs and spec.execution.budget may change; "
    "the run goes on with the spec it was planned with"
)


def _step(jobs: list[ObservedJob], step: str) -> ObservedJob | None:
    return next((j for j in jobs if j.step == step), None)
