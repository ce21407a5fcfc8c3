"""What a finished run amounts to: the exit code and the one line a person must read.

One rule for ``loocv run`` and ``loocv report`` (and report.json): a run in which no fold
succeeded is an answer, not a crash — exit 2 when every fold failed with the same error (the
configuration is at fault), else 1; a breached gate, incomplete results included, is 3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import EXIT_ERROR, EXIT_GATE_FAILED, EXIT_INVALID, EXIT_OK
from .gate import GateVerdict
from .results import FoldError
from .summary import SummaryLike, as_summary

EARLY_STOP_FOLDS = 10  # the first folds all failing with one error stop a run (local, cluster)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def error_shape(error: FoldError) -> tuple[str, str]:
    """An error with its numbers blanked: "unknown categories [5.0]" and "[6.0]" are one
    error met on two samples."""
    return error.type, _NUMBER.sub("#", error.message)


@dataclass(frozen=True)
class RunOutcome:
    exit_code: int
    state: str  # passed | no-gate | gate-failed | no-fold-succeeded
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "exitCode": self.exit_code, "message": self.message}


def outcome_of(summary: SummaryLike, verdict: GateVerdict) -> RunOutcome:
    summary = as_summary(summary)
    folds = summary.folds
    if folds.done and not folds.succeeded:
        failures = summary.failures
        first = f"{failures[0].type}: {failures[0].message[:300]}" if failures else ""
        alike = len(summary.failure_types) == 1
        return RunOutcome(
            EXIT_INVALID if alike else EXIT_ERROR,
            "no-fold-succeeded",
            f"no fold succeeded: all {folds.done} folds failed"
            + (f" with the same error, {first}" if alike else f"; the first: {first}"),
        )
    if not verdict.evaluated:
        return RunOutcome(EXIT_OK, "no-gate")
    if verdict.passed:
        return RunOutcome(EXIT_OK, "passed")
    return RunOutcome(
        EXIT_GATE_FAILED, "gate-failed", "gate failed: " + "; ".join(verdict.failures)
    )
