"""Operator settings: flags first, then environment variables, then defaults.

Everything a cluster admin tunes lives here (namespaces, estimator allowlist, trainer image,
default store, intervals, pools, log format); nothing here comes from a manifest.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..allowlist import allowlist_from_env
from ..errors import InvalidInput
from ..usage import Prices, parse_prices

DEFAULT_IMAGE = f"ghcr.io/loocv-dev/loocv-trainer:{__version__}"


@dataclass(frozen=True)
class Settings:
    namespaces: tuple[str, ...] = ()  # empty: every namespace
    allowlist_extra: tuple[str, ...] = ()
    trainer_image: str = DEFAULT_IMAGE
    storage_uri: str | None = None  # for runs that name no spec.storage.uri
    s3_endpoint: str | None = None
    s3_addressing_style: str | None = None  # path | virtual | auto (None: path)
    storage_secret: str | None = None  # Secret (in the run's namespace) for trainer pods
    mlflow_secret: str | None = None  # Secret (in the run's namespace) for report pods
    status_interval: float = 10.0  # seconds between full reconciles and status patches
    poll_interval: float = 2.0  # seconds between Job checks while batches wait for a slot
    store_concurrency: int = 16  # parallel GETs when collecting fold results
    workers: int = 4  # threads that reconcile runs (and kopf's handler threads)
    max_resubmits: int = 2  # a Job failing for real is resubmitted this many times
    max_preemption_resubmits: int = 20
    metrics_port: int = 8080  # 0: no /metrics endpoint
    liveness: str | None = "http://0.0.0.0:8081/healthz"
    log_format: str = "plain"  # plain | json
    verbose: bool = False
    allow_local_store: bool = False  # a directory store: only when operator and pods share it
    peering: str | None = None  # kopf peering name; None: standalone (one replica)
    # Trainer containers' resources where the manifest names none for that resource, so no
    # trainer pod runs BestEffort (first evicted, unbounded memory); "" leaves one unset.
    trainer_cpu_request: str = "500m"
    trainer_memory_request: str = "512Mi"
    trainer_memory_limit: str = "2Gi"
    # An OOM-killed trainer pod is resubmitted with twice its memory, up to this (request and
    # limit); at the cap its batch is split instead (kube/oom.py). "" never raises memory.
    trainer_memory_cap: str = "8Gi"
    prices: Prices | None = None  # --price: turns each run's usage into an estimated cost

    @property
    def allowlist(self) -> tuple[str, ...]:
        return allowlist_from_env(self.allowlist_extra)

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="loocv operator",
        description="Run the LOOCVRun operator (in a cluster or against a kubeconfig).",
    )
    p.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=None,
        help="watch this namespace (repeatable; env LOOCV_NAMESPACES); default: all",
    )
    p.add_argument(
        "--allow",
        action="append",
        default=None,
        metavar="PREFIX",
        help="also admit estimators under this module prefix "
        "(env LOOCV_ESTIMATOR_ALLOWLIST; the default allowlist is sklearn)",
    )
    p.add_argument("--trainer-image", help="default trainer image (env LOOCV_TRAINER_IMAGE)")
    p.add_argument(
        "--storage-uri", help="default results store, s3://bucket/prefix/ (env LOOCV_STORAGE_URI)"
    )
    p.add_argument("--s3-endpoint", help="default S3 endpoint (env LOOCV_S3_ENDPOINT)")
    p.add_argument(
        "--s3-addressing-style",
        choices=("path", "virtual", "auto"),
        help="S3 addressing style of the operator and its trainer pods: path (bucket in the "
        "URL path, the default), virtual (bucket in the host name) or auto "
        "(env LOOCV_S3_ADDRESSING_STYLE)",
    )
    p.add_argument(
        "--storage-secret",
        help="default Secret with the store's credentials for "
        "trainer pods (env LOOCV_STORAGE_SECRET)",
    )
    p.add_argument(
        "--mlflow-secret",
        help="default Secret with MLflow credentials (MLFLOW_TRACKING_TOKEN, or _USERNAME and "
        "_PASSWORD) for the report pods of runs whose spec.tracking.mlflow names no "
        "secretRef (env LOOCV_MLFLOW_SECRET)",
    )
    p.add_argument(
        "--status-interval",
        type=float,
        help="seconds between reconciles and status patches (env "
        "LOOCV_STATUS_INTERVAL, default 10)",
    )
    p.add_argument(
        "--poll-interval",
        type=float,
        help="seconds between checks for a finished Job while a run has batches waiting for a "
        "slot (env LOOCV_POLL_INTERVAL, default 2); each check lists the run's Jobs",
    )
    p.add_argument(
        "--store-concurrency",
        type=int,
        help="parallel reads of fold results (env LOOCV_STORE_CONCURRENCY, default 16)",
    )
    p.add_argument("--workers", type=int, help="reconcile threads (env LOOCV_WORKERS, default 4)")
    p.add_argument(
        "--max-resubmits",
        type=int,
        help="resubmissions of a failed Job (env LOOCV_MAX_RESUBMITS, default 2)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        help="port of /metrics, 0 to disable (env LOOCV_METRICS_PORT, default 8080)",
    )
    p.add_argument(
        "--liveness",
        help="kopf liveness endpoint URL, 'none' to disable (default http://0.0.0.0:8081/healthz)",
    )
    p.add_argument(
        "--log-format",
        choices=("plain", "json"),
        help="log format (env LOOCV_LOG_FORMAT, default plain)",
    )
    p.add_argument("--verbose", action="store_true", help="debug logging")
    p.add_argument(
        "--allow-local-store",
        action="store_true",
        help="accept a directory as the store (the operator and every pod must "
        "see the same directory)",
    )
    p.add_argument("--peering", help="kopf peering name for several replicas (default: standalone)")
    for flag, default in (
        ("cpu-request", Settings.trainer_cpu_request),
        ("memory-request", Settings.trainer_memory_request),
        ("memory-limit", Settings.trainer_memory_limit),
    ):
        env = "LOOCV_TRAINER_" + flag.upper().replace("-", "_")
        p.add_argument(
            f"--trainer-{flag}",
            help=f"trainer containers' {flag.replace('-', ' ')} where a run names none for that "
            f"resource (env {env}, default {default}; '' for none)",
        )
    p.add_argument(
        "--trainer-memory-cap",
        help="an OOM-killed trainer pod is resubmitted with twice its memory up to this cap, "
        "then its batch is split (env LOOCV_TRAINER_MEMORY_CAP, default "
        f"{Settings.trainer_memory_cap}; '' never raises memory)",
    )
    p.add_argument(
        "--price",
        help="what resources cost, e.g. core-hour=0.04,gpu-hour=2.5,gib-hour=0.005: each "
        "run's status.usage.cost is estimated with it (env LOOCV_PRICE; default: no cost)",
    )
    return p


def _prices(flag: str | None, env: Mapping[str, str]) -> Prices | None:
    raw = flag if flag is not None else env.get("LOOCV_PRICE")
    try:
        return parse_prices(raw, "--price" if flag is not None else "LOOCV_PRICE")
    except InvalidInput as exc:
        raise SystemExit(str(exc)) from None


def load(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from flags, then the environment, then the defaults."""
    env = os.environ if env is None else env
    args = parser().parse_args(list(argv) if argv is not None else [])
    defaults = Settings()

    def text(flag: object, name: str) -> str | None:
        if flag is not None:
            return str(flag)
        return env.get(name) or None

    def number(flag: object, name: str, default: float, kind: type[int] | type[float]) -> Any:
        raw = text(flag, name)
        if raw is None:
            return default
        try:
            return kind(raw)
        except ValueError:
            raise SystemExit(f"{name}: expected a number, got {raw!r}") from None

    liveness = args.liveness if args.liveness is not None else defaults.liveness
    settings = Settings(
        namespaces=tuple(args.namespace) if args.namespace else _split(env.get("LOOCV_NAMESPACES")),
        allowlist_extra=tuple(args.allow)
        if args.allow
        else _split(env.get("LOOCV_ESTIMATOR_ALLOWLIST")),
        trainer_image=text(args.trainer_image, "LOOCV_TRAINER_IMAGE") or defaults.trainer_image,
        storage_uri=text(args.storage_uri, "LOOCV_STORAGE_URI"),
        s3_endpoint=text(args.s3_endpoint, "LOOCV_S3_ENDPOINT"),
        s3_addressing_style=text(args.s3_addressing_style, "LOOCV_S3_ADDRESSING_STYLE"),
        storage_secret=text(args.storage_secret, "LOOCV_STORAGE_SECRET"),
        mlflow_secret=text(args.mlflow_secret, "LOOCV_MLFLOW_SECRET"),
        status_interval=number(
            args.status_interval, "LOOCV_STATUS_INTERVAL", defaults.status_interval, float
        ),
        poll_interval=number(
            args.poll_interval, "LOOCV_POLL_INTERVAL", defaults.poll_interval, float
        ),
        store_concurrency=number(
            args.store_concurrency, "LOOCV_STORE_CONCURRENCY", defaults.store_concurrency, int
        ),
        workers=number(args.workers, "LOOCV_WORKERS", defaults.workers, int),
        max_resubmits=number(
            args.max_resubmits, "LOOCV_MAX_RESUBMITS", defaults.max_resubmits, int
        ),
        metrics_port=number(args.metrics_port, "LOOCV_METRICS_PORT", defaults.metrics_port, int),
        liveness=None if liveness in ("", "none") else liveness,
        log_format=text(args.log_format, "LOOCV_LOG_FORMAT") or defaults.log_format,
        verbose=bool(args.verbose),
        allow_local_store=bool(args.allow_local_store),
        peering=args.peering,
        trainer_cpu_request=_quantity(
            args.trainer_cpu_request, env, "LOOCV_TRAINER_CPU_REQUEST", defaults.trainer_cpu_request
        ),
        trainer_memory_request=_quantity(
            args.trainer_memory_request,
            env,
            "LOOCV_TRAINER_MEMORY_REQUEST",
            defaults.trainer_memory_request,
        ),
        trainer_memory_limit=_quantity(
            args.trainer_memory_limit,
            env,
            "LOOCV_TRAINER_MEMORY_LIMIT",
            defaults.trainer_memory_limit,
        ),
        trainer_memory_cap=_quantity(
            args.trainer_memory_cap,
            env,
            "LOOCV_TRAINER_MEMORY_CAP",
            defaults.trainer_memory_cap,
        ),
        prices=_prices(args.price, env),
    )
    _check(settings)
    return settings


_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")


def _quantity(flag: str | None, env: Mapping[str, str], name: str, default: str) -> str:
    """A resource quantity from the flag, else the environment (set but empty: none)."""
    raw = flag if flag is not None else env.get(name, default)
    raw = raw.strip()
    if raw and not _QUANTITY.match(raw):
        raise SystemExit(f"{name}: not a resource quantity: {raw!r}")
    return raw


def _check(settings: Settings) -> None:
    if settings.status_interval <= 0:
        raise SystemExit("--status-interval must be > 0")
    if settings.poll_interval <= 0:
        raise SystemExit("--poll-interval must be > 0")
    if settings.store_concurrency < 1:
        raise SystemExit("--store-concurrency must be >= 1")
    if settings.workers < 1:
        raise SystemExit("--workers must be >= 1")
    if settings.max_resubmits < 0:
        raise SystemExit("--max-resubmits must be >= 0")
    if settings.log_format not in ("plain", "json"):
        raise SystemExit("--log-format must be plain or json")
    if settings.storage_uri and not (
        settings.storage_uri.startswith("s3://") or settings.allow_local_store
    ):
        raise SystemExit("--storage-uri must be s3://… (or pass --allow-local-store)")
