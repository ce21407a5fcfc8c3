"""plan.json as the operator reads it (the planner Job writes it), and what it says."""

from __future__ import annotations

import logging

from ..errors import InvalidInput
from ..plan import Plan
from ..store import RunLocation, Store

log = logging.getLogger("loocv.operator")
SPEC_OBJECT = "spec.json"  # what the planner Job plans from (podsteps.py)


def stored_plan(store: Store, ref: RunLocation) -> Plan | None:
    try:
        raw = store.get(ref.plan)
    except KeyError:
        return None
    try:
        return Plan.from_json(raw, store.uri(ref.plan))
    except InvalidInput:
        log.warning("ignoring an unreadable plan at %s", store.uri(ref.plan))
        return None


def planned_message(plan: Plan, store: Store) -> str:
    if plan.batching.probing:
        message = f"{plan.n_folds} folds; {plan.batching.message}"
    else:
        message = f"{plan.n_folds} folds in {len(plan.batches)} batches"
        if plan.batching.message:
            message += f" ({plan.batching.message})"
    return f"{message}; plan at {store.uri(plan.location.plan)}"
