"""The report's quality sections: headline metrics against a baseline, per-class recall
with intervals, the confusion matrix, ROC / precision-recall, calibration, losses, and the
regression pictures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..aggregator import Pooled
from ..stats import ECE_BINS
from ..summary import ClassificationMetrics, RunSummary
from . import charts
from .cells import NA, e, figure, fmt, interval, section, table, td, tdn
from .stats import (
    Baseline,
    class_recalls,
    classification_baseline,
    ece_equal_mass,
    pr_curve,
    regression_baseline,
    roc_curve,
)


@dataclass(frozen=True)
class Context:
    """What every section reads: the summary, the pooled predictions, the class names."""

    summary: RunSummary
    pooled: Pooled
    classes: list[str]  # str(class) in the plan's order
    names: dict[str, str]  # str(class) -> shown name

    @property
    def classification(self) -> ClassificationMetrics:
        metrics = self.summary.classification_metrics
        return metrics if metrics is not None else ClassificationMetrics()

    def name(self, label: Any) -> str:
        return self.names.get(str(label), str(label))

    @property
    def probabilistic(self) -> bool:
        return self.pooled.proba is not None and self.pooled.rows.size > 0


def _binary(ctx: Context) -> tuple[np.ndarray, np.ndarray] | None:
    if len(ctx.classes) != 2 or not ctx.probabilistic or (ctx.pooled.y_true_idx < 0).any():
        return None
    assert ctx.pooled.proba is not None
    return ctx.pooled.y_true_idx == 1, ctx.pooled.proba[:, 1]


def headline(ctx: Context, regression: bool) -> str:
    m = ctx.summary.metric  # by the serialized names the rows and the baselines share
    if regression:
        base = regression_baseline(ctx.pooled.y_true_value)
        rows = [
            ("MAE", "mae", "maeCI95", "mean absolute error of the held-out predictions"),
            ("RMSE", "rmse", "rmseCI95", "root mean squared error; weighs large misses more"),
            ("R²", "r2", "r2CI95", "share of the target's variance explained; 0 = the mean"),
        ]
    else:
        base = classification_baseline(ctx.pooled.y_true_idx, len(ctx.classes))
        rows = [
            ("accuracy", "accuracy", "accuracyCI95", "share of held-out samples predicted right"),
            ("log loss", "logLoss", "", "mean -log P(true class); punishes confident mistakes"),
            ("Brier score", "brier", "", "mean squared error of the probabilities"),
            (
                f"ECE, {ctx.classification.ece_bins} equal-width bins (gate)",
                "ece",
                "",
                "mean |accuracy - confidence| over bins; the gate's ece",
            ),
        ]
    cells = [
        [
            td(e(label)),
            tdn(m(key)),
            td(interval(m(ci)) if ci else ""),
            tdn(base.values.get(key) if base else None),
            td(e(what)),
        ]
        for label, key, ci, what in rows
    ]
    if not regression and ctx.probabilistic:
        assert ctx.pooled.proba is not None
        mass = ece_equal_mass(ctx.pooled.y_true_idx, ctx.pooled.proba, ECE_BINS)
        cells.append(
            [
                td(e(f"ECE, {ECE_BINS} equal-mass bins")),
                tdn(mass),
                td(""),
                td(""),
                td("the same with bins of equal sample counts (not gated)"),
            ]
        )
        binary = _binary(ctx)
        curve = roc_curve(*binary) if binary else None
        if curve is not None:
            cells.append(
                [
                    td("ROC AUC"),
                    tdn(curve.area),
                    td(""),
                    tdn(0.5),
                    td(
                        e(
                            f"P(score of a random {ctx.name(ctx.classes[1])} > a random "
                            f"{ctx.name(ctx.classes[0])})"
                        )
                    ),
                ]
            )
    cells.append(
        [
            td("per-sample loss, mean ± std"),
            td(f"{fmt(ctx.summary.metrics.loss_mean)} ± {fmt(ctx.summary.metrics.loss_std)}"),
            td(""),
            td(""),
            td("spread of the losses: a long tail means a few very wrong samples"),
        ]
    )
    note = _baseline_note(base)
    if base is not None and not regression and base.values["accuracy"] < 1 / len(ctx.classes):
        note += (
            '<p class="meta">The majority baseline is below chance: with balanced classes, '
            "leaving a sample out makes its own class the minority of the rest, so the "
            "majority vote is wrong for it (a known leave-one-out effect).</p>"
        )
    return section(
        "metrics",
        "Pooled metrics",
        "each metric pools every held-out prediction; the interval is a 95% interval "
        "(Wilson for accuracy, bootstrap for regression); the baseline ignores the features "
        "and is evaluated by the same leave-one-out, so the model's features matter only as "
        "far as it beats the baseline.",
        table(["metric", "value", "95% interval", "baseline", "meaning"], cells, numeric=(1, 3)),
        note,
    )


def _baseline_note(base: Baseline | None) -> str:
    if base is None:
        return ""
    return f'<p class="meta">Baseline: {e(base.name)}, fitted on each fold\'s training samples.</p>'


def per_class(ctx: Context) -> str:
    m = ctx.classification.per_class
    recalls = class_recalls(ctx.classes, ctx.pooled.y_true_idx, ctx.pooled.y_pred_idx)
    rows = []
    for r in recalls:
        stats = m.get(r.label)
        empty = r.support == 0
        rows.append(
            [
                td(e(ctx.name(r.label))),
                tdn(r.support),
                tdn(r.recall, fmt(r.recall) + _bar(r.recall) if r.recall is not None else NA),
                td(interval([r.low, r.high]) if not empty else NA),
                tdn(None if empty or stats is None else stats.precision, None if not empty else NA),
                tdn(None if empty or stats is None else stats.f1, None if not empty else NA),
            ]
        )
    return section(
        "per-class",
        "Per class",
        "recall is the share of a class's held-out samples predicted as that class, with a "
        "95% Wilson interval (wide for small classes); n/a: no held-out sample of the class. "
        "Click a header to sort.",
        table(
            ["class", "support", "recall", "recall 95% interval", "precision", "f1"],
            rows,
            sortable=True,
            numeric=(1, 2, 4, 5),
        ),
    )


def _bar(value: float | None) -> str:
    return f'<span class="bar" style="width:{60 * (value or 0):.0f}px"></span>'


def confusion(ctx: Context) -> str:
    cm = ctx.classification.confusion_matrix
    labels, matrix = cm.labels, cm.matrix
    if not labels:
        return ""
    if len(labels) > 40:
        body = f"<p>{len(labels)} classes: too many to draw; the matrix is in report.json.</p>"
    else:
        rows = []
        for label, counts in zip(labels, matrix, strict=False):
            total = sum(counts) or 1
            cells = [td(f"<b>{e(ctx.name(label))}</b>")]
            for count in counts:
                share = count / total
                ink = "#fff" if share > 0.55 else "#1a202c"
                cells.append(
                    f'<td style="background:rgba(43,108,176,{share:.3f});color:{ink}">'
                    f"{count:,}<small>{100 * share:.0f}%</small></td>"
                )
            rows.append(cells)
        header = ["true \\ predicted", *[e(ctx.name(label)) for label in labels]]
        body = table(header, rows, css="cm")
    return section(
        "confusion",
        "Confusion matrix",
        "rows are the true class, columns the predicted one; each cell gives the count and its "
        "share of the row (the diagonal is each class's recall).",
        body,
    )


def curves(ctx: Context) -> str:
    binary = _binary(ctx)
    if binary is None:
        return ""
    positive, score = binary
    roc, pr = roc_curve(positive, score), pr_curve(positive, score)
    if roc is None or pr is None:
        return ""
    name = ctx.name(ctx.classes[1])
    return section(
        "curves",
        "ROC and precision-recall",
        f"each point is a threshold on P({name}); ROC plots the true against the false positive "
        "rate (AUC 0.5 = chance), precision-recall shows what a positive call is worth when "
        "positives are rare (the dashed line is the no-skill precision).",
        '<div class="charts">',
        figure(charts.roc_svg(roc, name), f"ROC, AUC {roc.area:.4f}"),
        figure(charts.pr_svg(pr, name, float(positive.mean())), f"average precision {pr.area:.4f}"),
        "</div>",
    )


def calibration(ctx: Context) -> str:
    if not ctx.probabilistic:
        if ctx.pooled.rows.size:
            return section(
                "calibration",
                "Calibration",
                "the model gives no probabilities.",
                "<p>The model gives no class probabilities: no log loss, Brier score, "
                "calibration or label-noise candidates.</p>",
            )
        return ""
    return section(
        "calibration",
        "Calibration",
        "bars on the diagonal mean the probabilities can be taken at face value; bars below it "
        "mean over-confidence. The lower panel counts the samples per bin on a log scale (a bin "
        "with few samples says little). The gate's ECE uses these equal-width bins.",
        '<div class="charts">',
        figure(charts.reliability_svg(ctx.pooled), "top-label reliability, equal-width bins"),
        "</div>",
    )


def losses(ctx: Context, what: str) -> str:
    """Only for a continuous loss: a histogram of 0/1 losses would be two bars."""
    loss = ctx.pooled.loss[np.isfinite(ctx.pooled.loss)]
    if loss.size == 0 or np.unique(loss).size <= 2:
        return ""
    return section(
        "losses",
        "Per-sample loss",
        f"how the per-sample {what} is spread; the right tail is the samples worth a look "
        "(listed under Worst samples). Counts are on a log scale.",
        '<div class="charts">',
        figure(charts.loss_svg(loss, what), what),
        "</div>",
    )


def regression(ctx: Context) -> str:
    svgs = charts.regression_svgs(ctx.pooled)
    if not svgs:
        return ""
    return section(
        "predictions",
        "Predictions",
        "points on the dashed diagonal are exact predictions; a trend in the residuals means a "
        "bias the model misses. Hover a point for its sample.",
        '<div class="charts">',
        *(figure(s, "") for s in svgs),
        "</div>",
    )
