"""The ``loocv`` command: run a manifest locally, validate it, rebuild a report, train a batch.

Exit codes are part of the interface (CI scripts branch on them): 0 done and the gate passed
(or no gate), 3 the gate failed, 2 invalid input (the message names the field or file),
1 anything else, 130 interrupted (completed folds stay in the store; a rerun resumes).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .cliargs import DEFAULT_OUT, build_parser
from .client.submit import ClusterError
from .console import SummaryContext
from .describe import pipeline_text
from .errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    InvalidInput,
    StoreError,
)
from .spec import LOOCVRun, ManifestError

if TYPE_CHECKING:
    from .plan import Plan
    from .store import Store
    from .usage import Prices

def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["train"]:
        from .trainer import main as train_main

        return train_main(args_list[1:])
    if args_list[:1] in (["plan"], ["finish"]):
        from .podsteps import main as step_main

        return step_main(args_list)
    if args_list[:1] == ["operator"]:
        from .kube.main import main as operator_main

        return operator_main(args_list[1:])
    args = build_parser().parse_args(args_list)
    try:
        if args.command == "compare":
            from .compare.command import compare_command

            return compare_command(args.baseline, args.candidate, args.out, args.endpoint)
        if args.command == "run":
            return _run(args)
        if args.command == "validate":
            return _validate(args)
        if args.command == "status":
            return _status(args)
        return _report(args)
    except ManifestError as exc:
        print(f"invalid manifest {args.manifest}:", file=sys.stderr)
        for where, message in exc.problems:
            print(f"  {where}: {message}", file=sys.stderr)
        return EXIT_INVALID
    except InvalidInput as exc:
        print(f"invalid input: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except MemoryError:
        print("out of memory: the data set or the model does not fit here", file=sys.stderr)
        return EXIT_ERROR
    except StoreError as exc:
        print(f"store error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ClusterError as exc:
        print(f"cluster error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _stderr_notice(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run(args: argparse.Namespace) -> int:
    from .manifestfile import load_manifest

    if args.cluster:
        return _run_cluster(args)
    if not args.local:
        print(
            "loocv run needs --local (run here) or --cluster (create the LOOCVRun through "
            "your kubeconfig and wait for its verdict)",
            file=sys.stderr,
        )
        return EXIT_INVALID
    if args.workers is not None and args.workers < 1:
        raise InvalidInput("--workers", "must be at least 1")
    run = load_manifest(args.manifest)  # first: a bad manifest is refused before heavy imports
    if run.spec.strategy.repeats:
        from .estimators import allowlist_from_env, build_estimator
        from .stability import run_repeats

        estimator = build_estimator(run.spec.model, allowlist_from_env(args.allow))
        return run_repeats(run, estimator, lambda one: _run_one(args, one))
    return _run_one(args, run)[0]


def _run_one(args: argparse.Namespace, run: LOOCVRun) -> tuple[int, Store | None, Plan | None]:
    """One ordinary local run: exit code, and the store and plan it finished with."""
    from tqdm import tqdm

    from .estimators import allowlist_from_env
    from .local import default_workers, execute, prepare
    from .preflight import singleton_classes
    from .store import open_store, retry_notices
    from .usage import ProcessClock

    _prices(args)  # a bad --price is refused before any fold
    storage = run.spec.storage
    store = open_store(args.out or storage.uri or DEFAULT_OUT, storage.endpoint, storage.region)
    from .tracking.mlflow import require

    require(run.spec)  # spec.tracking.mlflow without the extra: refused before any fold
    with retry_notices(_stderr_notice):
        store.check()
        plan, runner = prepare(run, store, allowlist_from_env(args.allow))
        from .compare.gate import check_applies

        check_applies(plan)
        workers = args.workers or default_workers()
        print(
            f"{run.metadata.name}: {plan.n_folds} folds of {plan.n_samples} samples "
            f"({plan.task}, {pipeline_text(run.spec.model)}), {workers} workers",
            file=sys.stderr,
        )
        singletons = singleton_classes(runner.dataset.y) if plan.task == "classification" else []
        if singletons:
            shown = ", ".join(str(c) for c in singletons[:5])
            print(
                f"warning: {len(singletons)} classes have a single sample ({shown}): "
                "held out, each is a fold no model can predict right",
                file=sys.stderr,
            )
        # Failed folds are listed in the summary; one log line each would bury the bar.
        logging.getLogger("loocv.trainer").setLevel(logging.ERROR)
        bar = tqdm(
            total=plan.n_folds,
            unit="fold",
            disable=args.no_progress,
            file=sys.stderr,
            mininterval=0.1 if sys.stderr.isatty() else 5.0,
        )
        clock = ProcessClock.start()  # usage.py: this process' and its workers' CPU time
        with bar:
            try:
                outcome = execute(plan, runner, store, workers, progress=bar.update)
            except KeyboardInterrupt:
                bar.close()
                from .ledger import load_results

                stored = len(load_results(store, plan.location))
                print(
                    f"\ninterrupted: {stored}/{plan.n_folds} folds are stored in "
                    f"{store.uri(plan.location.prefix)}; run the same command again to resume",
                    file=sys.stderr,
                )
                return EXIT_INTERRUPTED, None, None
            except InvalidInput:
                bar.close()
                print(
                    f"the folds computed so far are kept in {store.uri(plan.location.prefix)}",
                    file=sys.stderr,
                )
                raise
        if outcome.skipped:
            print(f"resumed: {outcome.skipped} folds were already stored", file=sys.stderr)
        context = SummaryContext(
            run.metadata.name, run.spec, reused=outcome.skipped, usage=clock.usage()
        )
        return _finish(store, plan, context, _prices(args)), store, plan


def _run_cluster(args: argparse.Namespace) -> int:
    """Submit, follow, print the same summary, exit with the same codes as --local."""
    from .client.follow import FollowTimeout, follow, stderr_progress
    from .client.submit import api_client, context_namespace, create, prepare_document
    from .client.verdict import show
    from .manifestfile import load_document

    document = load_document(args.manifest)
    namespace = args.namespace or (document.get("metadata") or {}).get("namespace")
    namespace = namespace or context_namespace(args.context)
    body, namespace = prepare_document(document, args.manifest, namespace, args.name)
    api = api_client(args.context)
    address = create(api, body, namespace)
    print(f"created loocvrun/{address.name} in {address.namespace}", file=sys.stderr)
    if args.detach:
        print(address.name)
        return EXIT_OK
    try:
        resource = follow(api, address, args.timeout, stderr_progress(not args.no_progress))
    except KeyboardInterrupt:
        print(
            f"\nstopped following; the run goes on. Follow it again with `loocv status "
            f"{address.name} -n {address.namespace}`, stop it with "
            f"`{address.kubectl('delete')}`",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except FollowTimeout as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    outcome = show(address, resource, args.endpoint, args.out, _warn)
    if outcome.message:
        print(f"\n{outcome.message}", file=sys.stderr)
    return outcome.exit_code


def _status(args: argparse.Namespace) -> int:
    """A running run: its progress and conditions; a finished one: its summary and exit
    code, as `loocv run --cluster` would have ended."""
    from .client.follow import get_run, is_over
    from .client.submit import RunAddress, api_client, context_namespace
    from .client.verdict import show

    namespace = args.namespace or context_namespace(args.context) or "default"
    api = api_client(args.context)
    address = RunAddress(namespace, args.name)
    resource = get_run(api, address)
    outcome = show(address, resource, args.endpoint, None, _warn)
    if not is_over(resource):
        return EXIT_OK
    if outcome.message:
        print(f"\n{outcome.message}", file=sys.stderr)
    return outcome.exit_code


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _prices(args: argparse.Namespace) -> Prices | None:
    from .usage import parse_prices

    return parse_prices(getattr(args, "price", None))


def _finish(store: Store, plan: Plan, context: SummaryContext, prices: Prices | None = None) -> int:
    """Step 3 (runsteps.finish_run, what the report Job does), then the summary printed."""
    from .console import render_summary
    from .outcome import outcome_of
    from .runsteps import finish_run

    # usage (usage.py): measured here, or as stored by the run (`loocv report`)
    done = finish_run(
        store, plan, plan.spec.storage.endpoint, measured=context.usage, prices=prices
    )
    context = replace(context, usage=done.usage)
    print(render_summary(context, done.summary, done.verdict, done.artifacts))
    baseline = done.baseline
    if baseline is not None:
        print(
            f"\nbaseline: {baseline.text()}"
            + (f"\n  ({baseline.resolved})" if baseline.resolved else "")
        )
    outcome = outcome_of(done.summary, done.verdict)
    if outcome.message:
        print(f"\n{outcome.message}", file=sys.stderr)
    return outcome.exit_code


def _validate(args: argparse.Namespace) -> int:
    from .manifestfile import load_manifest

    run = load_manifest(args.manifest)  # first: a bad manifest is refused before heavy imports

    from .datasets import load_dataset
    from .estimators import allowlist_from_env, build_estimator, task_of
    from .runsteps import Inputs, plan_run
    from .store import RunLocation, check_store_uri

    spec = run.spec
    problems: list[str] = []
    estimator = None
    try:
        check_store_uri(spec.storage.uri or DEFAULT_OUT)
    except InvalidInput as exc:
        problems.append(str(exc))
    try:
        built = build_estimator(spec.model, allowlist_from_env(args.allow), spec.execution.seed)
        if spec.strategy.repeats:
            from .stability import check_repeatable

            check_repeatable(run, built)
        estimator = built
    except InvalidInput as exc:
        problems.append(str(exc))
    if not args.no_data:
        try:
            dataset = load_dataset(spec.dataset, spec.storage)
            if estimator is not None:
                from .privacy import IdHasher

                # Step 1 as the planner Job runs it, writing nothing (store=None).
                plan = plan_run(
                    spec,
                    RunLocation(run.metadata.namespace, run.metadata.name, "validate"),
                    Inputs(dataset, estimator, IdHasher(None)),
                    None,
                    executor="cluster",
                )
                print(
                    f"{args.manifest}: ok — {plan.task}, {plan.n_samples} samples, "
                    f"{plan.n_folds} folds, {pipeline_text(spec.model)} fits; on a cluster: "
                    f"{plan.batching.message}"
                )
        except InvalidInput as exc:
            problems.append(str(exc))
    elif estimator is not None:
        print(f"{args.manifest}: ok — {task_of(estimator)} (dataset not read)")
    if problems:
        print(f"invalid manifest {args.manifest}:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from .plan import Plan
    from .store import open_store, retry_notices

    run_dir = args.run_dir.rstrip("/")
    if not run_dir.startswith("s3://") and not (Path(run_dir) / "plan.json").is_file():
        raise InvalidInput(run_dir, "no plan.json here; give the run's directory")
    store = open_store(run_dir, args.endpoint)
    with retry_notices(_stderr_notice):
        try:
            raw = store.get("plan.json")
        except KeyError:
            raise InvalidInput(run_dir, "no plan.json here; give the run's directory") from None
        plan = Plan.from_json(raw, f"{run_dir}/plan.json")
        from .tracking.mlflow import require

        require(plan.spec)
        # Re-root the store so the plan's own <namespace>/<run>/<uid>/ keys resolve.
        suffix = plan.location.prefix.rstrip("/")
        if not run_dir.endswith(suffix):
            raise InvalidInput(run_dir, f"expected a directory ending in {suffix}")
        root = run_dir[: -len(suffix)] or "."
        context = SummaryContext(plan.location.name, plan.spec)
        return _finish(open_store(root, args.endpoint), plan, context, _prices(args))


if __name__ == "__main__":
    sys.exit(main())
