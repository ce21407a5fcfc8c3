"""How a cluster run's folds are cut into Jobs (``execution.foldsPerJob``).

A pod pays a fixed cost before its first fold (scheduling, container start, importing
scikit-learn, loading the data: seconds) while a brute-force fold often takes milliseconds,
so one fold per pod wastes almost all of it. ``auto`` therefore sizes batches from
measurement, not from the fold count alone:

- a run an exact fast path covers is one batch: one pass computes every fold, and a second
  pod would only pay the fixed cost again;
- otherwise a small probe batch runs first; its pod's wall time and its folds' fit and
  predict seconds give the fixed cost F and the per-fold time t, and the remaining folds are
  cut so that each pod computes for at least ``TARGET_COMPUTE_RATIO`` x F, capped so that
  ``maxConcurrentJobs`` pods all get work.

An explicit ``foldsPerJob`` always wins. The choice and its figures are recorded in
plan.json, in the report and on the resource's status.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

TARGET_COMPUTE_RATIO = 20.0  # a pod computes for at least this many times its fixed cost
PROBE_FOLDS = 5  # folds in the probe batch: enough to time, few enough to finish quickly
MIN_OVERHEAD_SECONDS = 1.0  # no pod starts faster; also absorbs 1 s timestamp resolution
FALLBACK_OVERHEAD_SECONDS = 10.0  # when the probe's wall time cannot be read

MODE_EXPLICIT = "explicit"
MODE_FAST_PATH = "fast-path"
MODE_PROBING = "probing"
MODE_MEASURED = "measured"
MODE_SINGLE = "single"  # too few folds to be worth a probe
MODE_LOCAL = "local"  # the local executor cuts its own batches for its worker processes


@dataclass(frozen=True)
class Batching:
    """The batching decision and the figures behind it."""

    mode: str
    folds_per_job: int | None = None  # None while probing
    per_fold_seconds: float | None = None
    pod_overhead_seconds: float | None = None
    probe_folds: int | None = None
    message: str = ""

    @property
    def probing(self) -> bool:
        return self.mode == MODE_PROBING

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"mode": self.mode}
        for key, value in (
            ("foldsPerJob", self.folds_per_job),
            ("perFoldSeconds", self.per_fold_seconds),
            ("podOverheadSeconds", self.pod_overhead_seconds),
            ("probeFolds", self.probe_folds),
        ):
            if value is not None:
                data[key] = value
        if self.message:
            data["message"] = self.message
        return data

    @classmethod
    def from_json(cls, data: Any) -> Batching:
        if not isinstance(data, dict) or not isinstance(data.get("mode"), str):
            raise ValueError(f"batching must be an object with a mode, got {data!r}")
        return cls(
            mode=data["mode"],
            folds_per_job=_opt(data.get("foldsPerJob"), int),
            per_fold_seconds=_opt(data.get("perFoldSeconds"), float),
            pod_overhead_seconds=_opt(data.get("podOverheadSeconds"), float),
            probe_folds=_opt(data.get("probeFolds"), int),
            message=str(data.get("message") or ""),
        )


def _opt(value: Any, kind: type[int] | type[float]) -> Any:
    return None if value is None else kind(value)


def consecutive(indices: Sequence[int], size: int) -> list[list[int]]:
    """Runs of ``size`` fold indices, in order."""
    size = max(1, size)
    return [list(indices[i : i + size]) for i in range(0, len(indices), size)]


def initial_batches(
    n_folds: int, folds_per_job: int | str, fast_path: str | None, local: bool = False
) -> tuple[list[list[int]], Batching]:
    """The batches to plan before anything has run (the rest wait for the probe)."""
    everything = list(range(n_folds))
    if folds_per_job != "auto":
        size = int(folds_per_job)
        batches = consecutive(everything, size)
        return batches, Batching(
            MODE_EXPLICIT, size, message=f"foldsPerJob {size}: {len(batches)} Jobs"
        )
    if local:
        return [everything], Batching(
            MODE_LOCAL, message="local run: the executor batches folds for its processes"
        )
    if fast_path is not None:
        return [everything], Batching(
            MODE_FAST_PATH,
            n_folds,
            message=f"{fast_path} computes every fold in one pass: one Job",
        )
    if n_folds <= 2 * PROBE_FOLDS:
        return [everything], Batching(
            MODE_SINGLE, n_folds, message=f"{n_folds} folds: too few to be worth a probe"
        )
    return [everything[:PROBE_FOLDS]], Batching(
        MODE_PROBING,
        probe_folds=PROBE_FOLDS,
        message=f"timing a probe batch of {PROBE_FOLDS} folds before sizing the rest",
    )


def measured_size(
    per_fold_seconds: float, overhead_seconds: float, remaining: int, max_concurrent_jobs: int
) -> int:
    """Folds per Job: enough that compute is ≥ TARGET_COMPUTE_RATIO x the fixed cost, but no
    more than one Job per slot needs, so every slot of ``maxConcurrentJobs`` gets work; then
    evened out so the Jobs fill whole waves of the slots."""
    slots = max(1, max_concurrent_jobs)
    cap = max(1, math.ceil(remaining / slots))
    if per_fold_seconds <= 0:
        return cap
    wanted = math.ceil(TARGET_COMPUTE_RATIO * overhead_seconds / per_fold_seconds)
    size = max(1, min(cap, wanted))
    # Whole waves: a batch count that is a multiple of the slots, the folds spread evenly,
    # so the last wave does not leave slots idle behind one long Job (measured: 4 Jobs of
    # 3,046 + 857 folds on 2 slots ran one pod alone for a quarter of the run).
    batches = math.ceil(math.ceil(remaining / size) / slots) * slots
    return max(1, math.ceil(remaining / batches))


@dataclass(frozen=True)
class ProbeTiming:
    """What the probe batch tells: its folds' compute and its pod's wall time."""

    fold_seconds: Sequence[float]  # fit + predict of each probe fold that ran
    wall_seconds: float | None  # the probe Job from start to completion; None if unknown


def size_from_probe(
    batching: Batching,
    timing: ProbeTiming,
    remaining: int,
    max_concurrent_jobs: int,
    fallback_size: int,
) -> Batching:
    """The measured decision that ends probing."""
    times = [t for t in timing.fold_seconds if math.isfinite(t) and t >= 0]
    if not times:
        return replace(
            batching,
            mode=MODE_MEASURED,
            folds_per_job=fallback_size,
            message=(
                "the probe batch recorded no fold times (its folds failed or never ran); "
                f"{fallback_size} folds per Job from the fold count alone"
            ),
        )
    per_fold = sum(times) / len(times)
    if timing.wall_seconds is None:
        overhead = FALLBACK_OVERHEAD_SECONDS
        source = "assumed (the probe Job's times were not readable)"
    else:
        overhead = max(MIN_OVERHEAD_SECONDS, timing.wall_seconds - sum(times))
        source = "measured"
    size = measured_size(per_fold, overhead, remaining, max_concurrent_jobs)
    return replace(
        batching,
        mode=MODE_MEASURED,
        folds_per_job=size,
        per_fold_seconds=round(per_fold, 6),
        pod_overhead_seconds=round(overhead, 3),
        message=(
            f"probe: {per_fold * 1000:.3g} ms per fold, pod overhead {overhead:.3g} s "
            f"({source}); {size} folds per Job for the remaining {remaining} "
            f"(target compute {TARGET_COMPUTE_RATIO:g}x the overhead, "
            f"at most {max(1, math.ceil(remaining / max(1, max_concurrent_jobs)))} "
            f"to keep {max_concurrent_jobs} Jobs busy)"
        ),
    )


def unbatched(n_folds: int, batches: Iterable[Sequence[int]]) -> list[int]:
    """Folds no batch holds yet (waiting for the probe), in order."""
    held = {f for batch in batches for f in batch}
    return [f for f in range(n_folds) if f not in held]
