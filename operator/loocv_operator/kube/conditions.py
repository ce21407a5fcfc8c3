"""metav1.Condition lists: set one condition, keep the others, keep time honest.

``lastTransitionTime`` changes only when a condition's status changes, so ``kubectl wait``
and anyone watching transitions see one transition per real change, however often the
operator rewrites the same status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

ConditionStatus = Literal["True", "False", "Unknown"]

INVALID = "Invalid"
PROGRESSING = "Progressing"
COMPLETE = "Complete"
FAILED = "Failed"
GATE_PASSED = "GatePassed"
RESULTS_INCOMPLETE = "ResultsIncomplete"

# The order conditions are listed in (stable output: no spurious status diffs).
CONDITION_TYPES = (INVALID, PROGRESSING, COMPLETE, FAILED, GATE_PASSED, RESULTS_INCOMPLETE)
MAX_MESSAGE_CHARS = 2000


def timestamp(now: datetime) -> str:
    """RFC 3339 in UTC with second precision, as the API server writes metav1.Time."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None = None,
) -> list[dict[str, Any]]:
    """A new list with ``type_`` set; the time moves only if its status changed."""
    previous = find(conditions, type_)
    changed = previous is None or previous.get("status") != status
    condition: dict[str, Any] = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message[:MAX_MESSAGE_CHARS],
        "lastTransitionTime": (
            timestamp(now)
            if changed or previous is None
            else previous.get("lastTransitionTime") or timestamp(now)
        ),
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    others = [dict(c) for c in conditions if c.get("type") != type_]
    return _ordered([*others, condition])


def find(conditions: Sequence[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    for condition in conditions:
        if condition.get("type") == type_:
            return condition
    return None


def is_true(conditions: Sequence[Mapping[str, Any]], type_: str) -> bool:
    condition = find(conditions, type_)
    return condition is not None and condition.get("status") == "True"


def _ordered(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rank = {t: i for i, t in enumerate(CONDITION_TYPES)}
    return sorted(conditions, key=lambda c: (rank.get(c.get("type", ""), len(rank)), c["type"]))
