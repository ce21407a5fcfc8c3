"""The ``loocv`` command's arguments: each subcommand, its flags and their help (what
``loocv --help`` shows). Parsing only: what a command does is cli.py's."""

from __future__ import annotations

import argparse

from . import __version__

DEFAULT_OUT = "loocv-results"


def _add_allow(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="PREFIX",
        help="also admit estimators under this module prefix (admin setting; the default "
        "allowlist is sklearn, extended by LOOCV_ESTIMATOR_ALLOWLIST)",
    )


PRICE_HELP = (
    "estimate the cost: core-hour=N,gpu-hour=N,gib-hour=N (any of them; locally the CPU "
    "seconds count as core-seconds)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loocv", description="Leave-One-Out Cross-Validation of scikit-learn models."
    )
    parser.add_argument("--version", action="version", version=f"loocv {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a LOOCVRun manifest")
    run.add_argument("manifest", help="LOOCVRun YAML file")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="run here, without a cluster")
    where.add_argument(
        "--cluster",
        action="store_true",
        help="create the LOOCVRun through the current kubeconfig and follow it to its verdict",
    )
    run.add_argument("--context", help="--cluster: kubeconfig context (default: current)")
    run.add_argument("--namespace", "-n", help="--cluster: namespace (default: the manifest's)")
    run.add_argument("--name", help="--cluster: name of the run (else metadata.name/generateName)")
    run.add_argument("--detach", action="store_true", help="--cluster: submit, do not follow")
    run.add_argument(
        "--timeout", type=float, default=None, help="--cluster: give up following after S seconds"
    )
    run.add_argument("--endpoint", help="--cluster: S3 endpoint to read the report from")
    run.add_argument(
        "--out", help=f"store directory (default: spec.storage.uri or ./{DEFAULT_OUT})"
    )
    run.add_argument("--workers", type=int, default=None, help="worker processes (default: cores)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--price", help="--local: " + PRICE_HELP)
    _add_allow(run)

    validate = sub.add_parser("validate", help="check a manifest offline, field by field")
    validate.add_argument("manifest")
    validate.add_argument("--no-data", action="store_true", help="do not read the dataset")
    _add_allow(validate)

    status = sub.add_parser("status", help="summary of a LOOCVRun on the cluster")
    status.add_argument("name")
    status.add_argument("--namespace", "-n", help="namespace (default: the context's)")
    status.add_argument("--context", help="kubeconfig context (default: current)")
    status.add_argument("--endpoint", help="S3 endpoint to read the report from")

    report = sub.add_parser("report", help="rebuild the report from stored fold results")
    report.add_argument("run_dir", help="the run's directory (holding plan.json), path or s3://")
    report.add_argument("--endpoint", help="S3 endpoint (else LOOCV_S3_ENDPOINT)")
    report.add_argument("--price", help=PRICE_HELP + ", with the usage the run stored")

    compare = sub.add_parser(
        "compare", help="compare two finished runs of the same data, sample by sample"
    )
    compare.add_argument("baseline", help="the baseline run's directory (path or s3://)")
    compare.add_argument("candidate", help="the candidate run's directory (path or s3://)")
    compare.add_argument(
        "--out", default=".", help="directory for compare.json and compare.html (default: .)"
    )
    compare.add_argument("--endpoint", help="S3 endpoint (else LOOCV_S3_ENDPOINT)")

    sub.add_parser(
        "train", help="run one batch of a planned run (what the Jobs call)", add_help=False
    )
    sub.add_parser("plan", help="plan a cluster run (what the planner Job calls)", add_help=False)
    sub.add_parser(
        "finish", help="write a cluster run's report (what the report Job calls)", add_help=False
    )
    sub.add_parser("operator", help="run the Kubernetes operator", add_help=False)
    return parser
