"""``loocv plan`` and ``loocv finish``: steps 1 and 3 of a cluster run, in pods of the
trainer image (step 2 is ``loocv train``, trainer.py). The operator starts them as Jobs and
reads only what they leave in the store and in their pod's termination message.

* ``loocv plan --spec <store>/<ns>/<run>/<uid>/spec.json``: the spec the operator accepted
  (and wrote there); loads the data, builds the estimator, checks both (runsteps.plan_run)
  and writes plan.json beside it.
* ``loocv finish --plan <store>/<ns>/<run>/<uid>/plan.json``: aggregates the stored folds,
  judges the gate and the baseline, writes report.json, predictions.csv and report.html
  (runsteps.finish_run). The operator copies the summary from report.json into the status.

Exit codes are the trainer's contract with the Jobs' podFailurePolicy: 0 done, 2 invalid
input (the termination message says ``invalid input: <field>: <what>``; the operator puts
it in the run's Invalid condition), 1 retryable (the store).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .errors import (
    EXIT_ERROR,
    EXIT_INVALID,
    EXIT_OK,
    INVALID_PREFIX,
    InvalidInput,
    StoreError,
    last_word,
)
from .spec import parse_spec
from .store import RunLocation, Store, open_store, read_uri

SPEC_OBJECT = "spec.json"


def locate(uri: str, name: str, endpoint: str | None) -> tuple[Store, RunLocation]:
    """The store and the run of ``<store root>/<namespace>/<run>/<uid>/<name>``."""
    parts = uri.rstrip("/").split("/")
    if len(parts) < 5 or parts[-1] != name:
        raise InvalidInput(uri, f"expected <store>/<namespace>/<run>/<uid>/{name}")
    location = RunLocation(parts[-4], parts[-3], parts[-2])
    root = uri[: -len(location.prefix + name)] or "."
    return open_store(root, endpoint), location


def plan_step(spec_uri: str, endpoint: str | None, allowlist: Sequence[str]) -> str:
    """Step 1 in a planner pod; returns the address of the plan written."""
    from .runsteps import load_inputs, plan_run

    store, location = locate(spec_uri, SPEC_OBJECT, endpoint)
    import json

    try:
        spec = parse_spec(json.loads(read_uri(spec_uri, endpoint)))
    except ValueError as exc:
        raise InvalidInput(spec_uri, f"not a spec: {exc}") from None
    plan_run(spec, location, load_inputs(spec, allowlist), store, executor="cluster")
    return store.uri(location.plan)


def finish_step(plan_uri: str, endpoint: str | None, allowlist: Sequence[str]) -> str:
    """Step 3 in a report pod; returns the address of report.json."""
    from .ledger import load_results
    from .plan import Plan
    from .runsteps import finish_run, load_inputs, needs_samples

    store, location = locate(plan_uri, "plan.json", endpoint)
    plan = Plan.from_json(store.get(location.plan), plan_uri)
    # The data only when the operator recorded folds as not run: their rows need ids.
    inputs = (
        load_inputs(plan.spec, allowlist)
        if needs_samples(load_results(store, plan.location))
        else None
    )
    done = finish_run(store, plan, endpoint, inputs)
    return done.artifacts["report.json"]


def main(argv: Sequence[str]) -> int:
    """``argv``: ``plan …`` or ``finish …``."""
    from .allowlist import allowlist_from_env

    parser = argparse.ArgumentParser(prog="loocv", description="A step of a cluster run.")
    sub = parser.add_subparsers(dest="step", required=True)
    plan = sub.add_parser("plan", help="plan a run from its spec.json")
    plan.add_argument("--spec", required=True, help="address of the run's spec.json")
    finish = sub.add_parser("finish", help="write a planned run's report")
    finish.add_argument("--plan", required=True, help="address of the run's plan.json")
    for step in (plan, finish):
        step.add_argument("--endpoint", default=None, help="S3 endpoint (else LOOCV_S3_ENDPOINT)")
        step.add_argument("--allow", action="append", default=[], help="extra allowlist prefix")
    args = parser.parse_args(list(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    allowlist = allowlist_from_env(args.allow)
    try:
        if args.step == "plan":
            written = plan_step(args.spec, args.endpoint, allowlist)
        else:
            written = finish_step(args.plan, args.endpoint, allowlist)
    except InvalidInput as exc:
        print(last_word(f"{INVALID_PREFIX}{exc}"), file=sys.stderr)
        return EXIT_INVALID
    except StoreError as exc:
        print(last_word(f"store error (retryable): {exc}"), file=sys.stderr)
        return EXIT_ERROR
    print(f"wrote {written}", file=sys.stderr)
    return EXIT_OK
