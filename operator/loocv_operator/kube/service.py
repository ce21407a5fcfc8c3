"""The run service: everything the operator does for a LOOCVRun, behind kopf's back.

``admit`` validates a run (an invalid one is marked Invalid with the field named, never
retried in a loop), plans it once (plan.json is reused by a restarted operator) and starts
tracking it. ``reconcile`` is called for every tracked run once per status interval (and at
once on create and on a spec change): it lists the run's Jobs and pods with a server-side
label selector, reads the fold results that are new in the store, lets ``reconcile.decide``
choose what to create, resubmit, give up, suspend or resume, does it, and writes the status
at most once per interval (conditions that change are written at once). When every fold
has a result it writes the report, the final conditions and Events, and stops tracking.

Every run has a lock: the periodic reconcile and a handler never work on a run at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..batching import ProbeTiming, size_from_probe
from ..compare.gate import combine, judge_run, record_baseline
from ..datasets import Dataset, load_dataset
from ..errors import InvalidInput, StoreError
from ..estimators import build_estimator
from ..folds import auto_folds_per_job
from ..gate import evaluate_gate, missing_text
from ..ledger import ResultsLedger
from ..metrics import Aggregator
from ..outcome import EARLY_STOP_FOLDS, error_shape
from ..plan import Plan, make_plan
from ..privacy import IdHasher, hasher_for
from ..report import write_report
from ..results import NOT_RUN_PATH, FoldError, FoldResult, SampleResult, to_python
from ..segments import OPERATOR_ATTEMPT, SegmentWriter
from ..spec import LOOCVRunSpec, ManifestError, parse_spec
from ..store import RunLocation, Store, retry_notices
from ..usage import Usage
from .accounting import RunAccounting, budget_of, reopened_status
from .events import build_event
from .jobs import (
    FINISHED_FAILED,
    FINISHED_SUCCEEDED,
    JobDefaults,
    JobOrder,
    ObservedJob,
    ObservedPod,
    RunRef,
    build_job,
    observe_job,
    observe_pod,
    selector,
)
from .kubeapi import KubeGateway, RunGone
from .oom import pod_failure_events
from .reconcile import Decision, GiveUp, Limits, decide, latest_attempts
from .settings import Settings
from .status import (
    FoldCounts,
    JobCounts,
    RunView,
    build_status,
    invalid_status,
    is_terminal,
    merge_patch,
    pending_status,
    phase_of,
)
from .stores import StoreCache
from .telemetry import Telemetry
from .usage import BUDGET_REASON

log = logging.getLogger("loocv.operator")
PROBE_COMPLETION_GRACE = 60.0  # seconds to wait for the probe Job's completionTime


class RetryLater(Exception):
    """A transient problem (the store is down): try the handler again later."""

    def __init__(self, message: str, delay: float = 30.0) -> None:
        super().__init__(message)
        self.delay = delay


@dataclass
class RunState:
    """What the operator keeps in memory about one run it tracks."""

    ref: RunRef
    plan: Plan
    store: Store
    plan_uri: str
    generation: int | None
    suspend: bool
    max_concurrent_jobs: int
    status: dict[str, Any]
    results: dict[int, FoldResult] = field(default_factory=dict)
    aggregator: Aggregator | None = None
    summary: dict[str, Any] | None = None
    summary_stale: bool = True
    preempted_pods: set[str] = field(default_factory=set)
    failed_pods: set[str] = field(default_factory=set)  # failures already told in an Event
    given_up: set[int] = field(default_factory=set)
    halted: str | None = None
    halt_reason: str = "TrainerInvalidInput"  # or FoldsFailAlike: the Failed condition's reason
    last_patch: float = float("-inf")
    finished: bool = False
    dataset: Dataset | None = None
    ledger: ResultsLedger | None = None  # the run's segments read so far
    probe_results_at: float | None = None  # when every probe fold had a result
    last_reconcile: float = float("-inf")
    last_full: float = float("-inf")  # the last pass that read the store and the pods
    finished_jobs: set[str] = field(default_factory=set)  # seen finished by a full pass
    waiting: bool = True  # batches wait for a Job slot (or the probe): poll often
    accounting: RunAccounting | None = None  # usage and budget (kube/accounting.py)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _meta(body: Mapping[str, Any]) -> Mapping[str, Any]:
    return body.get("metadata") or {}


def run_ref(body: Mapping[str, Any]) -> RunRef:
    meta = _meta(body)
    return RunRef(
        str(meta.get("name")), str(meta.get("namespace") or "default"), str(meta.get("uid") or "")
    )


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
        self.now = now
        self.defaults = JobDefaults(
            image=settings.trainer_image,
            allowlist_extra=settings.allowlist_extra,
            s3_endpoint=settings.s3_endpoint,
            storage_secret=settings.storage_secret,
            default_requests=(
                ("cpu", settings.trainer_cpu_request),
                ("memory", settings.trainer_memory_request),
            ),
            default_limits=(("memory", settings.trainer_memory_limit),),
        )
        self._runs: dict[str, RunState] = {}
        self._runs_lock = threading.Lock()
        self._phases: dict[str, str] = {}
        # One pool for store reads, shared by every run: collecting 10,000 fold results
        # one GET at a time took 16 s of a reconcile (bench part 4).
        self._reads = ThreadPoolExecutor(
            settings.store_concurrency, thread_name_prefix="loocv-store"
        )

    def close(self) -> None:
        self._reads.shutdown(wait=False, cancel_futures=True)

    # ---------------------------------------------------------------- tracking
    def tracked(self) -> list[str]:
        with self._runs_lock:
            return list(self._runs)

    def due(self) -> list[str]:
        """Runs to reconcile now: every poll interval while batches wait for a Job slot,
        else every status interval."""
        now = self.clock()
        with self._runs_lock:
            states = list(self._runs.values())
        return [
            s.ref.uid
            for s in states
            if now - s.last_reconcile
            >= (self.settings.poll_interval if s.waiting else self.settings.status_interval)
        ]

    def state(self, uid: str) -> RunState | None:
        with self._runs_lock:
            return self._runs.get(uid)

    def _track(self, state: RunState) -> None:
        with self._runs_lock:
            self._runs[state.ref.uid] = state

    def forget(self, body: Mapping[str, Any]) -> None:
        uid = run_ref(body).uid
        with self._runs_lock:
            self._runs.pop(uid, None)
            self._phases.pop(uid, None)

    def phase_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._runs_lock:
            for phase in self._phases.values():
                counts[phase] = counts.get(phase, 0) + 1
        return counts

    # ---------------------------------------------------------------- admission
    def admit(self, body: Mapping[str, Any]) -> None:
        """On create and on resume: validate, plan (once), track, start the first Jobs."""
        ref = run_ref(body)
        generation = _meta(body).get("generation")
        status = dict(body.get("status") or {})
        # A run stopped by its budget, now raised, goes on (kube/accounting.py).
        reopened = reopened_status(body, self.now()) if is_terminal(status) else None
        if reopened is not None:
            status = self._write_status(ref, status, reopened)
            self._event(ref, "Normal", "BudgetRaised", "the run goes on from the folds it kept")
        if is_terminal(status):
            self._restamp(ref, status, generation)
            self._phases[ref.uid] = str(status.get("phase") or "Failed")
            return
        existing = self.state(ref.uid)
        if existing is not None:
            self.spec_changed(body)
            return
        try:
            spec = parse_spec(body.get("spec") or {})
        except ManifestError as exc:
            self._invalid(ref, status, generation, exc.problems)
            return
        problems = self._cluster_problems(spec)
        if problems:
            self._invalid(ref, status, generation, problems)
            return
        try:
            estimator = build_estimator(spec.model, self.settings.allowlist, spec.execution.seed)
            state = self._prepare(ref, spec, estimator, status, generation)
        except InvalidInput as exc:
            self._invalid(ref, status, generation, [(exc.where, exc.message)])
            return
        except StoreError as exc:
            raise RetryLater(f"the results store is unavailable: {exc}") from exc
        if state is None:
            return
        self._track(state)
        self._event(
            ref,
            "Normal",
            "Planned",
            _planned_message(state.plan) + f"; plan at {state.plan_uri}",
        )
        self.reconcile(ref.uid)

    def _cluster_problems(self, spec: LOOCVRunSpec) -> list[tuple[str, str]]:
        """What a local run accepts but a cluster cannot do."""
        problems: list[tuple[str, str]] = []
        uri = spec.storage.uri or self.settings.storage_uri
        if not uri:
            problems.append(
                (
                    "spec.storage.uri",
                    "no results store: set it, or give the operator a default (--storage-uri)",
                )
            )
        elif not uri.startswith("s3://") and not self.settings.allow_local_store:
            problems.append(
                (
                    "spec.storage.uri",
                    f"{uri!r} is not s3://…: trainer pods and the operator must share the store",
                )
            )
        if spec.strategy.repeats is not None:
            problems.append(
                ("spec.strategy.repeats", "runs locally only for now: loocv run FILE --local")
            )
        if spec.privacy.hash_sample_ids and spec.privacy.salt_secret_ref is None:
            problems.append(
                (
                    "spec.privacy.saltSecretRef",
                    "required when hashSampleIds is "
                    "true: the salt reaches the pods only from a Secret",
                )
            )
        return problems

    def _open_store(self, spec: LOOCVRunSpec) -> Store:
        uri = spec.storage.uri or self.settings.storage_uri
        assert uri is not None
        endpoint = spec.storage.endpoint or self.settings.s3_endpoint
        return self.stores.open(uri, endpoint, spec.storage.region)

    def _prepare(
        self,
        ref: RunRef,
        spec: LOOCVRunSpec,
        estimator: Any,
        status: dict[str, Any],
        generation: int | None,
    ) -> RunState | None:
        store = self._open_store(spec)
        location = RunLocation(ref.namespace, ref.name, ref.uid)
        plan = self._stored_plan(store, location)
        dataset: Dataset | None = None
        if plan is None:
            status = self._write_status(
                ref, status, pending_status(status, generation, self.now(), "planning folds")
            )
            dataset = load_dataset(spec.dataset, spec.storage)
            plan = make_plan(location, spec, dataset, estimator, executor="cluster")
            if not store.exists(location.plan):
                store.put(location.plan, plan.to_json())
        elif plan.spec_digest != spec.digest():
            self._event(
                ref,
                "Warning",
                "SpecChangeIgnored",
                "the spec differs from the one this run was planned with; the run "
                "goes on with the planned spec (create a new LOOCVRun to run another)",
            )
        state = RunState(
            ref=ref,
            plan=plan,
            store=store,
            plan_uri=store.uri(location.plan),
            generation=generation,
            suspend=spec.suspend,
            max_concurrent_jobs=spec.execution.max_concurrent_jobs,
            status=status,
            aggregator=Aggregator(plan.task, plan.classes, plan.n_folds),
            dataset=dataset,
        )
        self._accounting(state).budget = spec.execution.budget  # the current, mutable one
        return state

    @staticmethod
    def _stored_plan(store: Store, location: RunLocation) -> Plan | None:
        try:
            raw = store.get(location.plan)
        except KeyError:
            return None
        try:
            return Plan.from_json(raw, store.uri(location.plan))
        except InvalidInput:
            log.warning("ignoring an unreadable plan at %s", store.uri(location.plan))
            return None

    def _invalid(
        self,
        ref: RunRef,
        status: dict[str, Any],
        generation: int | None,
        problems: list[tuple[str, str]],
    ) -> None:
        new = invalid_status(status, generation, self.now(), problems)
        self._write_status(ref, status, new)
        self._phases[ref.uid] = "Failed"
        message = "; ".join(f"{w}: {m}" for w, m in problems)
        self._event(ref, "Warning", "Invalid", message)
        log.warning("%s/%s is invalid: %s", ref.namespace, ref.name, message)

    def _restamp(self, ref: RunRef, status: dict[str, Any], generation: int | None) -> None:
        """A finished run whose spec changed (suspend, concurrency): same conditions, now
        for the new generation, so `kubectl wait` keeps trusting them."""
        if generation is None or status.get("observedGeneration") == generation:
            return
        new = dict(status)
        new["observedGeneration"] = generation
        new["conditions"] = [
            {**c, "observedGeneration": generation} for c in status.get("conditions") or []
        ]
        self._write_status(ref, status, new)

    # ---------------------------------------------------------------- updates
    def spec_changed(self, body: Mapping[str, Any]) -> None:
        """suspend or maxConcurrentJobs changed (the rest is immutable): act at once."""
        ref = run_ref(body)
        state = self.state(ref.uid)
        generation = _meta(body).get("generation")
        if state is None:
            status = dict(body.get("status") or {})
            # admit() reopens a run stopped by its budget when the budget was raised
            if is_terminal(status) and reopened_status(body, self.now()) is None:
                self._restamp(ref, status, generation)
                return
            self.admit(body)
            return
        spec = body.get("spec") or {}
        with state.lock:
            state.generation = generation
            state.suspend = bool(spec.get("suspend", False))
            execution = spec.get("execution") or {}
            concurrency = execution.get("maxConcurrentJobs")
            if isinstance(concurrency, int) and concurrency >= 1:
                state.max_concurrent_jobs = concurrency
            self._accounting(state).budget = budget_of(spec)  # budget is mutable too
            state.last_patch = float("-inf")  # the new generation is written at once
            state.last_full = float("-inf")
        try:
            if parse_spec(spec).digest() != state.plan.spec_digest:
                self._event(
                    ref,
                    "Warning",
                    "SpecChangeIgnored",
                    "only spec.suspend, spec.execution.maxConcurrentJobs and budget may change; "
                    "the run goes on with the spec it was planned with",
                )
        except ManifestError:
            pass
        self.reconcile(ref.uid)

    def delete_results(self, body: Mapping[str, Any]) -> None:
        """The run is being deleted with spec.storage.deleteOnDelete: remove its objects."""
        ref = run_ref(body)
        self.forget(body)
        try:
            spec = parse_spec(body.get("spec") or {})
        except ManifestError:
            return
        if not spec.storage.delete_on_delete or not (spec.storage.uri or self.settings.storage_uri):
            return
        store = self._open_store(spec)
        location = RunLocation(ref.namespace, ref.name, ref.uid)
        try:
            removed = store.delete_prefix(location.prefix)
        except StoreError as exc:
            raise RetryLater(f"cannot delete the results: {exc}") from exc
        log.info("deleted %d objects of %s/%s", removed, ref.namespace, ref.name)

    # ---------------------------------------------------------------- reconcile
    def reconcile(self, uid: str) -> None:
        state = self.state(uid)
        if state is None:
            return
        started = self.clock()
        ns = state.ref.namespace
        ref = state.ref

        def notice(message: str) -> None:
            self._event(ref, "Warning", "StoreUnreachable", message)

        try:
            with state.lock, retry_notices(notice):
                if state.finished:
                    return
                self._reconcile(state)
        except StoreError as exc:
            self.telemetry.reconcile_errors.labels(ns).inc()
            log.warning("%s/%s: %s; trying again next interval", ns, ref.name, exc)
            self._event(ref, "Warning", "StoreUnreachable", f"{exc}; trying again")
        except RunGone:
            log.info("%s/%s is gone; no longer tracked", ns, state.ref.name)
            with self._runs_lock:
                self._runs.pop(uid, None)
                self._phases.pop(uid, None)
        except Exception:
            self.telemetry.reconcile_errors.labels(ns).inc()
            log.exception(
                "reconciling %s/%s failed; trying again next interval", ns, state.ref.name
            )
        finally:
            self.telemetry.reconcile_seconds.observe(self.clock() - started)

    def _reconcile(self, state: RunState) -> None:
        """A full pass reads the store and the pods and may patch the status; a quick pass
        (while batches wait for a slot) lists only the Jobs, to fill a slot within seconds
        of a Job finishing. A Job newly seen finished always makes the pass full: its
        results must be read before deciding whether its batch is done."""
        ref = state.ref
        sel = selector(ref)
        now = self.clock()
        state.last_reconcile = now
        jobs = [
            j
            for j in (observe_job(raw) for raw in self.kube.list_jobs(ref.namespace, sel))
            if j is not None
        ]
        newly_finished = {j.name for j in jobs if j.finished} - state.finished_jobs
        full = bool(newly_finished) or now - state.last_full >= self.settings.status_interval
        pods: list[ObservedPod] = []
        if full:
            raw_pods = self.kube.list_pods(ref.namespace, sel)
            pods = [p for p in (observe_pod(raw) for raw in raw_pods) if p is not None]
            # usage: every pod counted once by uid, persisted as pods.json (kube/accounting.py)
            self._accounting(state).observe(raw_pods, self.now().timestamp())
            self._collect(state)  # after listing Jobs: a Job seen finished has its results
            state.finished_jobs |= newly_finished
            state.last_full = now
        if state.plan.batching.probing:
            self._size_after_probe(state, jobs)
        done = self._done_batches(state)
        spec = state.plan.spec
        alike = None if state.halted else failing_alike(state.results, state.plan.n_folds)
        decision = decide(
            len(state.plan.batches),
            done,
            jobs,
            Limits(
                max_concurrent_jobs=state.max_concurrent_jobs,
                max_resubmits=self.settings.max_resubmits,
                max_preemption_resubmits=self.settings.max_preemption_resubmits,
            ),
            suspended=state.suspend,
            queue_managed=bool(spec.execution.queue_name),
            halted_by=state.halted or alike,
        )
        # spec.execution.budget: create only the Jobs it leaves room for (kube/accounting.py)
        decision = self._accounting(state).within(decision, state.plan, self.now().timestamp())
        if decision.halted and not state.halted:
            state.halted = decision.halted + _trainer_said(pods, decision.halted_batch)
            if decision.halted == alike:
                state.halt_reason = "FoldsFailAlike"
            self._event(ref, "Warning", "Halted", state.halted)
        for give_up in decision.give_up:
            self._give_up(state, give_up)
        for order in decision.create:
            self._create(state, order)
        for name in decision.suspend:
            self.kube.set_job_suspend(ref.namespace, name, True)
        for name in decision.resume:
            self.kube.set_job_suspend(ref.namespace, name, False)
        state.waiting = not state.suspend and _batches_wait(state, jobs, done, decision)
        if not full:
            return
        self._count_preemptions(state, pods)
        pod_failure_events(
            pods,
            state.failed_pods,
            self._memory_limit(state),
            lambda type_, reason, message: self._event(ref, type_, reason, message),
        )
        # ... or the budget holds Jobs back and none is running: the run ends Failed
        if len(state.results) >= state.plan.n_folds or self._accounting(state).stops(decision):
            self._finish(state, jobs, decision)
        else:
            self._progress(state, jobs, pods, decision)

    def _collect(self, state: RunState) -> None:
        """Read the segments that appeared since the last pass (each once, with parallel
        GETs); a fold whose counting segment changed (an earlier attempt's last flush landing
        late) is replaced, so every reader counts the same result."""
        if state.ledger is None:
            state.ledger = ResultsLedger(state.store, state.plan.location)
        ns = state.ref.namespace
        fresh = state.ledger.refresh(self._reads)
        for result in fresh:
            self._record(state, result)
            self.telemetry.fold_seconds.labels(ns).observe(
                result.fit_seconds + result.predict_seconds
            )
        if fresh:
            log.debug("%s/%s: %d new fold results", ns, state.ref.name, len(fresh))

    def _record(self, state: RunState, result: FoldResult) -> None:
        if not 0 <= result.index < state.plan.n_folds:
            return
        replaced = result.index in state.results
        state.results[result.index] = result
        assert state.aggregator is not None
        state.aggregator.add(result)
        state.summary_stale = True
        if replaced:
            return
        ns = state.ref.namespace
        self.telemetry.folds_completed.labels(ns).inc()
        if result.error is not None:
            self.telemetry.folds_failed.labels(ns).inc()

    def _size_after_probe(self, state: RunState, jobs: list[ObservedJob]) -> None:
        """Once the probe batch is done, cut the waiting folds into measured batches and
        write the plan again (the batches already planned keep their numbers)."""
        plan = state.plan
        probe = [f for batch in plan.batches for f in batch]
        if any(f not in state.results for f in probe):
            return
        attempts = latest_attempts(j for j in jobs if j.batch < len(plan.batches))
        walls = [
            j.wall_seconds
            for j in attempts.values()
            if j.finished == FINISHED_SUCCEEDED and j.wall_seconds is not None
        ]
        if any(j.finished is None for j in attempts.values()):
            # Results are in, the pod is exiting: wait (briefly) for the completion time.
            if state.probe_results_at is None:
                state.probe_results_at = self.clock()
            if self.clock() - state.probe_results_at < PROBE_COMPLETION_GRACE:
                return
        pending = len(plan.pending)
        timing = ProbeTiming(
            fold_seconds=[
                state.results[f].fit_seconds + state.results[f].predict_seconds
                for f in probe
                if state.results[f].error is None
            ],
            wall_seconds=max(walls, default=None),
        )
        decision = size_from_probe(
            plan.batching,
            timing,
            pending,
            state.max_concurrent_jobs,
            fallback_size=auto_folds_per_job(pending, state.max_concurrent_jobs),
        )
        sized = plan.sized(decision)
        state.store.put(plan.location.plan, sized.to_json())
        state.plan = sized
        state.probe_results_at = None
        log.info("%s/%s: %s", state.ref.namespace, state.ref.name, decision.message)
        self._event(state.ref, "Normal", "Batched", decision.message)

    @staticmethod
    def _done_batches(state: RunState) -> set[int]:
        return {
            b
            for b, folds in enumerate(state.plan.batches)
            if all(f in state.results for f in folds)
        }

    def _create(self, state: RunState, order: JobOrder) -> None:
        ref = state.ref
        folds = tuple(state.plan.batches[order.batch])
        full = JobOrder(
            order.batch, order.attempt, order.failures_before, order.preemptions_before, folds
        )
        body = build_job(
            ref, state.plan.spec, state.plan_uri, full, self.defaults, suspend=state.suspend
        )
        created = self.kube.create_job(ref.namespace, body)
        if created:
            self.telemetry.jobs_created.labels(ref.namespace).inc()
            if order.attempt > 0:
                self.telemetry.job_retries.labels(ref.namespace).inc()
                self._event(
                    ref,
                    "Normal",
                    "Resubmitted",
                    f"batch {order.batch} resubmitted as attempt {order.attempt}",
                )

    def _give_up(self, state: RunState, give_up: GiveUp) -> None:
        """Record every fold of the batch that has no result as failed, in the store."""
        plan = state.plan
        missing = [f for f in plan.batches[give_up.batch] if f not in state.results]
        if not missing:
            return
        samples = self._samples_for(state)
        error = FoldError(give_up.reason, give_up.message[:2000])
        records = [
            FoldResult(
                index=index,
                samples=samples(plan.folds[index].test),
                error=error,
                path=NOT_RUN_PATH,
                trainer_version="operator",
            )
            for index in missing
        ]
        # One segment that sorts after every trainer's (attempt 999): whatever a trainer did
        # store for these folds still counts first.
        with SegmentWriter(
            state.store, plan.location, give_up.batch, OPERATOR_ATTEMPT, max_folds=len(records)
        ) as writer:
            for record in records:
                writer.add(record)
        for record in records:
            self._record(state, record)
        state.given_up.add(give_up.batch)
        self.telemetry.batches_given_up.labels(state.ref.namespace).inc()
        self._event(
            state.ref,
            "Warning",
            "BatchGivenUp",
            f"batch {give_up.batch} ({len(missing)} folds) recorded as failed: "
            f"{give_up.reason}: {give_up.message}",
        )

    def _samples_for(self, state: RunState) -> Callable[[tuple[int, ...]], list[SampleResult]]:
        """Held-out rows with their ids and true labels, for folds that never ran."""
        plan = state.plan
        if state.dataset is None:
            try:
                state.dataset = load_dataset(plan.spec.dataset, plan.spec.storage)
            except (InvalidInput, StoreError) as exc:
                log.warning("cannot load the data to describe failed folds: %s", exc)
        try:
            hasher = hasher_for(plan.spec.privacy)
        except InvalidInput:  # the salt lives in the pods' Secret, not in the operator
            hasher = IdHasher(None)
            hidden = True
        else:
            hidden = False
        dataset = state.dataset

        def samples(rows: tuple[int, ...]) -> list[SampleResult]:
            if dataset is None:
                return [SampleResult(row=r, id="", y_true="") for r in rows]
            return [
                SampleResult(
                    row=r,
                    id="" if hidden else hasher(dataset.ids[r]),
                    y_true=to_python(dataset.y[r]),
                )
                for r in rows
            ]

        return samples

    def _memory_limit(self, state: RunState) -> str | None:
        """The memory limit the run's trainer pods get (the manifest's, else the default)."""
        resources = state.plan.spec.execution.resources
        named = {**(resources.requests or {}), **(resources.limits or {})}
        if "memory" in (resources.limits or {}):
            return str((resources.limits or {})["memory"])
        if "memory" in named:
            return None
        return self.settings.trainer_memory_limit or None

    def _count_preemptions(self, state: RunState, pods: list[ObservedPod]) -> None:
        for pod in pods:
            if pod.disrupted and pod.name not in state.preempted_pods:
                state.preempted_pods.add(pod.name)
                self.telemetry.job_preemptions.labels(state.ref.namespace).inc()

    # ---------------------------------------------------------------- usage
    def _accounting(self, state: RunState) -> RunAccounting:
        """The run's usage and budget bookkeeping (kube/accounting.py), made on first use."""
        if state.accounting is None:
            state.accounting = RunAccounting(state.store, state.plan, prices=self.settings.prices)
            shape = build_job(
                state.ref, state.plan.spec, state.plan_uri, JobOrder(0), self.defaults
            )
            state.accounting.set_job_shape(shape)  # the requests every trainer pod makes
        return state.accounting

    def _usage(self, state: RunState, job_counts: JobCounts) -> Usage:
        return self._accounting(state).usage(
            state.results.values(), job_counts.retried, job_counts.preempted, self.now().timestamp()
        )

    # ---------------------------------------------------------------- status
    def _summary(self, state: RunState) -> dict[str, Any] | None:
        if state.aggregator is None or not state.results:
            return None
        if state.summary_stale or state.summary is None:
            state.summary = state.aggregator.summary()
            state.summary_stale = False
        return state.summary

    def _counts(
        self, state: RunState, jobs: list[ObservedJob], decision: Decision, finished: bool = False
    ) -> tuple[FoldCounts, JobCounts]:
        results = state.results
        not_run = sum(1 for r in results.values() if r.path == NOT_RUN_PATH)
        failed = sum(1 for r in results.values() if r.error is not None) - not_run
        active_batches = {j.batch for j in jobs if j.finished is None}
        active_batches |= {o.batch for o in decision.create}
        running = sum(1 for b in active_batches for f in state.plan.batches[b] if f not in results)
        before = state.status.get("jobs") or {}
        computed = len(results) - not_run
        folds = FoldCounts(
            total=state.plan.n_folds,
            done=computed,
            succeeded=computed - failed,
            failed=failed,
            running=running,
            missing=state.plan.n_folds - computed if finished else 0,
        )
        job_counts = JobCounts(
            total=len(jobs) + len(decision.create),
            batches=len(state.plan.batches),
            active=decision.active,
            succeeded=sum(1 for j in jobs if j.finished == FINISHED_SUCCEEDED),
            failed=sum(1 for j in jobs if j.finished == FINISHED_FAILED),
            retried=max(int(before.get("retried") or 0), decision.retried),
            preempted=max(
                int(before.get("preempted") or 0),
                decision.preempted + len(state.preempted_pods),
            ),
            given_up=max(int(before.get("givenUp") or 0), len(state.given_up)),
        )
        return folds, job_counts

    def _progress(
        self,
        state: RunState,
        jobs: list[ObservedJob],
        pods: list[ObservedPod],
        decision: Decision,
    ) -> None:
        folds, job_counts = self._counts(state, jobs, decision)
        waiting = next((p.waiting for p in pods if p.waiting), None)
        unschedulable = next((p.unschedulable for p in pods if p.unschedulable), None)
        view = RunView(
            generation=state.generation,
            folds=folds,
            jobs=job_counts,
            summary=self._summary(state),
            results_uri=state.store.uri(state.plan.location.prefix),
            suspended=state.suspend,
            waiting=waiting,
            unschedulable=unschedulable,
            batching=state.plan.batching.to_json(),
            usage=self._usage(state, job_counts).to_json(),  # kube/accounting.py
            budget_exceeded=self._accounting(state).blocked,
        )
        new = build_status(state.status, view, self.now())
        self._phases[state.ref.uid] = phase_of(view)
        if new == state.status:
            return
        important = _conditions_key(new) != _conditions_key(state.status) or new.get(
            "phase"
        ) != state.status.get("phase")
        if not important and self.clock() - state.last_patch < self.settings.status_interval:
            return  # the next interval writes it
        state.status = self._write_status(state.ref, state.status, new)
        state.last_patch = self.clock()

    def _observe_duration(self, namespace: str, status: Mapping[str, Any]) -> None:
        """Run duration for the dashboard: startTime to completionTime, as the status says."""
        try:
            fmt = "%Y-%m-%dT%H:%M:%SZ"
            took = datetime.strptime(status["completionTime"], fmt) - datetime.strptime(
                status["startTime"], fmt
            )
        except (KeyError, TypeError, ValueError):
            return
        self.telemetry.run_seconds.labels(namespace).observe(took.total_seconds())

    def _finish(self, state: RunState, jobs: list[ObservedJob], decision: Decision) -> None:
        plan = state.plan
        summary = state.aggregator.summary() if state.aggregator else {}
        state.summary, state.summary_stale = summary, False
        verdict = evaluate_gate(plan.spec.gate, summary)
        results = [state.results[i] for i in sorted(state.results)]
        endpoint = plan.spec.storage.endpoint or self.settings.s3_endpoint
        baseline = judge_run(state.store, plan, results, endpoint)
        if baseline is not None:
            verdict = combine(verdict, baseline)
        folds, job_counts = self._counts(state, jobs, decision, finished=True)
        usage = self._usage(state, job_counts)  # kube/accounting.py: also usage.json
        self._accounting(state).write(usage)
        write_report(state.store, plan, results, summary, verdict, usage=usage)
        if baseline is not None:
            record_baseline(state.store, plan.location.artifact("report.json"), baseline)
        stopped = self._accounting(state).stopped  # the run ended on its budget
        view = RunView(
            generation=state.generation,
            folds=folds,
            jobs=job_counts,
            summary=summary,
            results_uri=state.store.uri(plan.location.prefix),
            finished=True,
            verdict=verdict,
            halted=state.halted or stopped,
            halt_reason=state.halt_reason if state.halted else BUDGET_REASON,
            batching=state.plan.batching.to_json(),
            baseline=baseline.to_json() if baseline is not None else None,
            usage=usage.to_json(),
            budget_exceeded=stopped,
        )
        new = build_status(state.status, view, self.now())
        state.status = self._write_status(state.ref, state.status, new)
        state.last_patch = self.clock()
        state.finished = True
        self._observe_duration(state.ref.namespace, new)
        phase = phase_of(view)
        with self._runs_lock:
            self._runs.pop(state.ref.uid, None)
            self._phases[state.ref.uid] = phase
        ref = state.ref
        if phase == "Succeeded":
            self._event(
                ref,
                "Normal",
                "Completed",
                f"{folds.succeeded}/{folds.total} folds succeeded; report at "
                f"{state.store.uri(plan.location.artifact('report.html'))}",
            )
        else:
            self._event(ref, "Warning", "Failed", state.halted or stopped or "no fold succeeded")
        missing = missing_text(summary)
        if missing or folds.failed:
            detail = missing or f"{folds.failed} of {folds.total} folds failed"
            self._event(ref, "Warning", "ResultsIncomplete", detail)
        if verdict.evaluated:
            if verdict.passed:
                self._event(ref, "Normal", "GatePassed", "every gate threshold is met")
            else:
                self._event(ref, "Warning", "GateFailed", "; ".join(verdict.failures))

    def _write_status(
        self, ref: RunRef, previous: Mapping[str, Any], new: dict[str, Any]
    ) -> dict[str, Any]:
        self.kube.patch_run_status(ref.namespace, ref.name, merge_patch(previous, new))
        self.telemetry.status_patches.labels(ref.namespace).inc()
        return new

    def _event(self, ref: RunRef, type_: str, reason: str, message: str) -> None:
        try:
            self.kube.post_event(
                ref.namespace, build_event(ref, type_, reason, message, self.now())
            )
        except Exception as exc:  # an Event is best effort, never a reason to fail
            log.debug("could not post event %s for %s: %s", reason, ref.name, exc)


