"""One fold, fitted and scored, or a batch's folds in one fast pass: the I/O-free worker of
the trainer (trainer.py writes what it returns) and of the local executor.

A failing fold is isolated: its error is recorded in its result and the caller carries on.
A prediction that is NaN or infinite fails its fold, whatever the model claims.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import config_context, get_config
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from .datasets import Dataset
from .errors import InvalidInput
from .fastpaths import find_fast_path
from .folds import Fold
from .plan import Plan
from .privacy import IdHasher
from .results import FoldError, FoldResult, SampleResult, to_python
from .warmstart import WARM_PATH

log = logging.getLogger("loocv.trainer")
THREADS_ENV = "LOOCV_THREADS"
MAX_ERROR_CHARS = 2000
MAX_WARNINGS = 3


class FoldRunner:
    """Holds what every fold of a process shares: the data, the estimator, the class order."""

    def __init__(
        self,
        plan: Plan,
        dataset: Dataset,
        estimator: Any,
        hasher: IdHasher,
        fast_paths: bool = True,
    ) -> None:
        if dataset.digest() != plan.dataset_digest:
            raise InvalidInput(
                dataset.source, "the data differ from the data the run was planned on"
            )
        self.plan = plan
        self.dataset = dataset
        self.estimator = estimator
        self.hasher = hasher
        self.classification = plan.task == "classification"
        self.all_classes = np.unique(dataset.y) if self.classification else None
        self.rows = np.arange(dataset.n_samples)
        self.fast = find_fast_path(estimator, plan.spec) if fast_paths else None
        # clone() re-inspects every __init__ signature of every step (~130 µs a fold for a
        # scaler + logistic regression); a deep copy of one pristine clone is the same
        # unfitted estimator for a fifth of that.
        self._pristine = clone(estimator)
        self.warm = plan.spec.model.warm_start
        self._warm_final: Any = None  # the full-data fit, made on this process' first fold
        self._warm_tried = False
        if self.classification:
            assert self.all_classes is not None
            self._class_counts = np.bincount(np.searchsorted(self.all_classes, dataset.y))

    def fresh_model(self) -> Any:
        """An unfitted copy of the estimator, as ``clone`` would give."""
        return copy.deepcopy(self._pristine)

    def _model_for(self, test: np.ndarray) -> tuple[Any, str]:
        """The model to fit for a fold, and the path recorded: with warmStart, the final
        estimator starts from the full-data fit; a fold that loses a class (its coefficients
        would not fit) or a full-data fit that failed gets a cold fit, recorded as such."""
        model = self.fresh_model()
        if not self.warm:
            return model, "brute-force"
        start = self._warm_start()
        if start is None:
            return model, "brute-force"
        if self.classification:
            assert self.all_classes is not None
            held = np.bincount(
                np.searchsorted(self.all_classes, self.dataset.y[test]),
                minlength=len(self._class_counts),
            )
            if (held >= self._class_counts).any():
                return model, "brute-force"
        if isinstance(model, Pipeline):
            model.steps[-1] = (model.steps[-1][0], copy.deepcopy(start))
            return model, WARM_PATH
        return copy.deepcopy(start), WARM_PATH

    def _warm_start(self) -> Any:
        """The full-data fit of the final estimator, with warm_start on; once per process."""
        if not self._warm_tried:
            self._warm_tried = True
            model = self.fresh_model()
            try:
                with warnings.catch_warnings(), config_context(skip_parameter_validation=True):
                    warnings.simplefilter("ignore")
                    model.fit(self.dataset.X, self.dataset.y)
            except Exception as exc:  # the folds can still be fitted cold
                log.warning("the full-data fit for warm starts failed, fitting cold: %r", exc)
                return None
            final = model.steps[-1][1] if isinstance(model, Pipeline) else model
            self._warm_final = final.set_params(warm_start=True)
        return self._warm_final

    def _samples(self, test: Sequence[int]) -> list[SampleResult]:
        y = self.dataset.y
        return [
            SampleResult(row=int(r), id=self.hasher(self.dataset.ids[r]), y_true=to_python(y[r]))
            for r in test
        ]

    def run(self, fold: Fold) -> FoldResult:
        test = np.asarray(fold.test, dtype=np.intp)
        train = np.delete(self.rows, test)  # ascending, as cross_val_predict slices it
        X, y = self.dataset.X, self.dataset.y
        model, path = self._model_for(test)
        messages: list[str] = []
        fit_s = predict_s = 0.0
        try:
            # Every parameter was validated once, when the estimator was built (estimators.py);
            # scikit-learn re-checking the same values at each fit costs up to 7% of a small
            # fit (measured). The check only raises, never changes a value; the data are
            # still checked by every fit.
            with (
                warnings.catch_warnings(record=True) as caught,
                config_context(skip_parameter_validation=True),
            ):
                warnings.simplefilter("always")
                start = time.perf_counter()
                model.fit(X[train], y[train])
                fit_s = time.perf_counter() - start
                start = time.perf_counter()
                final, X_test = _transformed(model, X[test])
                predicted = final.predict(X_test)
                proba = self._proba(final, X_test)
                predict_s = time.perf_counter() - start
                _check_finite(predicted, proba)
                samples = self._scored(fold.test, predicted, proba)
            messages = list(dict.fromkeys(str(w.message) for w in caught))[:MAX_WARNINGS]
        except Exception as exc:  # a bad sample fails its fold, never the batch
            return FoldResult(
                index=fold.index,
                samples=self._samples(fold.test),
                fit_seconds=fit_s,
                predict_seconds=predict_s,
                error=FoldError(type(exc).__name__, str(exc)[:MAX_ERROR_CHARS]),
                path=path,
            )
        return FoldResult(
            index=fold.index,
            samples=samples,
            fit_seconds=fit_s,
            predict_seconds=predict_s,
            path=path,
            extra={"warnings": messages} if messages else {},
        )

    def run_fast(self, folds: Sequence[Fold]) -> dict[int, FoldResult]:
        """Results of the folds the fast path computes exactly, by fold index; any fold not
        in the answer (a tie, a near-singular fold, the path failing) is the caller's to fit.
        The one pass's time is shared out over the folds it computed."""
        if self.fast is None or not folds or any(len(f.test) != 1 for f in folds):
            return {}
        rows = np.array([f.test[0] for f in folds], dtype=np.intp)
        X = np.asarray(self.dataset.X, dtype=np.float64)
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = self.fast.loo(X, self.dataset.y, rows)
        except Exception as exc:  # never let a shortcut fail folds brute force can compute
            log.warning("fast path %s failed, fitting every fold: %r", self.fast.name, exc)
            return {}
        elapsed = time.perf_counter() - start
        with_proba = self.classification and hasattr(self.estimator, "predict_proba")
        claimed = np.flatnonzero(out.exact)
        share = elapsed / max(1, len(claimed))
        results: dict[int, FoldResult] = {}
        for k in claimed.tolist():
            fold = folds[k]
            predicted = out.predicted[k : k + 1]
            proba = out.proba[k : k + 1] if with_proba and out.proba is not None else None
            try:
                _check_finite(predicted, proba)
                samples = self._scored(fold.test, predicted, proba)
            except NonFinitePrediction:
                continue  # brute force will record what the model really does
            extra: dict[str, Any] = {"amortized_over": len(claimed)}
            for key, values in (out.detail or {}).items():
                extra[key] = float(values[k])
            results[fold.index] = FoldResult(
                index=fold.index, samples=samples, fit_seconds=share, path=out.path, extra=extra
            )
        return results

    def _scored(
        self, test: Sequence[int], predicted: np.ndarray, proba: np.ndarray | None
    ) -> list[SampleResult]:
        y = self.dataset.y
        samples = []
        for k, r in enumerate(test):
            p = proba[k].tolist() if proba is not None else None
            loss = self._loss(y[r], predicted[k], p)
            if not math.isfinite(loss):
                raise NonFinitePrediction(f"the loss of prediction {predicted[k]!r} is not finite")
            samples.append(
                SampleResult(
                    row=int(r),
                    id=self.hasher(self.dataset.ids[r]),
                    y_true=to_python(y[r]),
                    y_pred=to_python(predicted[k]),
                    proba=p,
                    loss=loss,
                )
            )
        return samples

    def _proba(self, model: Any, X_test: np.ndarray) -> np.ndarray | None:
        """Probabilities in the run's class order; a class absent from the training fold
        gets 0, as cross_val_predict(method='predict_proba') does."""
        if not self.classification or not hasattr(model, "predict_proba"):
            return None
        raw = np.asarray(model.predict_proba(X_test), dtype=np.float64)
        assert self.all_classes is not None
        full = np.zeros((raw.shape[0], len(self.all_classes)), dtype=np.float64)
        full[:, np.searchsorted(self.all_classes, model.classes_)] = raw
        return full

    def _loss(self, y_true: Any, y_pred: Any, proba: list[float] | None) -> float:
        if not self.classification:
            error = float(y_true) - float(y_pred)
            return error * error if abs(error) < 1e154 else math.inf
        if proba is None:
            return float(y_true != y_pred)
        assert self.all_classes is not None
        eps = float(np.finfo(np.float64).eps)  # sklearn's log_loss clips the same way
        p = proba[int(np.searchsorted(self.all_classes, y_true))]
        return float(-math.log(min(max(p, eps), 1 - eps)))


