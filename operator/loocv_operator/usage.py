"""What a run used, and what that cost: one typed record shared by the operator (pods), the
local executor (this process) and the report.

Cluster resources are counted as the scheduler reserves them: *requested* cores, GPUs and
memory times each pod's running time (kube/usage.py reads the pods), because that is what a
cluster bills and what a budget must bound. Fold compute seconds (fit + predict, as the
trainers timed them) say how much of it was model fitting. A fast path is credited with the
brute-force compute it saved, estimated from a few folds the trainer also fitted by brute
force (fastpaths/timing.py). Prices turn the figures into an estimated cost.
"""

from __future__ import annotations

import json
import math
import resource
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from .errors import InvalidInput

if TYPE_CHECKING:
    from .plan import Plan
    from .results import FoldResult
    from .store import Store

BRUTE_FORCE_KEY = "bruteForceSeconds"  # FoldResult.extra: this fold fitted by brute force too
USAGE_ARTIFACT = "usage.json"
PRICE_KEYS = {"core-hour": "core_hour", "gpu-hour": "gpu_hour", "gib-hour": "gib_hour"}


@dataclass(frozen=True)
class Prices:
    """What one core-hour, GPU-hour and GiB-hour (of requested memory) cost."""

    core_hour: float = 0.0
    gpu_hour: float = 0.0
    gib_hour: float = 0.0

    @property
    def any(self) -> bool:
        return bool(self.core_hour or self.gpu_hour or self.gib_hour)

    def to_text(self) -> str:
        return ",".join(f"{k}={getattr(self, a):g}" for k, a in PRICE_KEYS.items())