def _trainer_said(pods: list[ObservedPod], batch: int | None) -> str:
    """The failed trainer's own last words (its termination message), for the condition."""
    for pod in pods:
        if batch is not None and pod.batch == batch and pod.terminated and pod.terminated[2]:
            return f"; the trainer said: {pod.terminated[2].strip()[-600:]}"
    return ""


def failing_alike(results: Mapping[int, FoldResult], n_folds: int) -> str | None:
    """Why to stop creating Jobs when the first folds all failed with one error (a
    configuration only the folds reveal), else None: repeating it N times tells nothing."""
    computed = [r for r in results.values() if r.path != NOT_RUN_PATH]
    if len(computed) < EARLY_STOP_FOLDS or len(computed) >= n_folds:
        return None
    first = computed[0].error
    if first is None:
        return None
    shape = error_shape(first)
    if any(r.error is None or error_shape(r.error) != shape for r in computed):
        return None
    return (
        f"the first {len(computed)} folds all failed with the same error, so no more "
        f"Jobs are created: {first.type}: {first.message[:400]}"
    )


def _batches_wait(
    state: RunState, jobs: list[ObservedJob], done: set[int], decision: Decision
) -> bool:
    """Does any batch wait for a Job slot (or for the probe to size it)?"""
    if state.plan.batching.probing:
        return True
    latest = latest_attempts(jobs)
    running = {b for b, j in latest.items() if j.finished is None}
    running |= {o.batch for o in decision.create}
    return any(
        b not in done and b not in running and b not in state.given_up
        for b in range(len(state.plan.batches))
    )


def _planned_message(plan: Plan) -> str:
    if plan.batching.probing:
        return f"{plan.n_folds} folds; {plan.batching.message}"
    message = f"{plan.n_folds} folds in {len(plan.batches)} batches"
    return f"{message} ({plan.batching.message})" if plan.batching.message else message


def _conditions_key(status: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (str(c.get("type")), str(c.get("status")), str(c.get("reason")))
        for c in status.get("conditions") or []
    ]
