"""Two runs, sample by sample: check they saw the same samples, then pair their predictions.

A comparison is only meaningful on identical data, so anything that differs (the dataset's
digest, the task, the classes, a sample's id or true label) is refused, naming it. Samples
that either run could not predict (a failed or missing fold) are left out of every paired
statistic and counted, never dropped silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidInput
from .runs import EPS, RunArtifacts
from .stats import McNemar, PairedInterval, mcnemar_exact, paired_bootstrap

SHOWN = 3  # mismatching rows named in a refusal


@dataclass(frozen=True)
class Flip:
    """A sample whose correctness changed from the baseline to the candidate."""

    row: int
    id: str
    y_true: str
    baseline: str
    candidate: str


@dataclass(frozen=True)
class ClassChange:
    label: str
    support: int  # paired samples of this class
    baseline: float | None
    candidate: float | None

    @property
    def change(self) -> float | None:
        if self.baseline is None or self.candidate is None:
            return None
        return self.candidate - self.baseline


@dataclass(frozen=True)
class Excluded:
    """Samples left out of the paired statistics, by why (a sample can count twice)."""

    failed_baseline: int = 0
    failed_candidate: int = 0
    missing_baseline: int = 0  # held out by the other run, no row here
    missing_candidate: int = 0
    total: int = 0  # distinct samples left out

    def text(self, paired: int) -> str | None:
        if not self.total:
            return None
        parts = [
            f"{n} {what}"
            for n, what in (
                (self.failed_baseline, "failed in the baseline"),
                (self.failed_candidate, "failed in the candidate"),
                (self.missing_baseline, "missing from the baseline"),
                (self.missing_candidate, "missing from the candidate"),
            )
            if n
        ]
        return (
            f"{self.total} samples left out of the comparison ({', '.join(parts)}): "
            f"it covers {paired} samples"
        )


@dataclass(frozen=True)
class Comparison:
    baseline: RunArtifacts
    candidate: RunArtifacts
    paired: int
    excluded: Excluded
    metrics: list[PairedInterval]  # log loss, Brier (classification); MAE, RMSE (regression)
    metric_names: list[str]
    mcnemar: McNemar | None = None  # classification
    accuracy_baseline: float | None = None
    accuracy_candidate: float | None = None
    per_class: list[ClassChange] = field(default_factory=list)
    regressions: list[Flip] = field(default_factory=list)  # right -> wrong
    improvements: list[Flip] = field(default_factory=list)  # wrong -> right
    notes: list[str] = field(default_factory=list)

    @property
    def accuracy_difference(self) -> float | None:
        if self.accuracy_baseline is None or self.accuracy_candidate is None:
            return None
        return self.accuracy_candidate - self.accuracy_baseline


def _check_same_samples(a: RunArtifacts, b: RunArtifacts, rows: list[int]) -> None:
    if a.dataset_digest != b.dataset_digest:
        raise InvalidInput(
            "datasetDigest",
            f"the runs saw different data: {a.dataset_digest[:16]}… in {a.source}, "
            f"{b.dataset_digest[:16]}… in {b.source}; compare runs of the same data set",
        )
    if a.task != b.task:
        raise InvalidInput("task", f"{a.source} is {a.task}, {b.source} is {b.task}")
    if a.task == "classification" and a.classes != b.classes:
        raise InvalidInput(
            "classes", f"{list(a.classes)} in {a.source}, {list(b.classes)} in {b.source}"
        )
    if a.hashed_ids != b.hashed_ids:
        hashed = a.source if a.hashed_ids else b.source
        raise InvalidInput(
            "spec.privacy.hashSampleIds",
            f"only {hashed} hashes its sample ids; ids cannot be matched: run both alike",
        )
    for what, attribute in (("sample ids", "id"), ("true labels", "y_true")):
        differ = [
            r for r in rows if getattr(a.samples[r], attribute) != getattr(b.samples[r], attribute)
        ]
        if differ:
            shown = ", ".join(
                f"row {r}: {getattr(a.samples[r], attribute)!r} vs "
                f"{getattr(b.samples[r], attribute)!r}"
                for r in differ[:SHOWN]
            )
            hint = " (different LOOCV_ID_SALT?)" if what == "sample ids" and a.hashed_ids else ""
            raise InvalidInput(
                what.replace(" ", "_"),
                f"{len(differ)} of {len(rows)} samples differ between the runs{hint}: {shown}",
            )


def _excluded(a: RunArtifacts, b: RunArtifacts) -> tuple[list[int], Excluded]:
    rows_a, rows_b = set(a.samples), set(b.samples)
    both = sorted(rows_a & rows_b)
    _check_same_samples(a, b, both)
    paired = [r for r in both if a.samples[r].ok and b.samples[r].ok]
    left_out = (rows_a | rows_b) - set(paired)
    return paired, Excluded(
        failed_baseline=sum(1 for s in a.samples.values() if not s.ok),
        failed_candidate=sum(1 for s in b.samples.values() if not s.ok),
        missing_baseline=len(rows_b - rows_a),
        missing_candidate=len(rows_a - rows_b),
        total=len(left_out),
    )


def _log_loss(run: RunArtifacts, rows: list[int]) -> NDArray[np.float64]:
    out = np.empty(len(rows))
    for k, r in enumerate(rows):
        s = run.samples[r]
        assert s.proba is not None
        p = s.proba[run.class_index(s.y_true)]
        out[k] = -math.log(min(max(p, EPS), 1 - EPS))
    return out


def _brier(run: RunArtifacts, rows: list[int]) -> NDArray[np.float64]:
    """Per-sample terms of metrics.brier_score: binary, (p_1 - [y = classes[1]])^2;
    multiclass, sum_k (p_k - onehot_k)^2."""
    out = np.empty(len(rows))
    for k, r in enumerate(rows):
        s = run.samples[r]
        assert s.proba is not None
        truth = run.class_index(s.y_true)
        if len(run.classes) == 2:
            out[k] = (s.proba[1] - (truth == 1)) ** 2
        else:
            out[k] = sum((p - (j == truth)) ** 2 for j, p in enumerate(s.proba))
    return out


def _recall(run: RunArtifacts, rows: list[int]) -> float | None:
    return sum(run.correct(r) for r in rows) / len(rows) if rows else None


def _classification(
    a: RunArtifacts, b: RunArtifacts, rows: list[int], excluded: Excluded, notes: list[str]
) -> Comparison:
    regressions: list[Flip] = []
    improvements: list[Flip] = []
    for r in rows:
        right_a, right_b = a.correct(r), b.correct(r)
        if right_a == right_b:
            continue
        sa, sb = a.samples[r], b.samples[r]
        flip = Flip(r, sa.id, sa.y_true, sa.y_pred or "", sb.y_pred or "")
        (regressions if right_a else improvements).append(flip)
    per_class = []
    for label in a.classes:
        of_class = [r for r in rows if a.samples[r].y_true == label]
        per_class.append(
            ClassChange(label, len(of_class), _recall(a, of_class), _recall(b, of_class))
        )
    metrics: list[PairedInterval] = []
    names: list[str] = []
    with_proba = [r for r in rows if a.samples[r].proba and b.samples[r].proba]
    if rows and len(with_proba) == len(rows):
        metrics += [
            paired_bootstrap(_log_loss(a, rows), _log_loss(b, rows)),
            paired_bootstrap(_brier(a, rows), _brier(b, rows)),
        ]
        names += ["logLoss", "brier"]
    elif rows:
        notes.append("log loss and Brier not compared: a run gives no class probabilities")
    return Comparison(
        a,
        b,
        len(rows),
        excluded,
        metrics,
        names,
        mcnemar=mcnemar_exact(len(regressions), len(improvements)),
        accuracy_baseline=_recall(a, rows),
        accuracy_candidate=_recall(b, rows),
        per_class=per_class,
        regressions=regressions,
        improvements=improvements,
        notes=notes,
    )


def _errors(run: RunArtifacts, rows: list[int]) -> NDArray[np.float64]:
    return np.array(
        [float(run.samples[r].y_pred or "nan") - float(run.samples[r].y_true) for r in rows]
    )


def compare_runs(baseline: RunArtifacts, candidate: RunArtifacts) -> Comparison:
    """Pair two runs of the same samples; InvalidInput names what differs if they are not."""
    rows, excluded = _excluded(baseline, candidate)
    notes = [text] if (text := excluded.text(len(rows))) else []
    for role, run in (("baseline", baseline), ("candidate", candidate)):
        if run.missing_folds:
            notes.append(
                f"the {role} has {run.missing_folds} folds without a result: their samples "
                "have no row in its predictions.csv"
            )
    if not rows:
        notes.append("no sample has a prediction in both runs: nothing to compare")
        return Comparison(baseline, candidate, 0, excluded, [], [], notes=notes)
    if baseline.task == "classification":
        return _classification(baseline, candidate, rows, excluded, notes)
    ea, eb = _errors(baseline, rows), _errors(candidate, rows)
    metrics = [
        paired_bootstrap(np.abs(ea), np.abs(eb)),
        paired_bootstrap(ea**2, eb**2, root=True),
    ]
    return Comparison(
        baseline, candidate, len(rows), excluded, metrics, ["mae", "rmse"], notes=notes
    )
