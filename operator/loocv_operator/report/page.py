"""report.html: one self-contained page — inline CSS, inline SVG, one small inline script
(sortable tables), no external resource — that opens from a file or a bucket."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..aggregator import aggregate
from ..summary import RunSummary, SummaryLike, as_summary
from . import quality, samples
from .assets import SCRIPT, STYLE
from .cells import e
from .describe import class_names, dataset_text, pipeline_text, strategy_text, versions
from .gatetable import banner, gate_rows, verdict_html
from .usage import usage_section

if TYPE_CHECKING:
    from ..gate import GateVerdict
    from ..plan import Plan
    from ..results import FoldResult
    from ..usage import Usage


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _header(plan: Plan, names: dict[str, str]) -> str:
    location = plan.location
    title = f"LOOCV report: {location.namespace}/{location.name}"
    facts = [
        f"{plan.task}",
        f"{plan.n_samples:,} samples",
        f"{plan.n_folds:,} folds",
        f"dataset {dataset_text(plan)}",
        f"strategy {strategy_text(plan)}",
    ]
    if plan.classes:
        facts.append("classes " + ", ".join(names.get(str(c), str(c)) for c in plan.classes))
    facts.append(f"seed {plan.spec.execution.seed}")
    return (
        f"<header><h1>{e(title)}</h1>"
        f'<div class="pipeline" title="the model: preprocessing steps, then the estimator">'
        f"{e(pipeline_text(plan))}</div>"
        f'<p class="meta">{"".join(f"<span>{e(f)}</span>" for f in facts)}</p>'
        f'<p class="meta"><span>run uid {e(location.uid)}</span><span>generated {now()}</span>'
        "</p></header>"
    )


def _progress(summary: RunSummary) -> str:
    folds = summary.folds
    cards = [
        ("folds done", f"{folds.done:,} / {folds.total:,}"),
        ("succeeded", f"{folds.succeeded:,}"),
        ("failed", f"{folds.failed:,}"),
        ("missing", f"{folds.missing:,}"),
        ("samples evaluated", f"{summary.samples.evaluated:,}"),
        ("failure rate", f"{100 * summary.failure_rate:.2f}%"),
    ]
    return (
        '<div class="cards">'
        + "".join(f'<div class="card"><small>{e(k)}</small><b>{e(v)}</b></div>' for k, v in cards)
        + "</div>"
    )


def report_html(
    plan: Plan,
    summary: SummaryLike,
    verdict: GateVerdict,
    results: list[FoldResult],
    usage: Usage | None = None,
) -> str:
    """The page: header (pipeline, data, strategy), warnings, the gate against the values
    achieved, pooled metrics with a baseline, per-class recall, confusion matrix, curves,
    calibration, losses, worst samples, label-noise candidates, failures, execution, spec."""
    summary = as_summary(summary)
    pooled = aggregate(plan, results).pooled()
    names = class_names(plan)
    ctx = quality.Context(summary, pooled, [str(c) for c in plan.classes or []], names)
    regression = plan.task == "regression"
    body = [
        _header(plan, names),
        banner(summary),
        verdict_html(verdict, gate_rows(plan.spec.gate, summary, names)),
        _progress(summary),
        quality.headline(ctx, regression),
    ]
    if regression:
        body += [quality.regression(ctx), quality.losses(ctx, "squared error")]
    else:
        body += [
            quality.per_class(ctx),
            quality.confusion(ctx),
            quality.curves(ctx),
            quality.calibration(ctx),
            quality.losses(ctx, "log loss"),
        ]
    body += [samples.worst(ctx, regression)]
    if not regression:
        body.append(samples.noise(ctx))
    body += [
        samples.failures(summary),
        samples.execution(plan, summary, versions()),
        usage_section(usage),
        samples.manifest(plan),
    ]
    title = f"LOOCV report: {plan.location.namespace}/{plan.location.name}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{e(title)}</title><style>{STYLE}</style></head><body><main>",
            *[part for part in body if part],
            f"</main><script>{SCRIPT}</script></body></html>",
        ]
    )
