"""What the operator did about OOM-killed trainer pods, as recorded in plan.json.

Why in the plan: the plan is the run's durable state that every trainer reads, and a split
batch *is* a change of the plan (new batch numbers the trainers must find). Recording the
raised memory and each step there too means a restarted operator neither repeats a step
(each OOM-killed attempt is handled once) nor forgets the memory later Jobs need, and the
report can say what happened. The decisions themselves are made in ``kube/oom.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ACTION_RAISED = "raised"  # the batch is resubmitted with more memory (run-wide, up to the cap)
ACTION_SPLIT = "split"  # the batch's remaining folds are cut in two batches
ACTION_FAILED = "failed"  # one fold alone exceeded the cap: recorded as failed, OOMKilled
ACTIONS = (ACTION_RAISED, ACTION_SPLIT, ACTION_FAILED)


@dataclass(frozen=True)
class OomStep:
    """One OOM-killed attempt of a batch and what was done about it."""

    batch: int
    attempt: int
    action: str
    killed_at: str | None  # the memory limit the killed pod had (None: no limit)
    memory: str | None = None  # the limit later Jobs get (raised), or the split halves get
    new_batch: int | None = None  # split: the batch number of the second half
    folds: tuple[int, ...] = ()  # split: the folds moved to new_batch; failed: the fold(s)

    def message(self) -> str:
        limit = self.killed_at or "no limit"
        if self.action == ACTION_RAISED:
            return (
                f"batch {self.batch} attempt {self.attempt} was OOM-killed at {limit}: "
                f"memory raised to {self.memory} for this run's trainer pods; resubmitted"
            )
        if self.action == ACTION_SPLIT:
            return (
                f"batch {self.batch} attempt {self.attempt} was OOM-killed at {limit} "
                f"(the memory cap): split in two, {len(self.folds)} folds moved to batch "
                f"{self.new_batch}; both resubmitted"
            )
        return (
            f"fold {', '.join(map(str, self.folds))} (batch {self.batch}) was OOM-killed "
            f"alone in its pod at {limit} (the memory cap): recorded as failed (OOMKilled)"
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "batch": self.batch,
            "attempt": self.attempt,
            "action": self.action,
            "killedAt": self.killed_at,
        }
        if self.memory is not None:
            data["memory"] = self.memory
        if self.new_batch is not None:
            data["newBatch"] = self.new_batch
        if self.folds:
            data["folds"] = list(self.folds)
        return data

    @classmethod
    def from_json(cls, data: Any) -> OomStep:
        if not isinstance(data, dict) or data.get("action") not in ACTIONS:
            raise ValueError(f"an OOM step must be an object with an action, got {data!r}")
        killed = data.get("killedAt")
        memory = data.get("memory")
        new_batch = data.get("newBatch")
        return cls(
            batch=int(data["batch"]),
            attempt=int(data["attempt"]),
            action=str(data["action"]),
            killed_at=None if killed is None else str(killed),
            memory=None if memory is None else str(memory),
            new_batch=None if new_batch is None else int(new_batch),
            folds=tuple(int(f) for f in data.get("folds") or ()),
        )


@dataclass(frozen=True)
class OomLog:
    """The run's OOM remediation so far: the memory limit its Jobs now get, and the steps."""

    memory: str | None = None  # None: the manifest's (or the operator's default) limit
    steps: tuple[OomStep, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.steps)

    def handled(self, batch: int, attempt: int) -> OomStep | None:
        return next((s for s in self.steps if (s.batch, s.attempt) == (batch, attempt)), None)

    def count(self, action: str) -> int:
        return sum(1 for s in self.steps if s.action == action)

    def failed_folds(self) -> int:
        return sum(len(s.folds) for s in self.steps if s.action == ACTION_FAILED)

    def summary(self) -> str:
        """One line for the status and the report."""
        parts = [f"{len(self.steps)} OOM-killed pods"]
        if self.memory:
            parts.append(f"memory raised to {self.memory}")
        if self.count(ACTION_SPLIT):
            parts.append(f"{self.count(ACTION_SPLIT)} batches split")
        if self.failed_folds():
            parts.append(f"{self.failed_folds()} folds failed alone at the cap (OOMKilled)")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"steps": [s.to_json() for s in self.steps]}
        if self.memory is not None:
            data["memory"] = self.memory
        return data

    @classmethod
    def from_json(cls, data: Any) -> OomLog:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError(f"oom must be an object, got {data!r}")
        memory = data.get("memory")
        return cls(
            memory=None if memory is None else str(memory),
            steps=tuple(OomStep.from_json(s) for s in data.get("steps") or ()),
        )
