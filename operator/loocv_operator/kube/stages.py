"""The two steps of a run around its training: planning (the planner Job writes plan.json,
or says what is invalid) and finishing (the report Job writes report.json; then the run ends
with the status and Events made from it). Both only start Jobs and read what they stored.

A run its budget stopped finishes over the folds it computed: its report Job is one of its
own (attempt = computed folds + 1), so a run reopened by a raised budget gets a new one at
its end, and a report over fewer folds than are computed now is not the run's last word."""

from __future__ import annotations

from ..plan import Plan
from . import kueue
from .acts import Acts
from .admission import planner_refusal
from .finale import final_events, read_report
from .jobs import STEP_PLAN, STEP_REPORT
from .kubeapi import KubeGateway
from .observe import (
    FAILURE_INVALID_INPUT,
    FINISHED_FAILED,
    FINISHED_SUCCEEDED,
    ObservedJob,
    ObservedPod,
)
from .oom import PLANNER_OOM_REASON, planner_oom
from .plans import SPEC_OBJECT, planned_message, stored_plan
from .progress import Progress, view_of
from .registry import Runs
from .runstate import TrackedRun
from .status import build_status, pending_status, phase_of


class Stages:
    def __init__(self, acts: Acts, kube: KubeGateway, runs: Runs) -> None:
        self.acts = acts
        self.kube = kube
        self.runs = runs

    def planning(self, run: TrackedRun, job: ObservedJob | None, pods: list[ObservedPod]) -> None:
        """No plan yet: the planner Job writes it (or says what is invalid)."""
        run.waiting = True
        ref = run.ref
        plan = stored_plan(run.store, ref)  # also when its Job is gone (ttlSecondsAfterFinished)
        if plan is not None:
            run.attach(plan)
            self.acts.event(ref, "Normal", "Planned", planned_message(plan, run.store))
            return
        if job is None:
            self.acts.create_step(
                run, run.spec, STEP_PLAN, run.store.uri(ref.artifact(SPEC_OBJECT))
            )
            return
        self.acts.hold_step(run, job)
        missing = kueue.planner_queue_missing(  # the planner Job is queued too (kueue.py)
            run.spec.execution.queue_name,
            job,
            lambda: self.kube.list_workloads(ref.namespace),
            ref.namespace,
        )
        if missing:
            new = pending_status(
                run.status, run.generation, self.acts.now(), missing, "QueueNotFound"
            )
            if new != run.status:
                run.status = self.acts.write(ref, run.status, new)
            return
        if job.finished == FINISHED_FAILED:
            planner_pods = [p for p in pods if p.step == STEP_PLAN]
            if job.failure == FAILURE_INVALID_INPUT:
                problems = planner_refusal(planner_pods, job.message)
                self.acts.invalid(ref, run.status, run.generation, problems)
                self.runs.drop(ref.uid, "Failed")
            else:  # an OOM kill, a crash: said in an Event, as a trainer pod's would be
                self.acts.pods(run, run.spec, planner_pods)
                oom = planner_oom(job, planner_pods)
                if oom is not None:
                    self.failed(run, PLANNER_OOM_REASON, oom)
                else:
                    self.failed(run, "PlannerFailed", f"the planner Job failed: {job.message}")
            return
        if job.finished == FINISHED_SUCCEEDED:
            self.failed(run, "PlannerFailed", f"the planner Job {job.name} wrote no plan")

    def finishing(
        self,
        run: TrackedRun,
        plan: Plan,
        progress: Progress,
        jobs: list[ObservedJob],
        pods: list[ObservedPod],
    ) -> None:
        """Every fold has a result (or the budget stopped the run): the report Job writes
        report.json over the computed folds, with the usage.json written before it; then
        the run ends."""
        run.waiting = True
        attempt = 0 if progress.done else progress.folds.done + 1
        job = next((j for j in jobs if j.step == STEP_REPORT and j.attempt == attempt), None)
        report = read_report(run.store, plan, progress.folds.done)
        if report is not None and job is not None and not job.finished:
            report = None  # its pod still logs to MLflow: the run ends when the Job does
        if report is None:
            if job is None:
                self.acts.write_usage(run, plan, progress.jobs)  # into report.json
                uri = run.store.uri(plan.location.plan)
                self.acts.create_step(run, plan.spec, STEP_REPORT, uri, attempt)
            elif not job.finished:
                self.acts.hold_step(run, job)
            elif job.finished == FINISHED_FAILED:
                said = next(
                    (p.terminated[2] for p in pods if p.step == STEP_REPORT and p.terminated), ""
                )
                self.failed(
                    run, "ReportFailed", f"the report Job failed: {job.message} {said}".strip()
                )
                return
            self.write_progress(run, plan, progress)
            return
        view = view_of(run, plan, progress, report.summary, report)
        phase = phase_of(view)
        uri = run.store.uri(plan.location.artifact("report.html"))
        halted = run.stop.message if run.stop else run.budget_stop
        # The Events first: whoever sees the final conditions finds them posted.
        for type_, reason, message in final_events(
            report, progress.folds, uri, halted, phase == "Succeeded"
        ):
            self.acts.event(run.ref, type_, reason, message)
        new = build_status(run.status, view, self.acts.now())
        run.status = self.acts.write(run.ref, run.status, new)
        run.finished = True
        self.acts.observe_duration(run.ref.namespace, new)
        self.runs.drop(run.ref.uid, phase)

    def failed(self, run: TrackedRun, reason: str, message: str) -> None:
        self.acts.failed(run, reason, message)
        run.finished = True
        self.runs.drop(run.ref.uid, "Failed")

    def write_progress(self, run: TrackedRun, plan: Plan, progress: Progress) -> None:
        assert run.results is not None
        view = view_of(run, plan, progress, run.results.tally.summary())
        self.runs.set_phase(run.ref.uid, phase_of(view))
        self.acts.write_progress(run, view)
