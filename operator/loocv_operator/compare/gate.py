"""The baseline gate (``gate.baseline``): is this run worse than a baseline run of the same
samples? Judged sample by sample on the paired predictions, after the ordinary gate.

It fails closed, like the rest of the gate: a baseline that cannot be found, read or paired
with this run fails it (``BaselineUnavailable``), never passes it silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, StoreError
from ..gate import GateVerdict
from ..spec import BaselineSpec
from ..store import Store, open_store
from .paired import Comparison, compare_runs
from .runs import RunArtifacts, artifacts_of, latest_run, load_from
from .stats import p_text

if TYPE_CHECKING:
    from ..plan import Plan
    from ..results import FoldResult

REASON_MET = "BaselineMet"
REASON_WORSE = "WorseThanBaseline"
REASON_REGRESSIONS = "TooManyRegressions"
REASON_UNAVAILABLE = "BaselineUnavailable"


@dataclass(frozen=True)
class BaselineVerdict:
    passed: bool
    reason: str
    failures: list[str] = field(default_factory=list)
    baseline: str | None = None  # namespace/name/uid of the run compared with
    source: str | None = None  # where it was read from
    resolved: str | None = None  # how `run: NAME` was resolved, in words
    b: int | None = None  # baseline right, this run wrong
    c: int | None = None  # baseline wrong, this run right
    p_value: float | None = None  # one-sided exact McNemar: this run is worse
    regressions: int | None = None  # right -> wrong, in the listed classes if any
    paired: int = 0
    excluded: int = 0
    alpha: float = 0.05
    max_regressions: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reason": self.reason,
            "failures": list(self.failures),
            "baseline": self.baseline,
            "source": self.source,
            "resolved": self.resolved,
            "b": self.b,
            "c": self.c,
            "pValue": self.p_value,
            "regressions": self.regressions,
            "pairedSamples": self.paired,
            "excludedSamples": self.excluded,
            "alpha": self.alpha,
            "maxRegressions": self.max_regressions,
        }

    def text(self) -> str:
        """One line for the terminal."""
        if self.b is None or self.p_value is None:
            return f"FAILED: {'; '.join(self.failures)}"
        counted = f"{self.regressions} regressions"
        left_out = f" ({self.excluded} left out: failed or missing)" if self.excluded else ""
        if self.max_regressions is not None:
            counted += f" (max {self.max_regressions})"
        return (
            f"{self.baseline}: {self.paired} paired samples{left_out}, b={self.b} right->wrong, "
            f"c={self.c} wrong->right, one-sided p={p_text(self.p_value)} (alpha {self.alpha:g}), "
            f"{counted}: {'PASSED' if self.passed else 'FAILED'}"
        )


def _unavailable(spec: BaselineSpec, why: str) -> BaselineVerdict:
    return BaselineVerdict(
        passed=False,
        reason=REASON_UNAVAILABLE,
        failures=[f"baseline unavailable: {why}"],
        alpha=spec.alpha,
        max_regressions=spec.max_regressions,
    )


def judge(
    spec: BaselineSpec, comparison: Comparison, resolved: str | None = None
) -> BaselineVerdict:
    """The verdict on a comparison of this run (candidate) with its baseline."""
    base = comparison.baseline
    context = BaselineVerdict(
        passed=False,
        reason=REASON_UNAVAILABLE,
        baseline=base.label,
        source=base.source,
        resolved=resolved,
        paired=comparison.paired,
        excluded=comparison.excluded.total,
        alpha=spec.alpha,
        max_regressions=spec.max_regressions,
    )

    def unavailable(why: str) -> BaselineVerdict:
        return replace(context, failures=[f"baseline unavailable: {why}"])

    test = comparison.mcnemar
    if test is None:
        return unavailable(f"the runs are {base.task}: the paired test applies to classification")
    if comparison.paired == 0:
        return unavailable("no sample has a prediction in both runs")
    wanted = {str(c) for c in spec.classes} if spec.classes else None
    unknown = sorted(wanted - set(base.classes)) if wanted else []
    if unknown:
        return unavailable(
            f"gate.baseline.classes {unknown} are not classes of the run {list(base.classes)}"
        )
    flips = [f for f in comparison.regressions if wanted is None or f.y_true in wanted]
    failures: list[str] = []
    reason = REASON_MET
    if test.p_worse <= spec.alpha:
        failures.append(
            f"worse than baseline {base.label}: {test.b} samples right->wrong, {test.c} "
            f"wrong->right, one-sided exact McNemar p={p_text(test.p_worse)} "
            f"<= alpha {spec.alpha:g}"
        )
        reason = REASON_WORSE
    if spec.max_regressions is not None and len(flips) > spec.max_regressions:
        where = f" of classes {sorted(wanted)}" if wanted else ""
        shown = ", ".join(f.id for f in flips[:10]) + (", …" if len(flips) > 10 else "")
        failures.append(
            f"{len(flips)} samples{where} went right->wrong against baseline {base.label} "
            f"> max {spec.max_regressions} ({shown})"
        )
        reason = REASON_REGRESSIONS if reason == REASON_MET else reason
    if comparison.excluded.total and failures:
        failures.append(comparison.notes[0])
    return replace(
        context,
        passed=not failures,
        reason=reason,
        failures=failures,
        b=test.b,
        c=test.c,
        p_value=test.p_worse,
        regressions=len(flips),
    )


def check_applies(plan: Plan) -> None:
    """Refuse, before any fold runs, a baseline gate the run could never pass: the paired
    test compares right and wrong predictions, which a regression run has not."""
    gate = plan.spec.gate
    if gate is not None and gate.baseline is not None and plan.task != "classification":
        raise InvalidInput(
            "spec.gate.baseline",
            f"applies to classification runs (the exact McNemar test on right/wrong "
            f"predictions); this run is {plan.task}: compare with loocv compare instead",
        )


def find_baseline(
    spec: BaselineSpec,
    store: Store,
    namespace: str,
    own_uid: str,
    endpoint: str | None = None,
    region: str | None = None,
) -> tuple[RunArtifacts, str | None]:
    """The baseline's artifacts, and how a `run: NAME` was resolved (None for a URI).

    A run name is looked up in this run's own store as ``<namespace>/<name>/*/report.json``,
    the newest by generatedAt (never this run itself): the layout both the CLI and the
    operator write, so no extra cluster permission is needed."""
    if spec.results_uri is not None:
        uri = spec.results_uri.rstrip("/")
        return load_from(open_store(uri, endpoint, region), "", uri), None
    assert spec.run is not None
    try:
        prefix = latest_run(store, namespace, spec.run, exclude_uid=own_uid)
    except KeyError:
        raise InvalidInput(
            "spec.gate.baseline.run",
            f"no finished run {namespace}/{spec.run} (no report.json under "
            f"{store.uri(f'{namespace}/{spec.run}/')})",
        ) from None
    artifacts = load_from(store, prefix, store.uri(prefix))
    return artifacts, f"run {spec.run}: the newest of its stored reports, {prefix.rstrip('/')}"


def candidate_of(plan: Plan, predictions: str) -> RunArtifacts:
    """This run as the comparison sees it: its plan and predictions.csv's content."""
    report = {
        "run": {
            "namespace": plan.location.namespace,
            "name": plan.location.name,
            "uid": plan.location.uid,
        },
        "spec": plan.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        "datasetDigest": plan.dataset_digest,
        "nSamples": plan.n_samples,
        "task": plan.task,
        "classes": plan.classes,
    }
    return artifacts_of(report, predictions, "this run")


