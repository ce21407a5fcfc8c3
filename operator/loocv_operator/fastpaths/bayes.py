"""Gaussian naive Bayes: each fold's model from downdated class statistics.

Holding out row i changes only its class's count, means and variances, the class priors
(counts / (n-1), unless ``priors`` fixes them), and the variance smoothing term
``var_smoothing * max_j var(X_j without i)``, which depends on every feature's spread over
all training rows: it is recomputed exactly per fold. A class whose only member is held out
is absent from that fold (probability 0, as the trainer reports it); with fixed priors
sklearn refuses such a fold, so brute force records that error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.naive_bayes import GaussianNB
from sklearn.preprocessing import StandardScaler

from .base import FastPath, Floats, LooPredictions, class_moments, clear_argmax, fold_moments
from .base import softmax as _softmax


class GaussianNBPath(FastPath):
    name = "exact:gaussian-nb-downdate"

    def __init__(self, var_smoothing: float, priors: Floats | None) -> None:
        self.var_smoothing, self.priors = var_smoothing, priors

    def loo(self, X: Floats, y: NDArray[Any], rows: NDArray[np.intp]) -> LooPredictions:
        n = X.shape[0]
        cm = class_moments(X, y, rows)
        K, m = len(cm.classes), len(rows)
        c_rows = cm.codes[rows]
        at = np.arange(m)
        _, fold_var_all = fold_moments(X, rows)
        epsilon = self.var_smoothing * fold_var_all.max(axis=1)  # (m,)
        counts = np.broadcast_to(cm.counts.astype(np.float64), (m, K)).copy()
        counts[at, c_rows] -= 1
        present = counts > 0
        theta = np.broadcast_to(cm.mean, (m, K, X.shape[1])).copy()
        raw_var = np.broadcast_to(cm.m2 / cm.counts[:, None], theta.shape).copy()
        theta[at, c_rows] = cm.fold_mean
        with np.errstate(divide="ignore", invalid="ignore"):
            raw_var[at, c_rows] = cm.fold_m2 / counts[at, c_rows][:, None]
        var = raw_var + epsilon[:, None, None]
        var[~present] = 1.0  # absent classes are masked out below
        if self.priors is None:
            prior = counts / (n - 1)
            exact = np.ones(m, dtype=bool)
        else:
            prior = np.broadcast_to(self.priors, (m, K)).copy()
            # sklearn refuses a fold with fewer classes than priors
            exact = np.asarray(present.all(axis=1), dtype=bool)
        x = X[rows][:, None, :]
        with np.errstate(divide="ignore"):
            jll = (
                np.log(prior)
                - 0.5 * np.log(2.0 * np.pi * var).sum(axis=2)
                - 0.5 * (((x - theta) ** 2) / var).sum(axis=2)
            )
        jll = np.where(present, jll, -np.inf)
        proba = _softmax(jll, present)
        finite = np.where(present, jll, 0.0)
        # Rounding in a class's score grows with its terms (one per feature), not with the
        # (possibly huge) scores of classes far from winning.
        best, clear = clear_argmax(jll, float(1 + X.shape[1]))
        exact &= clear & np.isfinite(finite).all(axis=1) & (epsilon > 0)
        return LooPredictions(rows, cm.classes[best], proba, exact, self.name)


def match(final: Any, scaler: StandardScaler | None) -> FastPath | None:
    if type(final) is not GaussianNB or scaler is not None:
        return None
    priors = None if final.priors is None else np.asarray(final.priors, dtype=np.float64)
    return GaussianNBPath(float(final.var_smoothing), priors)
