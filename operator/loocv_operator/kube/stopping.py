"""Why a run stops creating Jobs: one decision, with the reason the Failed condition names.

Every batch not yet run is then recorded as not run (reconcile.decide gives it up), and the
run ends with the folds it has. Each reason is a clause here, checked once per pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .observe import ObservedPod
from .reconcile import Decision
from .tally import Tally, failing_alike

FOLDS_FAIL_ALIKE = "FoldsFailAlike"
TRAINER_INVALID_INPUT = "TrainerInvalidInput"


@dataclass(frozen=True)
class Stop:
    reason: str  # the Failed condition's reason
    message: str


def operator_stop(tally: Tally) -> Stop | None:
    """The operator's own reasons to stop, from the stored folds (before deciding)."""
    alike = failing_alike(tally)
    if alike is not None:
        return Stop(FOLDS_FAIL_ALIKE, alike)
    return None


def trainer_stop(decision: Decision, pods: Sequence[ObservedPod]) -> Stop | None:
    """A trainer reported invalid input (exit 2): every batch would fail the same way. The
    message quotes the trainer's own last word (its termination message)."""
    if decision.halted is None or decision.halted_batch is None:
        return None
    said = ""
    for pod in pods:
        if pod.batch == decision.halted_batch and pod.terminated and pod.terminated[2]:
            said = f"; the trainer said: {pod.terminated[2].strip()[-600:]}"
            break
    return Stop(TRAINER_INVALID_INPUT, decision.halted + said)