def parse_prices(text: str | None, where: str = "--price") -> Prices | None:
    """``core-hour=0.04,gpu-hour=2.5,gib-hour=0.005`` (any subset); None for none."""
    if text is None or not text.strip():
        return None
    values: dict[str, float] = {}
    for part in text.split(","):
        key, sep, raw = part.strip().partition("=")
        if not sep or key.strip() not in PRICE_KEYS:
            raise InvalidInput(
                where, f"{part.strip()!r}: expected core-hour=N, gpu-hour=N or gib-hour=N"
            )
        try:
            value = float(raw)
        except ValueError:
            raise InvalidInput(where, f"{key.strip()}: {raw!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise InvalidInput(where, f"{key.strip()}: must be a number >= 0")
        values[PRICE_KEYS[key.strip()]] = value
    return Prices(**values)


@dataclass(frozen=True)
class FoldCompute:
    """The folds' own timings: compute seconds, and what the fast path saved."""

    fold_seconds: float = 0.0
    fast_path_folds: int = 0
    brute_force_samples: int = 0  # fast-path folds also timed by brute force
    brute_force_fold_seconds: float | None = None  # their mean fit + predict time
    saved_seconds: float | None = None  # fast_path_folds x that mean - what they took


FAST_PATH_PREFIXES = ("exact:", "approximate:")  # a fold's path when a fast path computed it


def fold_compute(results: Iterable[FoldResult]) -> FoldCompute:
    """Summed fit + predict time of the computed folds, and the brute-force time the fast
    path saved: its folds times the mean brute-force time of the sampled ones, less the
    fast path's own time. None when no fold was sampled (no fast path, or none timed)."""
    from .results import NOT_RUN_PATH  # numpy: not at import time (the CLI starts fast)

    total = fast_seconds = 0.0
    fast = 0
    timed: list[float] = []
    for result in results:
        if result.path == NOT_RUN_PATH:
            continue
        seconds = result.fit_seconds + result.predict_seconds
        total += seconds
        if result.path.startswith(FAST_PATH_PREFIXES):
            fast += 1
            fast_seconds += seconds
            brute = result.extra.get(BRUTE_FORCE_KEY)
            if isinstance(brute, int | float) and math.isfinite(brute) and brute >= 0:
                timed.append(float(brute))
    if not timed:
        return FoldCompute(total, fast)
    mean = sum(timed) / len(timed)
    return FoldCompute(total, fast, len(timed), mean, max(0.0, fast * mean - fast_seconds))


@dataclass(frozen=True)
class Usage:
    """What one run used. Cluster runs fill the pod figures; local runs the process ones."""

    executor: str = "local"  # local | cluster
    core_seconds: float = 0.0  # requested cores x pod running time (cluster)
    gpu_seconds: float = 0.0
    memory_gib_seconds: float = 0.0
    pods_started: int = 0
    pods_running: int = 0
    retries: int = 0
    preemptions: int = 0
    process_cpu_seconds: float = 0.0  # local: this process and its workers, user + system
    wall_seconds: float = 0.0  # local: the fan-out's elapsed time
    fold_seconds: float = 0.0
    fast_path_folds: int = 0
    brute_force_fold_seconds: float | None = None
    brute_force_samples: int = 0
    saved_seconds: float | None = None
    cost: float | None = None
    prices: str | None = None  # the price table the cost was computed with

    @property
    def core_hours(self) -> float:
        return self.core_seconds / 3600.0

    @property
    def gpu_hours(self) -> float:
        return self.gpu_seconds / 3600.0

    def with_folds(self, compute: FoldCompute) -> Usage:
        return replace(
            self,
            fold_seconds=compute.fold_seconds,
            fast_path_folds=compute.fast_path_folds,
            brute_force_fold_seconds=compute.brute_force_fold_seconds,
            brute_force_samples=compute.brute_force_samples,
            saved_seconds=compute.saved_seconds,
        )

    def priced(self, prices: Prices | None) -> Usage:
        """With the estimated cost. Locally the process CPU seconds stand for core-seconds
        (no request was made: a core was busy for that long)."""
        if prices is None or not prices.any:
            return replace(self, cost=None, prices=None)
        cores = self.core_seconds if self.executor == "cluster" else self.process_cpu_seconds
        cost = (
            cores / 3600 * prices.core_hour
            + self.gpu_seconds / 3600 * prices.gpu_hour
            + self.memory_gib_seconds / 3600 * prices.gib_hour
        )
        return replace(self, cost=cost, prices=prices.to_text())

    def to_json(self) -> dict[str, Any]:
        return {_camel(k): v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Usage:
        known = {_camel(f.name): f.name for f in fields(cls)}
        return cls(**{known[k]: v for k, v in data.items() if k in known})

    def rows(self) -> list[tuple[str, str]]:
        """(label, text) lines for the terminal summary and the report (labels of at most
        11 characters: the summary's column stays as wide as "computed by")."""
        rows: list[tuple[str, str]] = []
        if self.executor == "cluster":
            text = f"{self.core_hours:.3f} core-h"
            if self.gpu_seconds:
                text += f", {self.gpu_hours:.3f} GPU-h"
            text += f", {self.memory_gib_seconds / 3600:.3f} GiB-h requested"
            rows.append(("resources", text))
            pods = f"{self.pods_started} started"
            if self.pods_running:
                pods += f" ({self.pods_running} running)"
            rows.append(("pods", f"{pods}, {self.retries} retries, {self.preemptions} preempted"))
        else:
            rows.append(
                (
                    "resources",
                    f"{self.process_cpu_seconds:.2f} CPU-s in {self.wall_seconds:.2f} s "
                    "(this process and its workers)",
                )
            )
        rows.append(("fold time", f"{self.fold_seconds:.2f} s fit + predict"))
        if self.saved_seconds is not None and self.brute_force_fold_seconds is not None:
            rows.append(
                (
                    "saved",
                    f"~{self.saved_seconds:.2f} s of brute force by the fast path "
                    f"({self.fast_path_folds} folds x {self.brute_force_fold_seconds:.4f} s, "
                    f"timed on {self.brute_force_samples} folds)",
                )
            )
        if self.cost is not None:
            rows.append(("cost", f"~{self.cost:.4g} estimated (prices {self.prices})"))
        return rows


def usage_bytes(usage: Usage) -> bytes:
    return json.dumps(usage.to_json(), indent=2, allow_nan=False).encode()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    special = {"gib": "GiB", "gpu": "Gpu"}
    return head + "".join(special.get(p, p.title()) for p in rest)


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # pool workers, once joined
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class ProcessClock:
    """A local run's resources: the CPU time of this process and its (finished) workers,
    and the elapsed time, from ``start()`` to ``usage()``."""

    cpu: float
    wall: float

    @classmethod
    def start(cls) -> ProcessClock:
        return cls(_cpu_seconds(), time.perf_counter())

    def usage(self) -> Usage:
        return Usage(
            executor="local",
            process_cpu_seconds=max(0.0, _cpu_seconds() - self.cpu),
            wall_seconds=max(0.0, time.perf_counter() - self.wall),
        )


def finished_usage(
    store: Store,
    plan: Plan,
    results: Iterable[FoldResult],
    measured: Usage | None,
    prices: Prices | None,
) -> Usage | None:
    """The usage a finished local run reports (and stores as usage.json); without a
    measurement (`loocv report`), the stored one, priced again if prices are given."""
    key = plan.location.artifact(USAGE_ARTIFACT)
    if measured is None:
        try:
            stored = Usage.from_json(json.loads(store.get(key)))
        except (KeyError, ValueError, TypeError):
            return None
        # The operator's usage.json has the pods; the folds' figures come from every row
        # here (the brute-force time a fast path saved is only in the rows).
        stored = stored.with_folds(fold_compute(results))
        return stored.priced(prices) if prices is not None else stored
    usage = measured.with_folds(fold_compute(results)).priced(prices)
    store.put(key, usage_bytes(usage))
    return usage