def _transformed(model: Any, X_test: np.ndarray) -> tuple[Any, Any]:
    """The estimator that predicts and the rows it predicts on: through a fitted Pipeline,
    the rows transformed once by its steps, so predict and predict_proba do not each repeat
    every transform and its input checks. The final estimator sees exactly the rows
    Pipeline.predict would hand it; with metadata routing on (transforms may then take
    routed parameters) the Pipeline runs as it is."""
    while (
        isinstance(model, Pipeline)
        and model.steps[-1][1] not in (None, "passthrough")
        and not get_config().get("enable_metadata_routing", False)
    ):
        for _, step in model.steps[:-1]:
            if step is not None and step != "passthrough":
                X_test = step.transform(X_test)
        model = model.steps[-1][1]
    return model, X_test


def limit_math_threads() -> Any:
    """One BLAS/OpenMP thread per process unless LOOCV_THREADS says otherwise.

    Folds are parallel across processes (pods, pool workers); BLAS threads on top of that
    oversubscribe the cores, and OpenBLAS's spinning threads then make small fits 20x slower
    (measured: iris logistic-regression LOO 13.6 s with 2 threads vs 0.67 s with 1).
    Returns the controller; keep it alive for as long as the limit should hold.
    """
    global _CONTROLLER
    from threadpoolctl import ThreadpoolController

    # Finding the loaded BLAS/OpenMP libraries costs ~13 ms: scan again only when modules were
    # imported since (a new extension module may have loaded a new OpenMP or BLAS).
    if _CONTROLLER is None or _CONTROLLER[0] != len(sys.modules):
        _CONTROLLER = (len(sys.modules), ThreadpoolController())
    return _CONTROLLER[1].limit(limits=int(os.environ.get(THREADS_ENV, "1")))


_CONTROLLER: tuple[int, Any] | None = None


class NonFinitePrediction(ValueError):
    """A model that predicts NaN or infinity has failed on that fold, whatever it claims."""


def _check_finite(predicted: np.ndarray, proba: np.ndarray | None) -> None:
    if np.issubdtype(predicted.dtype, np.floating) and not np.isfinite(predicted).all():
        raise NonFinitePrediction("the model predicted NaN or infinity")
    if proba is not None and not np.isfinite(proba).all():
        raise NonFinitePrediction("the model's probabilities contain NaN or infinity")
