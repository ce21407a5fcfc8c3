"""What the service does to the world: create Jobs, record given-up batches, post Events,
count in the telemetry, write the status. Each act is small; deciding is elsewhere.

Per-Job admission belongs in ``apply`` (every Job created or resumed goes through it). OOM
remediation (``remedy_oom``) reads the pods of a full pass before the pass decides, and
writes what it did into plan.json (oomlog.py); so does the pod ledger (``account``), which
the budget (``budget``) then reads (kube/accounting.py).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ..oomlog import ACTION_FAILED
from ..plan import Plan
from ..results import (
    NOT_RUN_PATH,
    OOM_KILLED_PATH,
    FoldError,
    FoldResult,
    SampleResult,
)
from ..segments import OPERATOR_ATTEMPT, SegmentWriter
from ..spec import LOOCVRunSpec
from ..store import RunLocation
from . import disruption, kueue
from .accounting import RunAccounting
from .events import build_event
from .finale import failed_status
from .jobs import JobDefaults, JobOrder, build_job, build_step_job
from .kubeapi import KubeGateway
from .observe import ObservedJob, ObservedPod
from .oom import OOM_REASON, OomPolicy, pod_failure_events, remedy, step_event
from .reconcile import Decision, GiveUp
from .runstate import TrackedRun
from .settings import Settings
from .status import (
    RunView,
    build_status,
    invalid_status,
    merge_patch,
)
from .tally import Collected
from .telemetry import Telemetry
from .wire import JobCounts

log = logging.getLogger("loocv.operator")


class Acts:
    def __init__(
        self,
        settings: Settings,
        kube: KubeGateway,
        telemetry: Telemetry,
        clock: Callable[[], float],
        now: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.telemetry = telemetry
        self.clock = clock
        self.now = now
        self.defaults = job_defaults(settings)

    # ------------------------------------------------------------------ Jobs
    def apply(self, run: TrackedRun, plan: Plan, decision: Decision) -> None:
        """Give up, create, suspend and resume, as decided."""
        for give_up in decision.give_up:
            self.give_up(run, plan, give_up)
        for order in decision.create:
            self.create(run, plan, order)
        for name in decision.suspend:
            self.kube.set_job_suspend(run.ref.namespace, name, True)
        for name in decision.resume:
            self.kube.set_job_suspend(run.ref.namespace, name, False)

    def create(self, run: TrackedRun, plan: Plan, order: JobOrder, why: str = "") -> None:
        """``why``: a resubmission's Event message, if not the plain one."""
        ref = run.ref
        full = dataclasses.replace(order, folds=tuple(plan.batches[order.batch]))
        plan_uri = run.store.uri(plan.location.plan)
        body = build_job(
            ref,
            plan.spec,
            plan_uri,
            full,
            self.defaults,
            suspend=run.suspend,
            memory=plan.oom.memory,  # raised after an OOM kill (kube/oom.py), if it was
        )
        if not self.kube.create_job(ref.namespace, body):
            return
        self.telemetry.jobs_created.labels(ref.namespace).inc()
        if order.attempt > 0:
            self.telemetry.job_retries.labels(ref.namespace).inc()
            self.event(
                ref,
                "Normal",
                "Resubmitted",
                why or f"batch {order.batch} resubmitted as attempt {order.attempt}",
            )

    def resubmit_disrupted(
        self,
        run: TrackedRun,
        plan: Plan,
        trainers: Sequence[ObservedJob],
        pods: Sequence[ObservedPod],
        halted: bool,
    ) -> None:
        """A batch whose pod ended disrupted, left waiting for the Job controller's backoff:
        a new Job at once, the old one deleted (kube/disruption.py). Its preemption is
        counted here once (the new Job's preemptions-before, then not by its pod)."""
        assert run.results is not None
        run.told.disrupted.update(disruption.disrupted_pods(pods))
        if halted or run.suspend:
            return
        tally = run.results.tally
        done = {b for b, folds in enumerate(plan.batches) if tally.has(folds)}
        queued = bool(plan.spec.execution.queue_name)
        limit = self.settings.max_preemption_resubmits
        resubmits = disruption.resubmissions(
            trainers, pods, run.told.disrupted, done, limit, queued
        )
        if resubmits:  # the old Jobs' pods go with them: into the pod ledger first
            self.account(run, plan, pods)
        for resubmit in resubmits:
            if resubmit.pod not in run.told.preempted_pods:
                run.told.preempted_pods.add(resubmit.pod)
                self.telemetry.job_preemptions.labels(run.ref.namespace).inc()
            self.create(run, plan, resubmit.order, resubmit.message())
            self.kube.delete_job(run.ref.namespace, resubmit.job)
            log.info("%s/%s: %s", run.ref.namespace, run.ref.name, resubmit.message())

    def create_step(
        self, run: TrackedRun, spec: LOOCVRunSpec, step: str, uri: str, attempt: int = 0
    ) -> None:
        """The planner or the report Job (409: it exists, fine); suspended with its run."""
        body = build_step_job(
            run.ref, spec, step, uri, self.defaults, suspend=run.suspend, attempt=attempt
        )
        if self.kube.create_job(run.ref.namespace, body):
            self.telemetry.jobs_created.labels(run.ref.namespace).inc()

    def hold_step(self, run: TrackedRun, job: ObservedJob) -> None:
        """spec.suspend holds the planner and report pods too: a suspended run runs no pod.
        Both steps are idempotent, so a step stopped midway simply runs again on resume.
        (With a Kueue queue, Kueue owns the Jobs' suspend.)"""
        if job.finished or job.suspended == run.suspend or run.spec.execution.queue_name:
            return
        self.kube.set_job_suspend(run.ref.namespace, job.name, run.suspend)

    def give_up(self, run: TrackedRun, plan: Plan, give_up: GiveUp) -> None:
        """Record every fold of the batch that has no result as not run, in the store: one
        segment that sorts after every trainer's (attempt 999), so whatever a trainer did
        store still counts first. Only rows: the operator never reads the data, the report
        Job names them (runsteps.with_samples)."""
        assert run.results is not None
        tally = run.results.tally
        missing = [f for f in plan.batches[give_up.batch] if f not in tally.stored]
        if not missing:
            return
        error = FoldError(give_up.reason, give_up.message[:2000])
        records = [
            FoldResult(
                index=index,
                samples=[SampleResult(row=r, id="", y_true="") for r in plan.folds[index].test],
                error=error,
                # a fold OOM-killed alone at the cap ran and failed: it is not "not run"
                path=OOM_KILLED_PATH if give_up.reason == OOM_REASON else NOT_RUN_PATH,
                trainer_version="operator",
            )
            for index in missing
        ]
        with SegmentWriter(
            run.store, plan.location, give_up.batch, OPERATOR_ATTEMPT, max_folds=len(records)
        ) as writer:
            for record in records:
                writer.add(record)
        self.collect(run, run.results.refresh())
        if give_up.batch in run.told.given_up:
            return
        run.told.given_up.add(give_up.batch)
        self.telemetry.batches_given_up.labels(run.ref.namespace).inc()
        self.event(
            run.ref,
            "Warning",
            "BatchGivenUp",
            f"batch {give_up.batch} ({len(missing)} folds) recorded as failed: "
            f"{give_up.reason}: {give_up.message}",
        )

    # ------------------------------------------------------------------ accounting
    def collect(self, run: TrackedRun, fresh: Collected) -> None:
        """Folds newly stored, counted once each (their seconds: the new folds' mean, as
        the segments' summaries hold sums, tally.py)."""
        ns = run.ref.namespace
        self.telemetry.folds_completed.labels(ns).inc(fresh.folds)
        self.telemetry.folds_failed.labels(ns).inc(fresh.failed)
        for seconds in fresh.fold_seconds:
            self.telemetry.fold_seconds.labels(ns).observe(seconds)

    def pods(
        self,
        run: TrackedRun,
        spec: LOOCVRunSpec,
        pods: Sequence[ObservedPod],
        admission: kueue.Admission | None = None,
    ) -> None:
        """Every pod of the run, once per full pass: preemptions counted, failures told (a
        planner's or a report's as well: an OOM kill there is the same story). Kueue's
        preemptions (its pods end without DisruptionTarget) are told once, in an Event."""
        for pod in pods:
            if pod.disrupted and pod.name not in run.told.preempted_pods:
                run.told.preempted_pods.add(pod.name)
                self.telemetry.job_preemptions.labels(run.ref.namespace).inc()
        for preemption in kueue.new_preemptions(admission, run.told.preempted_pods):
            self.telemetry.job_preemptions.labels(run.ref.namespace).inc()
            message = kueue.preemption_message(run.ref.namespace, preemption)
            self.event(run.ref, "Normal", "PreemptedByKueue", message)
        pod_failure_events(
            pods,
            run.told.failed_pods,
            memory_limit(spec, self.settings),
            lambda type_, reason, message: self.event(run.ref, type_, reason, message),
        )

    # ------------------------------------------------------------------ usage, budget
    def accounting(self, run: TrackedRun, plan: Plan) -> RunAccounting:
        """The run's usage and budget bookkeeping (kube/accounting.py), made on first use
        with the requests its trainer pods make; the budget as the spec says now."""
        if run.accounting is None:
            run.accounting = RunAccounting(run.store, plan, prices=self.settings.prices)
            shape = build_job(run.ref, plan.spec, "", JobOrder(0), self.defaults)
            run.accounting.set_job_shape(shape)
        run.accounting.set_budget(run.spec.execution.budget)
        return run.accounting

    def account(self, run: TrackedRun, plan: Plan, pods: Sequence[ObservedPod]) -> None:
        """Every trainer pod of a full pass into the pod ledger, once by uid."""
        listed = [p.usage for p in pods if p.usage is not None]
        self.accounting(run, plan).record(listed, self.now().timestamp())

    def budget(self, run: TrackedRun, plan: Plan, decision: Decision) -> Decision:
        """spec.execution.budget: only the Jobs it leaves room for are created (told once in
        a BudgetExceeded Event); held back with none running, the run is to end."""
        accounting = self.accounting(run, plan)
        before = accounting.blocked
        trimmed = accounting.within(decision, plan, self.now().timestamp())
        if accounting.blocked is not None and before is None and not accounting.stopped:
            self.event(run.ref, "Warning", "BudgetExceeded", accounting.blocked)
        accounting.stops(trimmed)
        return trimmed

    def write_usage(self, run: TrackedRun, plan: Plan, jobs: JobCounts) -> None:
        """usage.json, before the report Job that puts it into report.json."""
        assert run.results is not None
        accounting = self.accounting(run, plan)
        compute = run.results.tally.compute()
        now = self.now().timestamp()
        accounting.write(accounting.usage(compute, jobs.retried, jobs.preempted, now))

    def remedy_oom(
        self,
        run: TrackedRun,
        plan: Plan,
        trainers: Sequence[ObservedJob],
        pods: Sequence[ObservedPod],
    ) -> Plan:
        """OOM-killed trainer pods not handled yet: kube/oom.py decides (raise the memory,
        split the batch, fail a fold alone at the cap); the new plan — split batches, raised
        memory, the steps — is stored before any Job that needs it is created, so a restarted
        operator neither repeats a step nor forgets the memory. Returns the plan to go on with."""
        assert run.results is not None
        policy = OomPolicy(
            memory_limit(plan.spec, self.settings), self.settings.trainer_memory_cap or None
        )
        fix = remedy(plan, trainers, pods, run.results.tally.stored, policy)
        if not fix.steps:
            return plan
        run.store.put(plan.location.plan, fix.plan.to_json())
        run.plan = fix.plan
        for step in fix.steps:
            log.info("%s/%s: %s", run.ref.namespace, run.ref.name, step.message())
            self.event(run.ref, *step_event(step))
            if step.action == ACTION_FAILED:  # one fold alone over the cap: it failed
                self.give_up(run, fix.plan, GiveUp(step.batch, OOM_REASON, step.message()))
        return fix.plan

    def observe_duration(self, namespace: str, status: Mapping[str, Any]) -> None:
        """Run duration for the dashboard: startTime to completionTime, as the status says."""
        try:
            fmt = "%Y-%m-%dT%H:%M:%SZ"
            took = datetime.strptime(status["completionTime"], fmt) - datetime.strptime(
                status["startTime"], fmt
            )
        except (KeyError, TypeError, ValueError):
            return
        self.telemetry.run_seconds.labels(namespace).observe(took.total_seconds())

    # ------------------------------------------------------------------ status
    def write_progress(self, run: TrackedRun, view: RunView) -> None:
        """At most once per status interval, unless a condition or the phase changes."""
        new = build_status(run.status, view, self.now())
        if new == run.status:
            return
        important = _conditions_key(new) != _conditions_key(run.status) or new.get(
            "phase"
        ) != run.status.get("phase")
        if not important and self.clock() - run.clocks.patch < self.settings.status_interval:
            return  # the next interval writes it
        run.status = self.write(run.ref, run.status, new)
        run.clocks.patch = self.clock()

    def write(
        self, ref: RunLocation, previous: Mapping[str, Any], new: dict[str, Any]
    ) -> dict[str, Any]:
        self.kube.patch_run_status(ref.namespace, ref.name, merge_patch(previous, new))
        self.telemetry.status_patches.labels(ref.namespace).inc()
        return new

    def invalid(
        self,
        ref: RunLocation,
        status: dict[str, Any],
        generation: int | None,
        problems: list[tuple[str, str]],
    ) -> None:
        self.write(ref, status, invalid_status(status, generation, self.now(), problems))
        message = "; ".join(f"{w}: {m}" for w, m in problems)
        self.event(ref, "Warning", "Invalid", message)
        log.warning("%s/%s is invalid: %s", ref.namespace, ref.name, message)

    def failed(self, run: TrackedRun, reason: str, message: str) -> None:
        new = failed_status(run.status, run.generation, self.now(), reason, message)
        run.status = self.write(run.ref, run.status, new)
        self.event(run.ref, "Warning", "Failed", message)

    def restamp(self, ref: RunLocation, status: dict[str, Any], generation: int | None) -> None:
        """A finished run whose spec changed (suspend, concurrency): same conditions, now
        for the new generation, so `kubectl wait` keeps trusting them."""
        if generation is None or status.get("observedGeneration") == generation:
            return
        new = dict(status)
        new["observedGeneration"] = generation
        new["conditions"] = [
            {**c, "observedGeneration": generation} for c in status.get("conditions") or []
        ]
        self.write(ref, status, new)

    def event(self, ref: RunLocation, type_: str, reason: str, message: str) -> None:
        try:
            self.kube.post_event(
                ref.namespace, build_event(ref, type_, reason, message, self.now())
            )
        except Exception as exc:  # an Event is best effort, never a reason to fail
            log.debug("could not post event %s for %s: %s", reason, ref.name, exc)


def memory_limit(spec: LOOCVRunSpec, settings: Settings) -> str | None:
    """The memory limit the run's trainer pods get (the manifest's, else the default)."""
    resources = spec.execution.resources
    limits = resources.limits or {}
    if "memory" in limits:
        return str(limits["memory"])
    if "memory" in (resources.requests or {}):
        return None
    return settings.trainer_memory_limit or None


def _conditions_key(status: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (str(c.get("type")), str(c.get("status")), str(c.get("reason")))
        for c in status.get("conditions") or []
    ]


def job_defaults(settings: Settings) -> JobDefaults:
    return JobDefaults(
        image=settings.trainer_image,
        allowlist_extra=settings.allowlist_extra,
        s3_endpoint=settings.s3_endpoint,
        s3_addressing_style=settings.s3_addressing_style,  # trainers address S3 alike
        storage_secret=settings.storage_secret,
        mlflow_secret=settings.mlflow_secret,
        default_requests=(
            ("cpu", settings.trainer_cpu_request),
            ("memory", settings.trainer_memory_request),
        ),
        default_limits=(("memory", settings.trainer_memory_limit),),
    )
