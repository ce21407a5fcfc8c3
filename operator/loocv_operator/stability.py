"""Stability under nondeterminism (``strategy.repeats``; the guide's F4 and M5).

A forest, a boosted model, an MLP or SGD gives a different model for another seed, so one
LOOCV pass reports one draw. A repeated run is r ordinary runs, one per seed, each stored
under its own results key (the seed is part of it), plus this summary computed from their
predictions.csv and report.json: each metric's mean and standard deviation across repeats,
and per sample how often its predicted label changed. Samples whose prediction depends on
the seed are listed: a gate passed on them passed by luck.

Seeds: repeat 0 uses ``execution.seed`` itself (so it is the ordinary run, and reuses its
stored folds); repeat k >= 1 uses the first 4 bytes (big-endian) of
sha256("loocv-repeat:<execution.seed>:<k>"). Deterministic: the same manifest gives the
same seeds, and a rerun resumes every repeat.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from .compare.runs import RunArtifacts
from .errors import InvalidInput
from .spec import LOOCVRun
from .store import Store

FIELD = "spec.strategy.repeats"
UNSTABLE_LISTED = 100  # samples named in report.json (the count is always complete)
_METRICS = {
    "classification": ("accuracy", "logLoss", "brier", "ece"),
    "regression": ("mae", "rmse", "r2"),
}


def repeat_seeds(seed: int, repeats: int) -> list[int]:
    """The seed of every repeat (see the module's docstring)."""
    seeds = [seed]
    for k in range(1, repeats):
        digest = hashlib.sha256(f"loocv-repeat:{seed}:{k}".encode()).digest()
        seeds.append(int.from_bytes(digest[:4], "big"))
    return seeds


def _random_parameters(estimator: Any) -> list[str]:
    return sorted(
        name
        for name in estimator.get_params(deep=True)
        if name == "random_state" or name.endswith("__random_state")
    )


def check_repeatable(run: LOOCVRun, estimator: Any) -> None:
    """Refuse repeats that could only repeat the same numbers: a deterministic estimator
    (no random_state anywhere in it), or a random_state fixed in the manifest."""
    model = run.spec.model
    if not _random_parameters(estimator):
        raise InvalidInput(
            FIELD,
            f"{model.estimator} (with its steps) has no random_state: it is deterministic, "
            "so every repeat would give the same predictions; drop repeats",
        )
    if "random_state" in model.params:
        raise InvalidInput(
            FIELD,
            "spec.model.params.random_state is fixed, so every repeat would fit the same "
            "model; remove it (repeats set random_state from seeds derived from "
            "execution.seed)",
        )


def repeat_runs(run: LOOCVRun) -> list[LOOCVRun]:
    """One ordinary run per repeat: repeats cleared, execution.seed set to the repeat's."""
    repeats = run.spec.strategy.repeats or 1
    out = []
    for seed in repeat_seeds(run.spec.execution.seed, repeats):
        spec = run.spec.model_copy(
            update={
                "strategy": run.spec.strategy.model_copy(update={"repeats": None}),
                "execution": run.spec.execution.model_copy(update={"seed": seed}),
            }
        )
        out.append(run.model_copy(update={"spec": spec}))
    return out


@dataclass(frozen=True)
class MetricSpread:
    name: str
    values: list[float | None]  # one per repeat
    mean: float | None
    std: float | None  # sample standard deviation (n - 1)


@dataclass(frozen=True)
class SampleStability:
    row: int
    id: str
    y_true: str
    predictions: dict[str, int]  # label -> repeats predicting it
    agreement: float  # share of repeats that agree with the most common label
    changed: int  # repeats whose label differs from the most common one


@dataclass(frozen=True)
class Stability:
    repeats: int
    seeds: list[int]
    runs: list[str]  # namespace/name/uid of every repeat
    metrics: list[MetricSpread]
    samples: int  # samples predicted in every repeat
    unstable: list[SampleStability] = field(default_factory=list)  # agreement < 1, worst first
    left_out: int = 0  # samples without a prediction in some repeat

    def to_json(self) -> dict[str, Any]:
        return {
            "repeats": self.repeats,
            "seeds": self.seeds,
            "runs": self.runs,
            "seedRule": "repeat 0: execution.seed; repeat k: first 4 bytes (big-endian) of "
            "sha256('loocv-repeat:<seed>:<k>')",
            "metrics": {
                m.name: {"values": m.values, "mean": m.mean, "std": m.std} for m in self.metrics
            },
            "samples": self.samples,
            "samplesLeftOut": self.left_out,
            "unstableSamples": len(self.unstable),
            "unstable": [
                {
                    "row": s.row,
                    "id": s.id,
                    "yTrue": s.y_true,
                    "predictions": s.predictions,
                    "agreement": s.agreement,
                    "changed": s.changed,
                }
                for s in self.unstable[:UNSTABLE_LISTED]
            ],
        }


def _spread(name: str, runs: Sequence[RunArtifacts]) -> MetricSpread:
    values: list[float | None] = []
    for run in runs:
        value = run.metrics.get(name)
        values.append(
            float(value) if isinstance(value, int | float) and math.isfinite(value) else None
        )
    known = [v for v in values if v is not None]
    if len(known) < len(values) or not known:
        return MetricSpread(name, values, None, None)
    return MetricSpread(name, values, statistics.fmean(known), statistics.stdev(known))


def stability_of(runs: Sequence[RunArtifacts], seeds: Sequence[int]) -> Stability:
    """The stability summary of the repeats of one run (same data, same folds)."""
    task = runs[0].task
    names = [n for n in _METRICS.get(task, ()) if any(n in r.metrics for r in runs)]
    rows = set.intersection(*(set(r.samples) for r in runs))
    every = sorted(r for r in rows if all(run.samples[r].ok for run in runs))
    left_out = len(set.union(*(set(r.samples) for r in runs))) - len(every)
    unstable: list[SampleStability] = []
    if task == "classification":
        for row in every:
            votes = Counter(str(run.samples[row].y_pred) for run in runs)
            top = votes.most_common(1)[0][1]
            if top < len(runs):
                first = runs[0].samples[row]
                unstable.append(
                    SampleStability(
                        row=row,
                        id=first.id,
                        y_true=first.y_true,
                        predictions=dict(sorted(votes.items())),
                        agreement=top / len(runs),
                        changed=len(runs) - top,
                    )
                )
        unstable.sort(key=lambda s: (s.agreement, s.row))
    return Stability(
        repeats=len(runs),
        seeds=list(seeds),
        runs=[r.label for r in runs],
        metrics=[_spread(n, runs) for n in names],
        samples=len(every),
        unstable=unstable,
        left_out=left_out,
    )


def _n(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def stability_text(stability: Stability) -> str:
    """What the terminal shows after the repeats."""
    s = stability
    lines = [f"stability over {s.repeats} repeats (seeds {', '.join(map(str, s.seeds))})"]
    for m in s.metrics:
        lines.append(f"  {m.name:<9} mean {_n(m.mean)}  sd {_n(m.std)}")
    lines.append(
        f"  {len(s.unstable)} of {s.samples} samples changed their predicted label across "
        "repeats" + (f"; {s.left_out} samples left out (failed or missing)" if s.left_out else "")
    )
    for item in s.unstable[:10]:
        votes = ", ".join(f"{label}: {n}" for label, n in item.predictions.items())
        lines.append(f"    {item.id} (true {item.y_true}): {votes}")
    return "\n".join(lines)


def stability_html(stability: Stability) -> str:
    """A section for report.html (self-contained, escaped), for the report to include."""
    s = stability
    rows = "".join(
        f"<tr><td>{escape(m.name)}</td><td>{_n(m.mean)}</td><td>{_n(m.std)}</td>"
        f"<td>{escape(', '.join(_n(v) for v in m.values))}</td></tr>"
        for m in s.metrics
    )
    samples = "".join(
        f"<tr><td>{item.row}</td><td>{escape(item.id)}</td><td>{escape(item.y_true)}</td>"
        f"<td>{escape(', '.join(f'{k}: {v}' for k, v in item.predictions.items()))}</td>"
        f"<td>{item.agreement:.2f}</td></tr>"
        for item in s.unstable[:UNSTABLE_LISTED]
    )
    return (
        f"<h2>Stability over {s.repeats} repeats</h2>"
        f"<p>seeds {escape(', '.join(map(str, s.seeds)))}</p>"
        "<table><tr><th>metric</th><th>mean</th><th>sd</th><th>per repeat</th></tr>"
        f"{rows}</table>"
        f"<p>{len(s.unstable)} of {s.samples} samples changed their predicted label.</p>"
        + (
            "<table><tr><th>row</th><th>sample id</th><th>true</th><th>predictions</th>"
            f"<th>agreement</th></tr>{samples}</table>"
            if samples
            else ""
        )
    )


def stability_page(stability: Stability, title: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>"
        f"{stability_html(stability)}</body></html>"
    )


RunOne = Callable[[LOOCVRun], tuple[int, Any, Any]]  # (exit code, store, plan) of one run
STOP = (1, 2, 130)  # an error, bad input, interrupted: the other repeats cannot help


def run_repeats(run: LOOCVRun, estimator: Any, run_one: RunOne) -> int:
    """Every repeat as an ordinary run (resumable), then the stability summary. The exit
    code is 0 only when every repeat passed its gate: a model that passes with some seeds
    only fails (3)."""
    from .compare.runs import load_from

    check_repeatable(run, estimator)
    runs = repeat_runs(run)
    seeds = [r.spec.execution.seed for r in runs]
    codes: list[int] = []
    artifacts: list[RunArtifacts] = []
    first: tuple[Any, str] | None = None
    for k, one in enumerate(runs):
        print(f"\nrepeat {k + 1}/{len(runs)}: seed {seeds[k]}", file=sys.stderr, flush=True)
        code, store, plan = run_one(one)
        if code in STOP or store is None or plan is None:
            return code
        codes.append(code)
        prefix = plan.location.prefix
        artifacts.append(load_from(store, prefix, store.uri(prefix)))
        first = first or (store, prefix)
    assert first is not None
    stability = stability_of(artifacts, seeds)
    title = f"Stability: {run.metadata.namespace}/{run.metadata.name}"
    written = record_stability(first[0], first[1], stability, title)
    print("\n" + stability_text(stability))
    print("\nstability:\n" + "\n".join(f"  {uri}" for uri in written))
    failed = [k + 1 for k, code in enumerate(codes) if code != 0]
    if failed:
        print(f"\nthe gate failed in repeats {failed} of {len(runs)}", file=sys.stderr)
        return 3
    return 0


def record_stability(store: Store, prefix: str, stability: Stability, title: str) -> list[str]:
    """stability.json and stability.html beside repeat 0's report, and report.json's
    ``stability``; returns the addresses written."""
    data = stability.to_json()
    store.put(prefix + "stability.json", json.dumps(data, indent=2, allow_nan=False).encode())
    store.put(prefix + "stability.html", stability_page(stability, title).encode("utf-8"))
    report = json.loads(store.get(prefix + "report.json"))
    report["stability"] = data
    store.put(prefix + "report.json", json.dumps(report, indent=2, allow_nan=False).encode())
    return [store.uri(prefix + name) for name in ("stability.json", "stability.html")]
