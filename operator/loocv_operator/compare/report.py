"""A comparison as people and machines read it: a terminal summary, compare.json and one
self-contained HTML page (no scripts, no CDN, no network; every user string escaped)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from typing import Any

from .paired import Comparison, Flip
from .runs import RunArtifacts
from .stats import PairedInterval, p_text

COMPARE_SCHEMA_VERSION = 1
FLIPS_PRINTED = 10
_NAMES = {"logLoss": "log loss", "brier": "Brier score", "mae": "MAE", "rmse": "RMSE"}


def _run_json(run: RunArtifacts) -> dict[str, Any]:
    return {
        "source": run.source,
        "namespace": run.namespace,
        "name": run.name,
        "uid": run.uid,
        "generatedAt": run.generated_at,
        "samples": len(run.samples),
    }


def _interval_json(name: str, item: PairedInterval) -> dict[str, Any]:
    return {
        "metric": name,
        "baseline": item.baseline,
        "candidate": item.candidate,
        "difference": item.difference,
        "ci95": [item.low, item.high],
    }


def _flip_json(flip: Flip) -> dict[str, Any]:
    return {
        "row": flip.row,
        "id": flip.id,
        "yTrue": flip.y_true,
        "baseline": flip.baseline,
        "candidate": flip.candidate,
    }


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    """compare.json: what was compared, over how many samples, and every difference."""
    c = comparison
    test = c.mcnemar
    return {
        "schemaVersion": COMPARE_SCHEMA_VERSION,
        "generatedAt": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "baseline": _run_json(c.baseline),
        "candidate": _run_json(c.candidate),
        "datasetDigest": c.baseline.dataset_digest,
        "task": c.baseline.task,
        "hashedIds": c.baseline.hashed_ids,
        "pairedSamples": c.paired,
        "excluded": {
            "total": c.excluded.total,
            "failedInBaseline": c.excluded.failed_baseline,
            "failedInCandidate": c.excluded.failed_candidate,
            "missingFromBaseline": c.excluded.missing_baseline,
            "missingFromCandidate": c.excluded.missing_candidate,
        },
        "notes": list(c.notes),
        "accuracy": None
        if c.accuracy_baseline is None
        else {
            "baseline": c.accuracy_baseline,
            "candidate": c.accuracy_candidate,
            "difference": c.accuracy_difference,
        },
        "mcnemar": None
        if test is None
        else {
            "b": test.b,
            "c": test.c,
            "discordant": test.discordant,
            "pTwoSided": test.p_two_sided,
            "pCandidateWorse": test.p_worse,
            "test": "exact binomial on the discordant pairs; b: baseline right, candidate "
            "wrong; c: baseline wrong, candidate right",
        },
        "differences": [
            _interval_json(n, m) for n, m in zip(c.metric_names, c.metrics, strict=True)
        ],
        "perClassRecall": [
            {
                "class": k.label,
                "support": k.support,
                "baseline": k.baseline,
                "candidate": k.candidate,
                "change": k.change,
            }
            for k in c.per_class
        ],
        "flipped": {
            "rightToWrong": [_flip_json(f) for f in c.regressions],
            "wrongToRight": [_flip_json(f) for f in c.improvements],
        },
    }


def _n(value: float | None, digits: int = 4, sign: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def summary_text(comparison: Comparison) -> str:
    """What the terminal shows."""
    c = comparison
    rows = [
        ("baseline", f"{c.baseline.label}  ({c.baseline.source})"),
        ("candidate", f"{c.candidate.label}  ({c.candidate.source})"),
        (
            "samples",
            f"{c.paired} paired" + (f", {c.excluded.total} left out" if c.excluded.total else ""),
        ),
    ]
    rows += [("NOTE", note) for note in c.notes]
    if c.mcnemar is not None:
        t = c.mcnemar
        rows.append(
            (
                "accuracy",
                f"{_n(c.accuracy_baseline)} -> {_n(c.accuracy_candidate)}  "
                f"({_n(c.accuracy_difference, sign=True)})",
            )
        )
        rows.append(
            (
                "McNemar",
                f"b={t.b} right->wrong, c={t.c} wrong->right; exact p={p_text(t.p_two_sided)} "
                f"(two-sided), p={p_text(t.p_worse)} (candidate worse)",
            )
        )
    for name, m in zip(c.metric_names, c.metrics, strict=True):
        rows.append(
            (
                _NAMES.get(name, name),
                f"{_n(m.baseline)} -> {_n(m.candidate)}  ({_n(m.difference, sign=True)}, "
                f"95% CI {_n(m.low, sign=True)} to {_n(m.high, sign=True)})",
            )
        )
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    if c.per_class:
        lines += ["", "class  support  recall baseline  candidate  change"]
        for k in c.per_class:
            lines.append(
                f"{k.label:<5}  {k.support:>7}  {_n(k.baseline, 3):>15}  "
                f"{_n(k.candidate, 3):>9}  {_n(k.change, 3, sign=True):>6}"
            )
    for title, flips in (("right -> wrong", c.regressions), ("wrong -> right", c.improvements)):
        if flips:
            shown = ", ".join(
                f"{f.id} ({f.baseline}->{f.candidate})" for f in flips[:FLIPS_PRINTED]
            )
            more = f", … {len(flips) - FLIPS_PRINTED} more" if len(flips) > FLIPS_PRINTED else ""
            lines.append(f"{title} ({len(flips)}): {shown}{more}")
    return "\n".join(lines)


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;"
    "text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}"
    ".note{background:#fff4d6;padding:.5em}.meta{color:#555}"
)


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _flips_html(title: str, flips: list[Flip]) -> str:
    if not flips:
        return f"<h2>{_e(title)}</h2><p>none</p>"
    rows = [[_e(f.row), _e(f.id), _e(f.y_true), _e(f.baseline), _e(f.candidate)] for f in flips]
    header = ["row", "sample id", "true", "baseline", "candidate"]
    return f"<h2>{_e(title)} ({len(flips)})</h2>" + _table(header, rows)


def comparison_html(comparison: Comparison) -> str:
    c = comparison
    title = f"LOOCV comparison: {c.baseline.name} vs {c.candidate.name}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">baseline {_e(c.baseline.label)} ({_e(c.baseline.source)})<br>'
        f"candidate {_e(c.candidate.label)} ({_e(c.candidate.source)})<br>"
        f"dataset digest {_e(c.baseline.dataset_digest)} · {_e(c.baseline.task)} · "
        f"{c.paired} paired samples</p>",
    ]
    parts += [f'<p class="note">{_e(note)}</p>' for note in c.notes]
    if c.mcnemar is not None:
        t = c.mcnemar
        parts.append("<h2>Accuracy (exact McNemar test)</h2>")
        parts.append(
            _table(
                [
                    "baseline",
                    "candidate",
                    "difference",
                    "b: right→wrong",
                    "c: wrong→right",
                    "p two-sided",
                    "p candidate worse",
                ],
                [
                    [
                        _n(c.accuracy_baseline),
                        _n(c.accuracy_candidate),
                        _n(c.accuracy_difference, sign=True),
                        str(t.b),
                        str(t.c),
                        p_text(t.p_two_sided),
                        p_text(t.p_worse),
                    ]
                ],
            )
        )
    if c.metrics:
        parts.append("<h2>Paired bootstrap (candidate minus baseline)</h2>")
        parts.append(
            _table(
                ["metric", "baseline", "candidate", "difference", "95% CI"],
                [
                    [
                        _e(_NAMES.get(n, n)),
                        _n(m.baseline),
                        _n(m.candidate),
                        _n(m.difference, sign=True),
                        f"{_n(m.low, sign=True)} to {_n(m.high, sign=True)}",
                    ]
                    for n, m in zip(c.metric_names, c.metrics, strict=True)
                ],
            )
        )
    if c.per_class:
        parts.append("<h2>Recall by class</h2>")
        parts.append(
            _table(
                ["class", "support", "baseline", "candidate", "change"],
                [
                    [
                        _e(k.label),
                        str(k.support),
                        _n(k.baseline, 3),
                        _n(k.candidate, 3),
                        _n(k.change, 3, sign=True),
                    ]
                    for k in c.per_class
                ],
            )
        )
        parts.append(_flips_html("Right → wrong", c.regressions))
        parts.append(_flips_html("Wrong → right", c.improvements))
    parts.append("</body></html>")
    return "\n".join(parts)


def comparison_files(comparison: Comparison) -> dict[str, bytes]:
    """compare.json and compare.html, ready to write."""
    return {
        "compare.json": json.dumps(comparison_json(comparison), indent=2, allow_nan=False).encode(),
        "compare.html": comparison_html(comparison).encode("utf-8"),
    }
