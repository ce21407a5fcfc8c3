"""The run's artifacts: report.json, predictions.csv and report.html (design §5).

report.json is the machine-readable record (what CI archives), predictions.csv the
per-sample drill-down, report.html a single self-contained page (pictures inlined as
base64 PNG) that opens from a bucket or a laptop without a server. Every user-provided
string on the page (ids, labels, error messages, names) is HTML-escaped: sample ids come
from user data and must not become markup.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np

from .gate import GateVerdict
from .metrics import ECE_BINS, NOISE_CONFIDENCE, Pooled, aggregate, reliability
from .outcome import outcome_of
from .results import FoldResult, unique_by_index

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .plan import Plan
    from .store import Store

REPORT_SCHEMA_VERSION = 1
ARTIFACTS = ("predictions.csv", "report.html", "report.json")  # report.json last: complete
MAX_SCATTER_POINTS = 20_000
MAX_ANNOTATED_CLASSES = 25
MAX_TICK_CLASSES = 40


def _json_safe(value: Any) -> Any:
    """Non-finite floats (say C: .inf in a manifest) as strings, so report.json is strict
    JSON; everything else as is."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_report(plan: Plan, summary: dict[str, Any], verdict: GateVerdict) -> dict[str, Any]:
    """report.json's content: what ran (spec and data by digest), what came out, the verdict."""
    versions = summary.get("trainerVersions") or {}
    report = {
        "schemaVersion": REPORT_SCHEMA_VERSION,
        "run": {
            "namespace": plan.location.namespace,
            "name": plan.location.name,
            "uid": plan.location.uid,
        },
        "spec": plan.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        "specDigest": plan.spec_digest,
        "datasetDigest": plan.dataset_digest,
        "nSamples": plan.n_samples,
        "task": plan.task,
        "classes": plan.classes,
        "batching": plan.batching.to_json(),
        "summary": summary,
        "gate": {
            "passed": verdict.passed if verdict.evaluated else None,
            "evaluated": verdict.evaluated,
            "failures": list(verdict.failures),
        },
        "outcome": outcome_of(summary, verdict).to_json(),
        "generatedAt": _now(),
        "trainerVersions": sorted(str(v) for v in versions),
    }
    safe: dict[str, Any] = _json_safe(report)
    return safe


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # round-trips exactly
    return value


def predictions_csv(plan: Plan, results: list[FoldResult]) -> str:
    """One row per held-out sample of every fold with a result, sorted by row.

    Probability columns (proba_<class>, in the plan's class order) appear when the model
    gave probabilities for any sample. Failed folds' samples are rows with status failed
    and the error; folds without a result have no rows.
    """
    folds = unique_by_index(results)
    classification = plan.task == "classification"
    classes = list(plan.classes or []) if classification else []
    with_proba = classification and any(
        s.proba is not None for r in folds.values() for s in r.samples
    )
    header = ["row", "id", "fold", "y_true", "y_pred", "correct" if classification else "error"]
    if with_proba:
        header += [f"proba_{c}" for c in classes]
    header += ["loss", "fit_seconds", "status", "error_type", "error_message"]
    records = []
    for index, result in folds.items():
        for sample in result.samples:
            records.append((sample.row, index, sample, result))
    records.sort(key=lambda r: (r[0], r[1]))

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row, index, sample, result in records:
        predicted = sample.y_pred if result.ok else None
        if predicted is None:
            outcome: Any = None
        elif classification:
            outcome = 1 if _same_label(sample.y_true, predicted) else 0
        else:
            outcome = _difference(predicted, sample.y_true)
        line = [row, sample.id, index, sample.y_true, predicted, outcome]
        if with_proba:
            proba = sample.proba if result.ok and sample.proba is not None else None
            if proba is not None and len(proba) == len(classes):
                line += list(proba)
            else:
                line += [None] * len(classes)
        line += [
            sample.loss if result.ok else None,
            result.fit_seconds,
            "ok" if result.ok else "failed",
            result.error.type if result.error else None,
            result.error.message if result.error else None,
        ]
        writer.writerow([_csv_value(v) for v in line])
    return buffer.getvalue()


