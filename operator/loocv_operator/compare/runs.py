"""A finished run as ``loocv compare`` and the baseline gate see it: its report.json and
predictions.csv, nothing else.

Those two artifacts are stable whatever the store's internal layout (fold files, segments),
so a comparison never depends on how the folds were stored. The parsing is JSON and CSV
only (the operator reads baselines too, and imports no data libraries for it).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInput
from ..store import Store, open_store
from ..summary import RunSummary

EPS = 2.220446049250313e-16  # float64 eps: log loss clipped as sklearn (and the trainer) do


@dataclass(frozen=True)
class SampleRow:
    """One held-out sample of a run, as predictions.csv records it."""

    row: int
    id: str
    y_true: str
    y_pred: str | None  # None: the fold failed
    proba: tuple[float, ...] | None
    ok: bool


@dataclass(frozen=True)
class RunArtifacts:
    source: str  # where it was read from, for messages
    namespace: str
    name: str
    uid: str
    generated_at: str
    dataset_digest: str
    task: str
    classes: tuple[str, ...]  # as strings, the way predictions.csv writes labels
    hashed_ids: bool
    missing_folds: int  # folds without a computed result (report.json summary.folds.missing)
    samples: Mapping[int, SampleRow]  # by row
    metrics: Mapping[str, Any] = field(default_factory=dict)  # report.json summary.metrics

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}/{self.uid}"

    def correct(self, row: int) -> bool:
        s = self.samples[row]
        return s.ok and s.y_pred is not None and s.y_pred == s.y_true

    def class_index(self, label: str) -> int:
        return self.classes.index(label)


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _label(text: str) -> str:
    """Labels compare as written; "1" and "1.0" (an int read back as float) are one label."""
    number = _float(text)
    if number is not None and number.is_integer() and ("." in text or "e" in text.lower()):
        return str(int(number))
    return text


def parse_predictions(text: str, classes: tuple[str, ...], source: str) -> dict[int, SampleRow]:
    """predictions.csv's rows by row number (the columns report.py writes)."""
    reader = csv.DictReader(io.StringIO(text))
    fields = reader.fieldnames or []
    for needed in ("row", "id", "y_true", "y_pred", "status"):
        if needed not in fields:
            raise InvalidInput(source, f"not a predictions.csv: no column {needed!r}")
    proba_columns = [f"proba_{c}" for c in classes]
    with_proba = bool(classes) and all(c in fields for c in proba_columns)
    rows: dict[int, SampleRow] = {}
    for line_no, record in enumerate(reader, start=2):
        try:
            row = int(record["row"])
        except (TypeError, ValueError):
            raise InvalidInput(
                source, f"line {line_no}: row {record['row']!r} is not a number"
            ) from None
        ok = record["status"] == "ok" and record["y_pred"] != ""
        proba: tuple[float, ...] | None = None
        if ok and with_proba:
            values = [_float(record[c] or "") for c in proba_columns]
            if all(v is not None for v in values):
                proba = tuple(float(v) for v in values if v is not None)
        rows[row] = SampleRow(
            row=row,
            id=record["id"],
            y_true=_label(record["y_true"]),
            y_pred=_label(record["y_pred"]) if ok else None,
            proba=proba,
            ok=ok,
        )
    return rows


def _get(store: Store, key: str, source: str) -> bytes:
    try:
        return store.get(key)
    except KeyError:
        raise InvalidInput(
            source,
            f"no {key.rsplit('/', 1)[-1]} here: give a finished run's directory "
            "(<store>/<namespace>/<run>/<uid>, holding report.json and predictions.csv)",
        ) from None


def parse_report(raw: bytes, source: str) -> dict[str, Any]:
    try:
        report = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(source, f"report.json is not valid JSON: {exc}") from None
    if not isinstance(report, dict) or not {"datasetDigest", "task", "run"} <= set(report):
        raise InvalidInput(source, "not a LOOCV report.json (no datasetDigest, task or run)")
    return report


def artifacts_of(report: Mapping[str, Any], predictions: str, source: str) -> RunArtifacts:
    """A run from its two artifacts' contents."""
    classes = tuple(_label(str(c)) for c in report.get("classes") or [])
    run = report.get("run") or {}
    spec = report.get("spec") or {}
    summary = RunSummary.from_dict({**(report.get("summary") or {}), "task": report["task"]})
    return RunArtifacts(
        source=source,
        namespace=str(run.get("namespace", "")),
        name=str(run.get("name", "")),
        uid=str(run.get("uid", "")),
        generated_at=str(report.get("generatedAt", "")),
        dataset_digest=str(report["datasetDigest"]),
        task=str(report["task"]),
        classes=classes,
        hashed_ids=bool((spec.get("privacy") or {}).get("hashSampleIds")),
        missing_folds=summary.folds.missing,
        samples=parse_predictions(predictions, classes, source),
        metrics=summary.metrics.to_dict(),  # compared by their serialized names
    )


def load_from(store: Store, prefix: str, source: str) -> RunArtifacts:
    """The run whose artifacts lie at ``prefix`` ('' or 'ns/name/uid/') in ``store``."""
    report = parse_report(_get(store, prefix + "report.json", source), source)
    raw = _get(store, prefix + "predictions.csv", source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(source, "predictions.csv is not UTF-8 text") from None
    return artifacts_of(report, text, source)


def load_run(uri: str, endpoint: str | None = None, region: str | None = None) -> RunArtifacts:
    """A run directory, local path or s3:// URI."""
    return load_from(open_store(uri.rstrip("/") or "/", endpoint, region), "", uri)


def latest_run(store: Store, namespace: str, name: str, exclude_uid: str = "") -> str:
    """The prefix ('ns/name/uid/') of the newest run of that name with a report.json, by
    its generatedAt; KeyError if there is none (other than ``exclude_uid``)."""
    base = f"{namespace}/{name}/"
    best: tuple[str, str] | None = None
    for key in store.list(base):
        parts = key[len(base) :].split("/")
        if len(parts) != 2 or parts[1] != "report.json" or parts[0] == exclude_uid:
            continue
        try:
            generated = str(json.loads(store.get(key)).get("generatedAt", ""))
        except (KeyError, ValueError, UnicodeDecodeError, AttributeError):
            continue
        if best is None or (generated, key) > best:
            best = (generated, key)
    if best is None:
        raise KeyError(base)
    return best[1][: -len("report.json")]
