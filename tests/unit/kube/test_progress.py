"""The progress view, from observed Jobs and the stored folds' tally only."""

from __future__ import annotations

from loocv_operator.batching import Batching
from loocv_operator.folds import Fold
from loocv_operator.kube.jobs import JobOrder
from loocv_operator.kube.observe import (
    FINISHED_FAILED,
    FINISHED_SUCCEEDED,
    ObservedJob,
    ObservedPod,
)
from loocv_operator.kube.progress import progress_of
from loocv_operator.kube.reconcile import Decision
from loocv_operator.kube.tally import Tally
from loocv_operator.plan import Plan
from loocv_operator.results import NOT_RUN_PATH, FoldError, FoldResult
from loocv_operator.spec import parse_spec
from loocv_operator.store import RunLocation

from .conftest import tally_from


def plan(batches: list[list[int]]) -> Plan:
    n = sum(len(b) for b in batches)
    return Plan(
        location=RunLocation("ns", "r", "u"),
        spec=parse_spec(
            {"dataset": {"builtin": "iris"}, "model": {"estimator": "sklearn.svm.SVC"}}
        ),
        spec_digest="d",
        dataset_digest="d",
        n_samples=n,
        task="classification",
        classes=[0, 1],
        folds=[Fold(i, (i,)) for i in range(n)],
        batches=batches,
        batching=Batching("explicit"),
    )


def tally_of(n: int, results: list[FoldResult]) -> Tally:
    return tally_from(n, results)


def test_counts_come_from_the_jobs_annotations_and_the_stored_folds() -> None:
    p = plan([[0, 1], [2, 3], [4, 5]])
    error = FoldError("ValueError", "x")
    tally = tally_of(
        6,
        [
            FoldResult(0, []),
            FoldResult(1, [], error=error),
            FoldResult(4, [], error=FoldError("RetriesExhausted", "y"), path=NOT_RUN_PATH),
            FoldResult(5, [], error=FoldError("RetriesExhausted", "y"), path=NOT_RUN_PATH),
        ],
    )
    jobs = [
        ObservedJob("j0", 0, 0, finished=FINISHED_SUCCEEDED),
        ObservedJob("j1", 1, 1, failures_before=1, preemptions_before=2),
        ObservedJob("j2", 2, 1, finished=FINISHED_FAILED, failures_before=1),
    ]
    pods = [ObservedPod("p", 1, True, None), ObservedPod("q", 1, False, "ErrImagePull: no")]
    decision = Decision(active=1, retried=2, preempted=2)
    progress = progress_of(p, tally, jobs, pods, decision)
    folds = progress.folds
    assert (folds.total, folds.done, folds.succeeded, folds.failed) == (6, 2, 1, 1)
    assert folds.running == 2 and folds.missing == 0  # batch 1's two folds are in flight
    jobs_ = progress.jobs
    assert (jobs_.total, jobs_.succeeded, jobs_.failed, jobs_.given_up) == (3, 1, 1, 1)
    assert (jobs_.retried, jobs_.preempted) == (2, 3)  # 2 from the Jobs + 1 pod seen preempted
    assert progress.waiting == "ErrImagePull: no" and not progress.done
    assert not progress.batches_waiting  # every batch is done, running or given up


def test_a_batch_without_a_job_waits_and_a_run_with_every_fold_is_done() -> None:
    p = plan([[0], [1]])
    progress = progress_of(p, tally_of(2, [FoldResult(0, [])]), [], [], Decision())
    assert progress.batches_waiting and not progress.done
    progress = progress_of(
        p, tally_of(2, [FoldResult(0, []), FoldResult(1, [])]), [], [], Decision()
    )
    assert progress.done and not progress.batches_waiting
    create = Decision(create=(JobOrder(1),), active=1)
    assert not progress_of(p, tally_of(2, []), [], [], create, suspended=True).batches_waiting


def test_a_preempted_pod_still_counts_once_the_kubelet_has_deleted_it() -> None:
    """A real kubelet removes a preempted pod soon after: the count must not drop back."""
    p = plan([[0], [1]])
    seen = {"run-b0-r0-abcde"}
    progress = progress_of(p, tally_of(2, []), [], [], Decision(), preempted_seen=seen)
    assert progress.jobs.preempted == 1
