"""``fastPath: approximate``: approximate leave-one-out (ALO) for L2 logistic regression.

Opt-in and honest. From the full-data solution θ, one Newton step on each fold's objective
(the full objective minus sample i's loss), with the Hessian downdated by sample i's own
curvature (Rad & Maleki 2020; Wilson et al.), gives the fold's logit for sample i in closed
form: with h_i = x̃_iᵀ H⁻¹ x̃_i and w_i = p_i (1 - p_i) (Sherman-Morrison),

    η₋ᵢ ≈ η_i + (p_i - y_i) h_i / (1 - w_i h_i).

The step's own remaining error is second order, so a label can only flip where the logit
lies within about one step of the decision boundary: those samples, |η₋ᵢ| below
``REFIT_MARGIN`` steps (plus ``REFIT_FLOOR``), are refitted exactly by brute force. A
StandardScaler before the model is applied as fitted on all the data; its small per-fold
change is part of the approximation (and of why near-boundary samples are refitted).
Every approximate fold records its path, "approximate:alo-newton", and its step size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from .base import FastPath, Floats, LooPredictions

REFIT_MARGIN = 2.0  # refit when |approximate logit| < REFIT_MARGIN * |Newton step| + floor
REFIT_FLOOR = 0.5
L2_SOLVERS = ("lbfgs", "newton-cg", "newton-cholesky", "sag", "saga")


class ALOLogisticPath(FastPath):
    name = "approximate:alo-newton"

    def __init__(self, model: LogisticRegression, scaler: StandardScaler | None) -> None:
        self.model, self.scaler = model, scaler

    def loo(self, X: Floats, y: NDArray[Any], rows: NDArray[np.intp]) -> LooPredictions:
        classes, codes = np.unique(y, return_inverse=True)
        m = len(rows)
        if len(classes) != 2 or np.bincount(codes).min() < 2:
            none = np.zeros(m, dtype=bool)
            return LooPredictions(rows, classes[np.zeros(m, np.intp)], None, none, self.name)
        Z = StandardScaler(**self.scaler.get_params()).fit_transform(X) if self.scaler else X
        model = clone(self.model).fit(Z, y)
        intercept = bool(self.model.fit_intercept)
        Zt = np.column_stack([np.ones(len(Z)), Z]) if intercept else Z
        theta = np.concatenate([model.intercept_, model.coef_[0]]) if intercept else model.coef_[0]
        eta = Zt @ theta
        p = expit(eta)
        w = p * (1.0 - p)
        penalty = np.full(Zt.shape[1], 1.0 / float(self.model.C))
        if intercept:
            penalty[0] = 0.0  # sklearn does not penalise the intercept (except liblinear)
        H = (Zt * w[:, None]).T @ Zt + np.diag(penalty)
        Zr = Zt[rows]
        h = np.einsum("kp,kp->k", Zr, np.linalg.solve(H, Zr.T).T)
        step = (p[rows] - codes[rows]) * h / (1.0 - w[rows] * h)
        logit = eta[rows] + step
        proba1 = expit(logit)
        proba = np.column_stack([1.0 - proba1, proba1])
        safe = np.abs(logit) > REFIT_MARGIN * np.abs(step) + REFIT_FLOOR
        safe &= np.isfinite(logit) & (w[rows] * h < 1.0)
        predicted = classes[(logit > 0).astype(np.intp)]
        detail = {"alo_logit_step": step}
        return LooPredictions(rows, predicted, proba, safe, self.name, detail)


def match(final: Any, scaler: StandardScaler | None) -> FastPath | None:
    """ALO applies to L2-penalised (l1_ratio 0), unweighted, finite-C logistic regression
    with a solver that leaves the intercept unpenalised."""
    if type(final) is not LogisticRegression:
        return None
    if final.penalty not in ("deprecated", "l2") or final.l1_ratio not in (0, 0.0, None):
        return None
    if final.class_weight is not None or final.solver not in L2_SOLVERS:
        return None
    if not np.isfinite(final.C) or final.C <= 0:
        return None
    return ALOLogisticPath(final, scaler)