def _same_label(a: Any, b: Any) -> bool:
    return bool(a == b) or str(a) == str(b)


def _difference(predicted: Any, true: Any) -> float | None:
    try:
        return float(predicted) - float(true)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------- HTML


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else _e(value)
    return _e(value)


def _interval_text(bounds: Any) -> str:
    if not bounds:
        return "&ndash;"
    return f"[{_fmt(bounds[0])}, {_fmt(bounds[1])}]"


def _figure(width: float = 5.0, height: float = 4.0) -> Figure:
    """A figure on the Agg canvas, without pyplot: no global state, safe in the operator."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{_e(alt)}">'


def _plot_text(label: Any, limit: int = 18) -> str:
    """A label for matplotlib: '$' would start mathtext (and can fail to parse)."""
    text = str(label)
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _confusion_png(labels: list[Any], matrix: list[list[int]]) -> str:
    counts = np.asarray(matrix, dtype=np.float64)
    n = counts.shape[0]
    size = min(12.0, max(4.5, 0.45 * n + 2.5))
    figure = _figure(size, size * 0.85)
    ax = figure.add_subplot()
    with np.errstate(all="ignore"):
        rows = counts.sum(axis=1, keepdims=True)
        share = np.where(rows > 0, counts / np.where(rows > 0, rows, 1), 0.0)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=ax, label="share of the true class")
    if n <= MAX_ANNOTATED_CLASSES:
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    str(int(counts[i, j])),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black",
                )
    if n <= MAX_TICK_CLASSES:
        ticks = [_plot_text(label) for label in labels]
        ax.set_xticks(range(n), ticks, rotation=45, ha="right")
        ax.set_yticks(range(n), ticks)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix")
    return _png(figure)


def _reliability_png(pooled: Pooled) -> str:
    assert pooled.proba is not None
    curve = reliability(pooled.y_true_idx, pooled.proba, ECE_BINS)
    figure = _figure(5.5, 5.0)
    ax, counts_ax = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    centres = (curve.edges[:-1] + curve.edges[1:]) / 2
    width = curve.edges[1] - curve.edges[0]
    filled = curve.counts > 0
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    ax.bar(
        centres[filled],
        curve.accuracy[filled],
        width=width * 0.9,
        alpha=0.7,
        color="tab:blue",
        edgecolor="black",
        label="accuracy in bin",
    )
    ax.plot(
        curve.confidence[filled],
        curve.accuracy[filled],
        "o-",
        color="tab:orange",
        label="mean confidence vs accuracy",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability diagram (top label)")
    ax.legend(loc="upper left", fontsize=8)
    counts_ax.bar(centres, curve.counts, width=width * 0.9, color="grey")
    counts_ax.set_xlabel("confidence (predicted-class probability)")
    counts_ax.set_ylabel("samples")
    return _png(figure)


def _loss_png(loss: np.ndarray, what: str) -> str:
    figure = _figure(5.5, 3.5)
    ax = figure.add_subplot()
    ax.hist(
        loss,
        bins=max(10, min(50, int(math.sqrt(loss.size)) or 10)),
        color="tab:purple",
        edgecolor="black",
        linewidth=0.3,
    )
    ax.set_xlabel(f"per-sample {what}")
    ax.set_ylabel("samples")
    if loss.size and float(loss.max()) > 0:
        ax.set_yscale("log")
    ax.set_title("Per-sample loss")
    return _png(figure)


def _scatter_subset(n: int) -> np.ndarray:
    if n <= MAX_SCATTER_POINTS:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, MAX_SCATTER_POINTS, replace=False))


def _regression_pngs(pooled: Pooled) -> list[tuple[str, str]]:
    truth, predicted = pooled.y_true_value, pooled.y_pred_value
    finite = np.isfinite(truth) & np.isfinite(predicted)
    truth, predicted = truth[finite], predicted[finite]
    if truth.size == 0:
        return []
    keep = _scatter_subset(truth.size)
    truth, predicted = truth[keep], predicted[keep]
    note = f" ({keep.size} of {int(finite.sum())} samples)" if keep.size < finite.sum() else ""
    figure = _figure(5.0, 4.5)
    ax = figure.add_subplot()
    ax.scatter(truth, predicted, s=8, alpha=0.5, rasterized=True)
    low = float(min(truth.min(), predicted.min()))
    high = float(max(truth.max(), predicted.max()))
    ax.plot([low, high], [low, high], linestyle="--", color="grey")
    ax.set_xlabel("true value")
    ax.set_ylabel("LOO prediction")
    ax.set_title("Predicted vs true" + note)
    versus = _png(figure)
    figure = _figure(5.0, 4.0)
    ax = figure.add_subplot()
    ax.scatter(predicted, predicted - truth, s=8, alpha=0.5, rasterized=True)
    ax.axhline(0.0, linestyle="--", color="grey")
    ax.set_xlabel("LOO prediction")
    ax.set_ylabel("residual (predicted - true)")
    ax.set_title("Residuals" + note)
    return [(versus, "predicted versus true values"), (_png(figure), "residual plot")]


def _table(header: list[str], rows: list[list[str]], css: str = "") -> str:
    """An HTML table from cells that are already escaped."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    klass = f' class="{css}"' if css else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f3f3f3}
