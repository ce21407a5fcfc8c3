"""Log a finished LOOCV run to MLflow: parameters, pooled metrics with their intervals, the
gate verdict, digests and the LOOCVRun's identity as tags, and the three artifacts.

Optional (``pip install 'loocv-operator[mlflow]'``, the light mlflow-skinny client): a run
that asks for MLflow where it is not installed is refused before any fold runs
(``require``). One MLflow run per LOOCVRun uid: logging again (``loocv report``, an
operator retry) finds the run by its ``loocv.uid`` tag and updates it. Credentials come
from MLflow's own environment variables (MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME /
_PASSWORD, ...).
"""

from __future__ import annotations

import importlib.util
import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidInput
from ..summary import SummaryLike, as_summary

if TYPE_CHECKING:
    from ..gate import GateVerdict
    from ..plan import Plan
    from ..spec import LOOCVRunSpec, MlflowTrackingSpec

FIELD = "spec.tracking.mlflow"
INSTALL = "pip install 'loocv-operator[mlflow]'"
TAG_UID = "loocv.uid"
MAX_TAG = 5000  # MLflow's tag value limit is 8000 characters; stay under it

# summary metric key -> MLflow metric name
_METRICS = {
    "accuracy": "accuracy",
    "logLoss": "log_loss",
    "brier": "brier",
    "ece": "ece",
    "mae": "mae",
    "rmse": "rmse",
    "r2": "r2",
    "lossMean": "loss_mean",
}
_INTERVALS = {"accuracyCI95": "accuracy", "maeCI95": "mae", "rmseCI95": "rmse", "r2CI95": "r2"}


@dataclass(frozen=True)
class Logged:
    run_id: str
    experiment_id: str
    uri: str


def wanted(spec: LOOCVRunSpec) -> MlflowTrackingSpec | None:
    return spec.tracking.mlflow if spec.tracking is not None else None


def available() -> bool:
    return importlib.util.find_spec("mlflow") is not None


def require(spec: LOOCVRunSpec) -> None:
    """Refuse, naming the field, a run that asks for MLflow where the client is missing."""
    if wanted(spec) is not None and not available():
        raise InvalidInput(FIELD, f"logging to MLflow needs the mlflow extra: {INSTALL}")


def params_of(plan: Plan) -> dict[str, str]:
    from ..report.describe import pipeline_text, strategy_text

    spec = plan.spec
    params = {
        "model": spec.model.estimator,
        "pipeline": pipeline_text(plan),
        "strategy": strategy_text(plan),
        "seed": str(spec.execution.seed),
        "fast_path": spec.execution.fast_path,
        "n_samples": str(plan.n_samples),
        "n_folds": str(plan.n_folds),
        "task": plan.task,
    }
    for key, value in spec.model.params.items():
        params[f"model.params.{key}"] = str(value)
    return {k: v[:MAX_TAG] for k, v in params.items()}


def metrics_of(summary: SummaryLike, verdict: GateVerdict) -> dict[str, float]:
    summary = as_summary(summary)
    out: dict[str, float] = {}
    for key, name in _METRICS.items():  # by the summary's serialized metric names
        value = summary.metric(key)
        if isinstance(value, int | float) and math.isfinite(value):
            out[name] = float(value)
    for key, name in _INTERVALS.items():
        bounds = summary.metric(key)
        if bounds and len(bounds) == 2 and None not in bounds:
            out[f"{name}_ci95_low"], out[f"{name}_ci95_high"] = map(float, bounds)
    metrics = summary.classification_metrics
    for label, stats in (metrics.per_class if metrics is not None else {}).items():
        if stats.support > 0 and stats.recall is not None:
            out[f"recall.{label}"] = float(stats.recall)
    folds = summary.folds
    out["folds_total"] = float(folds.total)
    out["folds_failed"] = float(folds.failed)
    out["folds_missing"] = float(folds.missing)
    out["failure_rate"] = summary.failure_rate
    if verdict.evaluated:
        out["gate_passed"] = 1.0 if verdict.passed else 0.0
    return out


def tags_of(plan: Plan, verdict: GateVerdict) -> dict[str, str]:
    location = plan.location
    gate = "not evaluated" if not verdict.evaluated else "passed" if verdict.passed else "failed"
    dataset = plan.spec.dataset.builtin or plan.spec.dataset.uri or ""
    return {
        TAG_UID: location.uid,
        "loocv.namespace": location.namespace,
        "loocv.name": location.name,
        "loocv.specDigest": plan.spec_digest,
        "loocv.datasetDigest": plan.dataset_digest,
        "loocv.dataset": dataset[:MAX_TAG],
        "loocv.gate": gate,
        "loocv.gate.failures": "; ".join(verdict.failures)[:MAX_TAG],
    }


def log_run(
    plan: Plan,
    summary: SummaryLike,
    verdict: GateVerdict,
    artifacts: Mapping[str, bytes],
) -> Logged | None:
    """Log the run if its spec asks for MLflow; None if it does not."""
    target = wanted(plan.spec)
    if target is None:
        return None
    if not available():
        raise InvalidInput(FIELD, f"logging to MLflow needs the mlflow extra: {INSTALL}")
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=target.tracking_uri)
    experiment = client.get_experiment_by_name(target.experiment)
    experiment_id = (
        experiment.experiment_id
        if experiment is not None
        else client.create_experiment(target.experiment)
    )
    uid = plan.location.uid.replace("'", "")
    found = client.search_runs([experiment_id], f"tags.`{TAG_UID}` = '{uid}'", max_results=1)
    run = (
        found[0]
        if found
        else client.create_run(experiment_id, run_name=target.run_name or plan.location.name)
    )
    run_id = run.info.run_id
    stamp = _millis()
    known = dict(run.data.params) if found else {}
    params = [Param(k, v) for k, v in params_of(plan).items() if known.get(k) != v]
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, stamp, 0) for k, v in metrics_of(summary, verdict).items()],
        params=[p for p in params if p.key not in known],  # a logged param cannot change
        tags=[RunTag(k, v) for k, v in tags_of(plan, verdict).items()],
    )
    with tempfile.TemporaryDirectory(prefix="loocv-mlflow-") as folder:
        for name, content in artifacts.items():
            path = Path(folder) / name
            path.write_bytes(content)
            client.log_artifact(run_id, str(path))
    client.set_terminated(run_id, "FINISHED")
    return Logged(run_id, experiment_id, target.tracking_uri)


def _millis() -> int:
    import time

    return int(time.time() * 1000)
