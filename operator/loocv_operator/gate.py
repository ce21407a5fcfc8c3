"""The quality gate: does a run's summary meet the manifest's thresholds?

A gate is a release decision (exit 3 in CI, GatePassed=False on the resource), so it fails
closed: a threshold whose metric cannot be computed (no successful fold, a model without
predict_proba, a regression threshold on a classifier) is a breach with a reason that says
why, never a silent pass; so are folds with no readable result (missing, truncated), unless
the manifest allows some explicitly (``gate.missingFolds.max``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .spec import GateSpec
from .summary import RunSummary, SummaryLike, as_summary

REASON_MET = "ThresholdsMet"
REASON_BREACHED = "ThresholdsBreached"
REASON_INCOMPLETE = "ResultsIncomplete"
MISSING_SHOWN = 10  # fold indices named in a message


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    failures: list[str] = field(default_factory=list)  # one reason per breached threshold
    evaluated: bool = True  # False when the manifest has no gate (then passed is True)
    incomplete: bool = False  # folds are missing beyond what the gate allows
    reason_override: str | None = None  # a failed baseline comparison names its own reason

    @property
    def reason(self) -> str:
        """The GatePassed condition's reason: incomplete results are named as such."""
        if self.passed:
            return REASON_MET
        if self.incomplete:
            return REASON_INCOMPLETE
        return self.reason_override or REASON_BREACHED


def missing_text(summary: SummaryLike) -> str | None:
    """ "3 of 569 folds have no readable result (folds 4, 17, 230)", or None when complete."""
    folds = as_summary(summary).folds
    missing = folds.missing
    if missing <= 0:
        return None
    shown = folds.missing_indices[:MISSING_SHOWN]
    which = ", ".join(str(i) for i in shown) + (", …" if missing > len(shown) else "")
    verb = "has" if missing == 1 else "have"
    text = f"{missing} of {folds.total} folds {verb} no computed result (folds {which})"
    not_run = folds.not_run
    if not_run:
        text += f"; {not_run} never ran, their batch given up"
    return text


# gate field -> (summary metric key, name in messages, task it applies to, bound kind)
_METRIC_GATES: tuple[tuple[str, str, str, str, str], ...] = (
    ("accuracy", "accuracy", "accuracy", "classification", "min"),
    ("log_loss", "logLoss", "log loss", "classification", "max"),
    ("brier", "brier", "brier score", "classification", "max"),
    ("ece", "ece", "ece", "classification", "max"),
    ("mae", "mae", "mae", "regression", "max"),
    ("rmse", "rmse", "rmse", "regression", "max"),
    ("r2", "r2", "r2", "regression", "min"),
)
_PROBABILISTIC = ("logLoss", "brier", "ece")


def _bound(bound: float) -> str:
    return f"{bound:.12g}"


def _shown(value: float, bound: float, kind: str) -> str:
    """The value with enough digits that the breach is visible: 0.9499 against min 0.95
    reads "0.9499 < min 0.95", not "0.950 < min 0.95"."""
    for digits in range(3, 18):
        text = f"{value:.{digits}g}"
        shown = float(text)
        if (kind == "min" and shown < bound) or (kind == "max" and shown > bound):
            return text
    return repr(value)


def _unavailable(name: str, key: str, applies_to: str, summary: RunSummary) -> str:
    task = summary.task
    if task != applies_to:
        return f"{name} unavailable: it applies to {applies_to} runs, this run is {task}"
    if not summary.samples.evaluated:
        return f"{name} unavailable: no fold succeeded"
    if key in _PROBABILISTIC:
        return f"{name} unavailable: the model gives no class probabilities (predict_proba)"
    if key == "r2":
        return f"{name} unavailable: undefined for fewer than 2 evaluated samples"
    return f"{name} unavailable: it could not be computed (non-finite predictions?)"


def _metric_failures(gate: GateSpec, summary: RunSummary) -> list[str]:
    """Breaches of the metric thresholds, in the order of the gate's fields."""
    failures: list[str] = []
    for attribute, key, name, applies_to, kind in _METRIC_GATES:
        if attribute == "log_loss" and gate.class_recall is not None:
            failures.extend(_recall_failures(gate.class_recall.min, summary))
        spec = getattr(gate, attribute)
        if spec is None:
            continue
        bound = float(spec.min if kind == "min" else spec.max)
        value = summary.metric(key) if summary.task == applies_to else None
        if value is None:
            failures.append(_unavailable(name, key, applies_to, summary))
        elif kind == "min" and value < bound:
            failures.append(f"{name} {_shown(value, bound, kind)} < min {_bound(bound)}")
        elif kind == "max" and value > bound:
            failures.append(f"{name} {_shown(value, bound, kind)} > max {_bound(bound)}")
    return failures


def _recall_failures(bound: float, summary: RunSummary) -> list[str]:
    """Every class with held-out samples must reach the bound. A class with none (a subset
    that holds out other classes only) has no recall to judge and is not a breach."""
    metrics = summary.classification_metrics
    if metrics is None:
        return [_unavailable("class recall", "classRecall", "classification", summary)]
    judged = {label: stats for label, stats in metrics.per_class.items() if stats.support > 0}
    if not judged:
        return [_unavailable("class recall", "classRecall", "classification", summary)]
    failures = []
    for label, stats in judged.items():
        recall = stats.recall
        if recall is None:
            failures.append(f"recall of class '{label}' unavailable")
        elif recall < bound:
            shown = _shown(recall, bound, "min")
            failures.append(f"recall of class '{label}' {shown} < min {_bound(bound)}")
    return failures


def evaluate_gate(gate: GateSpec | None, summary: SummaryLike) -> GateVerdict:
    """Check every threshold of the gate against a run's summary (typed, or its dict form)."""
    if gate is None:
        return GateVerdict(passed=True, failures=[], evaluated=False)
    summary = as_summary(summary)
    failures: list[str] = []
    folds = summary.folds
    missing = folds.missing
    allowed = gate.missing_folds.max if gate.missing_folds is not None else 0
    incomplete = missing > allowed
    if incomplete:
        # First, so a reader sees that every metric below covers fewer folds than planned.
        failures.append(f"results incomplete: {missing_text(summary)} > max {allowed}")
    failures += _metric_failures(gate, summary)
    if gate.failed_folds is not None:
        failed = folds.failed
        if failed > gate.failed_folds.max:
            failures.append(f"failed folds {failed} > max {gate.failed_folds.max}")
    if gate.failure_rate is not None:
        rate = summary.failure_rate
        bound = float(gate.failure_rate.max)
        if rate > bound:
            failures.append(f"failure rate {_shown(rate, bound, 'max')} > max {_bound(bound)}")
    return GateVerdict(
        passed=not failures, failures=failures, evaluated=True, incomplete=incomplete
    )