td.num,th.num{text-align:right}.meta{color:#555}
.verdict{padding:.8em 1em;border-radius:6px;margin:1em 0;font-weight:600}
.pass{background:#e3f5e1;border:1px solid #4caf50}.fail{background:#fde2e1;
border:1px solid #e53935}.none{background:#eee;border:1px solid #999}
.figures img{max-width:100%;margin:.5em 1em .5em 0;vertical-align:top}
pre{background:#f7f7f7;padding:.6em;overflow:auto;white-space:pre-wrap;word-break:break-all}
.cm td{text-align:right}
"""


def _verdict_html(verdict: GateVerdict) -> str:
    if not verdict.evaluated:
        return '<div class="verdict none">No gate in the manifest: not evaluated.</div>'
    if verdict.passed:
        return '<div class="verdict pass">Gate PASSED: every threshold is met.</div>'
    reasons = "".join(f"<li>{_e(reason)}</li>" for reason in verdict.failures)
    return f'<div class="verdict fail">Gate FAILED<ul>{reasons}</ul></div>'


def _metrics_rows(summary: dict[str, Any]) -> list[list[str]]:
    metrics = summary.get("metrics") or {}
    if summary.get("task") == "regression":
        names = [("MAE", "mae", "maeCI95"), ("RMSE", "rmse", "rmseCI95"), ("R²", "r2", "r2CI95")]
    else:
        names = [
            ("accuracy", "accuracy", "accuracyCI95"),
            ("log loss", "logLoss", ""),
            ("Brier score", "brier", ""),
            (f"ECE ({metrics.get('eceBins', ECE_BINS)} bins)", "ece", ""),
        ]
    rows = [
        [_e(label), _fmt(metrics.get(key)), _interval_text(metrics.get(ci)) if ci else ""]
        for label, key, ci in names
    ]
    rows.append(
        [
            "per-sample loss (mean ± std)",
            f"{_fmt(metrics.get('lossMean'))} ± {_fmt(metrics.get('lossStd'))}",
            "",
        ]
    )
    return rows


def _classification_html(summary: dict[str, Any], pooled: Pooled) -> list[str]:
    metrics = summary.get("metrics") or {}
    parts = ["<h2>Per class</h2>"]
    per_class = metrics.get("perClass") or {}
    parts.append(
        _table(
            ["class", "precision", "recall", "f1", "support"],
            [
                [
                    _e(label),
                    _fmt(s.get("precision")),
                    _fmt(s.get("recall")),
                    _fmt(s.get("f1")),
                    _fmt(s.get("support")),
                ]
                for label, s in per_class.items()
            ],
        )
    )
    confusion = metrics.get("confusionMatrix") or {}
    labels, matrix = confusion.get("labels") or [], confusion.get("matrix") or []
    parts.append("<h2>Confusion matrix</h2><p>Rows: true class; columns: predicted class.</p>")
    if labels and len(labels) <= MAX_TICK_CLASSES:
        parts.append(
            _table(
                ["true \\ predicted", *[_e(label) for label in labels]],
                [
                    [f"<b>{_e(label)}</b>", *[_fmt(v) for v in row]]
                    for label, row in zip(labels, matrix, strict=False)
                ],
                css="cm",
            )
        )
    figures = []
    if labels:
        figures.append(_img(_confusion_png(labels, matrix), "confusion matrix"))
    if pooled.proba is not None and pooled.rows.size:
        figures.append(_img(_reliability_png(pooled), "reliability diagram"))
    loss = pooled.loss[np.isfinite(pooled.loss)]
    if loss.size:
        figures.append(
            _img(
                _loss_png(loss, "log loss" if pooled.proba is not None else "0-1 loss"),
                "loss histogram",
            )
        )
    if pooled.proba is None and pooled.rows.size:
        parts.append(
            "<p>The model gives no class probabilities: no log loss, Brier score, "
            "calibration or label-noise candidates.</p>"
        )
    parts.append(f'<div class="figures">{"".join(figures)}</div>')
    return parts


def _regression_html(pooled: Pooled) -> list[str]:
    figures = [_img(uri, alt) for uri, alt in _regression_pngs(pooled)]
    loss = pooled.loss[np.isfinite(pooled.loss)]
    if loss.size:
        figures.append(_img(_loss_png(loss, "squared error"), "loss histogram"))
    return ["<h2>Predictions</h2>", f'<div class="figures">{"".join(figures)}</div>']


def _sample_table(items: list[dict[str, Any]], score: str, truth: str) -> str:
    """Worst samples and label-noise candidates: id, row, a score, the truth, the prediction."""
    rows = [
        [
            _e(i.get("id")),
            _fmt(i.get("row")),
            _fmt(i.get(score)),
            _e(i.get("yTrue")),
            _e(i.get("yPred")),
        ]
        for i in items
    ]
    return _table(["id", "row", score, truth, "predicted"], rows)


def _samples_html(summary: dict[str, Any]) -> list[str]:
    parts = ["<h2>Worst samples</h2>"]
    worst = summary.get("worstSamples") or []
    if worst:
        parts.append(_sample_table(worst, "loss", "true"))
    else:
        parts.append("<p>No evaluated samples yet.</p>")
    if summary.get("task") == "classification":
        parts.append(
            "<h2>Label-noise candidates</h2><p>Misclassified with a predicted-class "
            f"probability of at least {NOISE_CONFIDENCE:g}: check these labels first.</p>"
        )
        noise = summary.get("labelNoiseCandidates") or []
        if noise:
            parts.append(_sample_table(noise, "confidence", "label"))
        else:
            parts.append("<p>None.</p>")
    return parts


def _failures_html(summary: dict[str, Any]) -> list[str]:
    parts = ["<h2>Failures</h2>"]
    types = summary.get("failureTypes") or {}
    failures = summary.get("failures") or []
    if not types:
        return [*parts, "<p>No fold failed.</p>"]
    parts.append(_table(["error type", "folds"], [[_e(t), _fmt(n)] for t, n in types.items()]))
    failed = (summary.get("folds") or {}).get("failed", len(failures))
    if failed > len(failures):
        parts.append(f"<p>The first {len(failures)} of {_fmt(failed)} failed folds:</p>")
    parts.append(
        _table(
            ["fold", "sample ids", "type", "message"],
            [
                [
                    _fmt(f.get("fold")),
                    _e(", ".join(str(i) for i in f.get("ids") or [])),
                    _e(f.get("type")),
                    f"<pre>{_e(f.get('message'))}</pre>",
                ]
                for f in failures
            ],
        )
    )
    return parts


def report_html(
    plan: Plan, summary: dict[str, Any], verdict: GateVerdict, results: list[FoldResult]
) -> str:
    """A self-contained HTML page: summary, verdict, per-class and calibration pictures,
    worst samples, label-noise candidates and failures."""
    pooled = aggregate(plan, results).pooled()
    spec = plan.spec
    location = plan.location
    folds = summary.get("folds") or {}
    samples = summary.get("samples") or {}
    timing = summary.get("timing") or {}
    dataset = spec.dataset.builtin or spec.dataset.uri or ""
    title = f"LOOCV report: {location.namespace}/{location.name}"
    spec_json = json.dumps(spec.model_dump(mode="json", by_alias=True, exclude_none=True), indent=2)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">run uid {_e(location.uid)} · {_e(plan.task)} · model '
        f"{_e(spec.model.estimator)} · dataset {_e(dataset)} · strategy "
        f"{_e(spec.strategy.type)} · generated {_e(_now())}</p>",
        f'<p class="meta">batching: {_e(plan.batching.message or plan.batching.mode)}</p>',
        _verdict_html(verdict),
        "<h2>Summary</h2>",
        _table(
            [
                "folds",
                "done",
                "succeeded",
                "failed",
                "missing",
                "samples evaluated",
                "samples failed",
                "failure rate",
            ],
            [
                [_fmt(folds.get(k)) for k in ("total", "done", "succeeded", "failed", "missing")]
                + [
                    _fmt(samples.get("evaluated")),
                    _fmt(samples.get("failed")),
                    _fmt(summary.get("failureRate")),
                ]
            ],
        ),
        _table(["metric", "value", "95% interval"], _metrics_rows(summary)),
    ]
    if plan.task == "classification":
        parts += _classification_html(summary, pooled)
    else:
        parts += _regression_html(pooled)
    parts += _samples_html(summary)
    parts += _failures_html(summary)
    parts += [
        "<h2>Execution</h2>",
        _table(
            ["median fit (s)", "median predict (s)", "total fit (s)"],
            [
                [
                    _fmt(timing.get("fitSecondsMedian")),
                    _fmt(timing.get("predictSecondsMedian")),
                    _fmt(timing.get("fitSecondsTotal")),
                ]
            ],
        ),
        _table(
            ["path", "folds"], [[_e(p), _fmt(n)] for p, n in (summary.get("paths") or {}).items()]
        ),
        _table(
            ["trainer version", "folds"],
            [[_e(v), _fmt(n)] for v, n in (summary.get("trainerVersions") or {}).items()],
        ),
        f'<h2>Manifest spec</h2><p class="meta">spec digest {_e(plan.spec_digest)} · '
        f"dataset digest {_e(plan.dataset_digest)}</p><pre>{_e(spec_json)}</pre>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(
    store: Store,
    plan: Plan,
    results: list[FoldResult],
    summary: dict[str, Any],
    verdict: GateVerdict,
) -> dict[str, str]:
    """Write the three artifacts beside the run's folds; returns name -> address.

    report.json is written last, so a reader that finds it finds the other two as well.
    """
    contents = {
        "predictions.csv": predictions_csv(plan, results).encode("utf-8"),
        "report.html": report_html(plan, summary, verdict, results).encode("utf-8"),
        "report.json": json.dumps(
            build_report(plan, summary, verdict), indent=2, allow_nan=False
        ).encode("utf-8"),
    }
    written: dict[str, str] = {}
    for name in ARTIFACTS:
        key = plan.location.artifact(name)
        store.put(key, contents[name])
        written[name] = store.uri(key)
    return written