def evaluate_baseline(
    spec: BaselineSpec,
    store: Store,
    plan: Plan,
    predictions: str,
    endpoint: str | None = None,
    region: str | None = None,
) -> BaselineVerdict:
    """Find, read and pair the baseline, and judge; any failure to do so fails closed."""
    try:
        baseline, resolved = find_baseline(
            spec, store, plan.location.namespace, plan.location.uid, endpoint, region
        )
        comparison = compare_runs(baseline, candidate_of(plan, predictions))
    except (InvalidInput, StoreError) as exc:
        return _unavailable(spec, str(exc))
    return judge(spec, comparison, resolved)


def judge_run(
    store: Store, plan: Plan, results: list[FoldResult], endpoint: str | None = None
) -> BaselineVerdict | None:
    """``gate.baseline`` judged on a finished run's results, or None when it has none."""
    gate = plan.spec.gate
    if gate is None or gate.baseline is None:
        return None
    from ..report import predictions_csv

    return evaluate_baseline(
        gate.baseline,
        store,
        plan,
        predictions_csv(plan, results),
        endpoint,
        plan.spec.storage.region,
    )


def combine(verdict: GateVerdict, baseline: BaselineVerdict) -> GateVerdict:
    """The gate's verdict with the baseline's: its failures appended, and its reason the
    condition's reason when the baseline is all that failed."""
    if baseline.passed:
        return replace(verdict, evaluated=True)
    return replace(
        verdict,
        passed=False,
        evaluated=True,
        failures=[*verdict.failures, *baseline.failures],
        reason_override=None if verdict.failures else baseline.reason,
    )


def record_baseline(store: Store, report_key: str, baseline: BaselineVerdict) -> None:
    """Add the baseline verdict to a written report.json (``baseline``)."""
    report = json.loads(store.get(report_key))
    report["baseline"] = baseline.to_json()
    store.put(report_key, json.dumps(report, indent=2, allow_nan=False).encode("utf-8"))
