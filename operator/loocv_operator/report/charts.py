"""The report's pictures as inline SVG (see svg.py): reliability diagram, ROC and
precision-recall curves, loss histogram, predicted-vs-true and residuals."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from ..aggregator import Pooled
from ..stats import ECE_BINS, reliability
from .stats import Curve
from .svg import BLUE, GREY, ORANGE, PURPLE, Plot

MAX_POINTS = 5_000  # scatter plots: a seeded sample beyond this keeps the page light


def reliability_svg(pooled: Pooled) -> str:
    """Accuracy against mean confidence per equal-width bin (the gate's ECE bins), over a
    log-scale count histogram with each bin's count written on it."""
    assert pooled.proba is not None
    curve = reliability(pooled.y_true_idx, pooled.proba, ECE_BINS)
    filled = curve.counts > 0
    top = Plot((0, 1), (0, 1), height=300, margin=(14, 16, 40, 56))
    top.axes("confidence (predicted-class probability)", "accuracy in bin")
    top.line([0, 1], [0, 1], GREY, dash=True, width=1.2)
    lefts, rights = curve.edges[:-1], curve.edges[1:]
    titles = [
        f"confidence {a:.2f}-{b:.2f}: {c} samples, accuracy {acc:.3f}, mean confidence {conf:.3f}"
        if c
        else f"confidence {a:.2f}-{b:.2f}: no samples"
        for a, b, c, acc, conf in zip(
            lefts, rights, curve.counts, curve.accuracy, curve.confidence, strict=True
        )
    ]
    top.bars(
        lefts[filled],
        rights[filled],
        curve.accuracy[filled],
        color="#90cdf4",
        titles=[t for t, f in zip(titles, filled, strict=True) if f],
    )
    top.line(curve.confidence[filled], curve.accuracy[filled], ORANGE)
    top.points(curve.confidence[filled], curve.accuracy[filled], ORANGE, radius=3)
    peak = max(int(curve.counts.max()), 1)
    bottom = Plot((0, 1), (1, peak * 3), height=150, log_y=True, margin=(16, 16, 40, 56))
    bottom.axes("confidence", "samples (log)")
    bottom.bars(
        lefts,
        rights,
        curve.counts.astype(float),
        GREY,
        labels=[str(c) if c else "" for c in curve.counts],
        titles=titles,
    )
    return top.svg(
        "Reliability diagram",
        [
            (GREY, "perfect calibration"),
            ("#90cdf4", "accuracy in bin"),
            (ORANGE, "mean confidence → accuracy"),
        ],
    ) + bottom.svg("Samples per confidence bin (log scale)")


def roc_svg(curve: Curve, positive: str) -> str:
    plot = Plot((0, 1), (0, 1)).axes("false positive rate", f"true positive rate ({positive})")
    plot.line([0, 1], [0, 1], GREY, dash=True, width=1.2)
    plot.line(curve.x, curve.y, BLUE, step=False)
    plot.text(0.97, 0.06, f"AUC {curve.area:.4f}", anchor="end")
    return plot.svg(f"ROC curve, positive class {positive}", [(BLUE, "model"), (GREY, "chance")])


def pr_svg(curve: Curve, positive: str, prevalence: float) -> str:
    plot = Plot((0, 1), (0, 1.02)).axes(f"recall ({positive})", "precision")
    plot.line([0, 1], [prevalence, prevalence], GREY, dash=True, width=1.2)
    plot.line(curve.x, curve.y, PURPLE, step=True)
    plot.text(0.03, 0.06, f"average precision {curve.area:.4f}")
    return plot.svg(
        f"Precision-recall curve, positive class {positive}",
        [(PURPLE, "model"), (GREY, f"no-skill (prevalence {prevalence:.3f})")],
    )


def loss_svg(loss: NDArray[np.float64], what: str) -> str:
    """Histogram of per-sample losses with a log count axis: the few large losses — the
    samples worth a look — stay visible beside the crowd near 0."""
    bins = max(10, min(40, int(math.sqrt(loss.size))))
    counts, edges = np.histogram(loss, bins=bins)
    peak = max(int(counts.max()), 1)
    plot = Plot((float(edges[0]), float(edges[-1])), (1, peak * 2), log_y=True, height=240)
    plot.axes(f"per-sample {what}", "samples (log)")
    titles = [
        f"{a:.4g}-{b:.4g}: {c} samples"
        for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)
    ]
    plot.bars(edges[:-1], edges[1:], counts.astype(float), PURPLE, titles=titles)
    return plot.svg(f"Per-sample {what}")


def _subset(n: int) -> NDArray[np.intp]:
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, MAX_POINTS, replace=False))


def regression_svgs(pooled: Pooled) -> list[str]:
    truth, predicted = pooled.y_true_value, pooled.y_pred_value
    finite = np.isfinite(truth) & np.isfinite(predicted)
    keep = np.flatnonzero(finite)[_subset(int(finite.sum()))]
    if keep.size == 0:
        return []
    t, p = truth[keep], predicted[keep]
    note = f" ({keep.size} of {int(finite.sum())} samples)" if keep.size < finite.sum() else ""
    titles = [f"{pooled.ids[i]}: true {truth[i]:.4g}, predicted {predicted[i]:.4g}" for i in keep]
    low, high = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    pad = (high - low) * 0.04 or 1.0
    versus = Plot((low - pad, high + pad), (low - pad, high + pad), height=360, width=400)
    versus.axes("true value", "LOO prediction")
    versus.line([low, high], [low, high], GREY, dash=True, width=1.2)
    versus.points(t, p, BLUE, titles=titles)
    residual = p - t
    r = float(np.abs(residual).max()) * 1.05 or 1.0
    resid = Plot((float(p.min()) - pad, float(p.max()) + pad), (-r, r), height=360, width=400)
    resid.axes("LOO prediction", "residual (predicted - true)")
    resid.line([float(p.min()) - pad, float(p.max()) + pad], [0, 0], GREY, dash=True, width=1.2)
    resid.points(p, residual, ORANGE, titles=titles)
    return [versus.svg("Predicted vs true" + note), resid.svg("Residuals" + note)]
