"""The report's drill-down sections: worst samples, label-noise candidates, failures,
execution, and the manifest."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from ..partial import NOISE_CONFIDENCE
from .cells import e, fmt, section, table, td, tdn
from .quality import Context

if TYPE_CHECKING:
    from ..plan import Plan
    from ..summary import NoiseCandidate, RunSummary, WorstSample


def _sample_cell(item: WorstSample | NoiseCandidate) -> str:
    """The id; the row only when the id is not simply the row number."""
    sample_id, row = item.id, item.row
    if sample_id is None or str(sample_id) == str(row):
        return tdn(row, fmt(row))
    return td(f'{e(sample_id)} <small class="na">row {fmt(row)}</small>')


def _proba_of(ctx: Context) -> dict[int, np.ndarray]:
    if ctx.pooled.proba is None:
        return {}
    return {int(r): ctx.pooled.proba[i] for i, r in enumerate(ctx.pooled.rows)}


def _p(proba: np.ndarray | None, ctx: Context, label: Any) -> str:
    if proba is None or str(label) not in ctx.classes:
        return tdn(None)
    return tdn(float(proba[ctx.classes.index(str(label))]))


def worst(ctx: Context, regression: bool) -> str:
    items = ctx.summary.worst_samples
    if not items:
        return section(
            "worst",
            "Worst samples",
            "the held-out samples with the largest loss.",
            "<p>No evaluated samples yet.</p>",
        )
    if regression:
        rows = [
            [
                _sample_cell(i),
                tdn(i.y_true),
                tdn(i.y_pred),
                tdn(_diff(i.y_pred, i.y_true)),
                tdn(i.loss),
            ]
            for i in items
        ]
        header = ["sample", "true", "predicted", "error", "squared error"]
        numeric: tuple[int, ...] = (1, 2, 3, 4)
    else:
        proba = _proba_of(ctx)
        rows = []
        for i in items:
            p = proba.get(i.row)
            rows.append(
                [
                    _sample_cell(i),
                    td(e(ctx.name(i.y_true))),
                    td(e(ctx.name(i.y_pred))),
                    tdn(i.loss),
                    _p(p, ctx, i.y_true),
                    _p(p, ctx, i.y_pred),
                ]
            )
        header = ["sample", "true", "predicted", "loss", "P(true)", "P(predicted)"]
        numeric = (3, 4, 5)
    return section(
        "worst",
        "Worst samples",
        "the held-out samples the model got most wrong (largest loss); a sample that stays "
        "here across models is worth checking in the data. Every sample: predictions.csv.",
        table(header, rows, sortable=True, numeric=numeric),
    )


def _diff(a: Any, b: Any) -> float | None:
    try:
        return float(a) - float(b)
    except (TypeError, ValueError):
        return None


def noise(ctx: Context) -> str:
    items = ctx.summary.label_noise_candidates
    body = (
        table(
            ["sample", "label", "predicted", "confidence"],
            [
                [
                    _sample_cell(i),
                    td(e(ctx.name(i.y_true))),
                    td(e(ctx.name(i.y_pred))),
                    tdn(i.confidence),
                ]
                for i in items
            ],
            sortable=True,
            numeric=(3,),
        )
        if items
        else "<p>None.</p>"
    )
    return section(
        "noise",
        "Label-noise candidates",
        f"misclassified with a predicted-class probability of at least {NOISE_CONFIDENCE:g}: "
        "either the model is confidently wrong or the label is; check these labels first.",
        body,
    )


def failures(summary: RunSummary) -> str:
    how = (
        "folds that raised at fit or predict time, grouped by error type; their samples "
        "have no prediction and are left out of every metric."
    )
    types = summary.failure_types
    if not types:
        return section("failures", "Failures", how, "<p>No fold failed.</p>")
    listed = summary.failures
    failed = summary.folds.failed
    parts = [
        table(
            ["error type", "folds"],
            [[td(e(t)), tdn(n)] for t, n in types.items()],
            sortable=True,
            numeric=(1,),
        )
    ]
    if failed > len(listed):
        parts.append(f"<p>The first {len(listed)} of {fmt(failed)} failed folds:</p>")
    parts.append(
        table(
            ["fold", "sample ids", "type", "message"],
            [
                [
                    tdn(f.fold),
                    td(e(", ".join(str(i) for i in f.ids))),
                    td(e(f.type)),
                    td(f"<pre>{e(f.message)}</pre>"),
                ]
                for f in listed
            ],
            sortable=True,
            numeric=(0,),
        )
    )
    return section("failures", "Failures", how, *parts)


def execution(plan: Plan, summary: RunSummary, versions: dict[str, str]) -> str:
    timing = summary.timing
    paths = summary.paths
    trainers = summary.trainer_versions
    parts = [
        table(
            ["median fit (s)", "median predict (s)", "total fit (s)"],
            [
                [
                    tdn(timing.fit_seconds_median),
                    tdn(timing.predict_seconds_median),
                    tdn(timing.fit_seconds_total),
                ]
            ],
            numeric=(0, 1, 2),
        ),
        table(
            ["computed by", "folds"], [[td(e(p)), tdn(n)] for p, n in paths.items()], numeric=(1,)
        ),
        f'<p class="meta">batching: {e(plan.batching.message or plan.batching.mode)}</p>',
        *_oom_lines(plan),
        table(
            ["trainer version", "folds"],
            [[td(e(v)), tdn(n)] for v, n in trainers.items()],
            numeric=(1,),
        ),
        '<p class="meta">report written with '
        + e(", ".join(f"{k} {v}" for k, v in versions.items()))
        + "</p>",
    ]
    return section(
        "execution",
        "Execution",
        "how the folds were computed (an exact fast path or brute force) and how long fitting "
        "took; the versions say what to install to reproduce the run.",
        *parts,
    )


def manifest(plan: Plan) -> str:
    spec = json.dumps(plan.spec.model_dump(mode="json", by_alias=True, exclude_none=True), indent=2)
    return section(
        "manifest",
        "Manifest",
        "the spec this run was planned with; the digests identify the exact spec and data.",
        f'<p class="meta">spec digest {e(plan.spec_digest)} · dataset digest '
        f"{e(plan.dataset_digest)}</p>",
        f"<details><summary>spec (JSON)</summary><pre>{e(spec)}</pre></details>",
    )


def _oom_lines(plan: Plan) -> list[str]:
    """What the operator did about OOM-killed pods (plan.json's oom log), one line a step."""
    if not plan.oom:
        return []
    steps = "".join(f"<li>{e(step.message())}</li>" for step in plan.oom.steps)
    return [f'<p class="meta">out of memory: {e(plan.oom.summary())}</p><ul>{steps}</ul>']
