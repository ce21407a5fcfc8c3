"""Least squares, ridge and RidgeClassifier: leave-one-out from one fit.

Ridge with an unpenalised intercept is a linear smoother, ŷ = H y, and the penalty does not
depend on the data, so the model fitted without sample i predicts it as
``y_i - e_i / (1 - h_ii)`` (e the full-fit residual). scikit-learn centres X and y to fit
the intercept; H then is 11ᵀ/n + Xc (XcᵀXc + aI)⁻¹ Xcᵀ, computed here from one SVD of Xc.

A StandardScaler before the model rescales the features per fold, which changes the
penalty per fold; the hat identity no longer applies, but each fold is still a p x p linear
system built from downdated sums (scatter and cross-products without row i), solved in a
batch: exact, and n·p³ instead of n fits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LinearRegression, Ridge, RidgeClassifier
from sklearn.preprocessing import LabelBinarizer, StandardScaler

from .base import (
    MAX_CONDITION,
    FastPath,
    Floats,
    LooPredictions,
    clear_argmax,
    clear_sign,
    fold_scaling,
    scalar,
)

CLOSED_FORM_SOLVERS = ("auto", "cholesky", "svd")
# 1 - h_ii below this: the fold without row i is (nearly) rank deficient, and dividing by
# 1 - h_ii would amplify rounding past our tolerance.
MIN_ONE_MINUS_LEVERAGE = 1e-6
CHUNK = 256


def hat_loo(X: Floats, Y: Floats, alpha: float, intercept: bool) -> tuple[Floats, NDArray[Any]]:
    """LOO predictions of every row (n, t) for ridge (alpha=0: least squares), and which rows
    the identity holds for numerically."""
    n = X.shape[0]
    x_mean = X.mean(axis=0) if intercept else np.zeros(X.shape[1])
    y_mean = Y.mean(axis=0) if intercept else np.zeros(Y.shape[1])
    U, s, _ = np.linalg.svd(X - x_mean, full_matrices=False)
    if alpha > 0:
        if (s[0] ** 2 + alpha) / (s[-1] ** 2 + alpha) > MAX_CONDITION**2 / 1e2:
            return np.zeros_like(Y), np.zeros(n, dtype=bool)
        shrink = s**2 / (s**2 + alpha)
    else:
        # Least squares (sklearn: scipy's lstsq) is a projection only at full column rank;
        # a rank-deficient fit is a minimum-norm solution we do not reproduce.
        if s.size == 0 or s[-1] <= s[0] * 1e-6 or X.shape[0] <= X.shape[1] + intercept:
            return np.zeros_like(Y), np.zeros(n, dtype=bool)
        shrink = np.ones_like(s)
    leverage = (U**2) @ shrink + (1.0 / n if intercept else 0.0)
    fitted = y_mean + U @ (shrink[:, None] * (U.T @ (Y - y_mean)))
    one_minus = 1.0 - leverage
    ok = one_minus > MIN_ONE_MINUS_LEVERAGE
    loo = Y - (Y - fitted) / np.where(ok, one_minus, 1.0)[:, None]
    return loo, ok


def scaled_ridge_loo(
    scaler: StandardScaler, X: Floats, Y: Floats, alpha: float, rows: NDArray[np.intp]
) -> tuple[Floats, NDArray[Any]]:
    """StandardScaler → Ridge(fit_intercept=True), each fold solved from downdated sums."""
    n, p = X.shape
    x_mean, y_mean = X.mean(axis=0), Y.mean(axis=0)
    Xc, Yc = X - x_mean, Y - y_mean
    S, C = Xc.T @ Xc, Xc.T @ Yc
    out = np.zeros((len(rows), Y.shape[1]))
    exact = np.zeros(len(rows), dtype=bool)
    eye = np.eye(p)
    for start in range(0, len(rows), CHUNK):
        block = rows[start : start + CHUNK]
        scaling = fold_scaling(scaler, X, block)
        d, e = Xc[block], Yc[block]
        k = n / (n - 1)
        S_i = S[None] - k * d[:, :, None] * d[:, None, :]
        C_i = C[None] - k * d[:, :, None] * e[:, None, :]
        inv = 1.0 / scaling.scale
        A = S_i * inv[:, :, None] * inv[:, None, :]
        # The scaled scatter's diagonal is n-1 exactly in exact arithmetic (unit variance);
        # a drift shows the downdate cancelled: recompute those folds' sums directly.
        drift = np.abs(np.einsum("kii->ki", A) - (n - 1)).max(axis=1) if scaler.with_std else None
        redo: list[int] = (
            np.flatnonzero(drift > 1e-9 * (n - 1)).tolist() if drift is not None else []
        )
        for j in redo:
            keep = np.delete(np.arange(n), block[j])
            Xf = X[keep] - X[keep].mean(axis=0)
            S_i[j] = Xf.T @ Xf
            C_i[j] = Xf.T @ (Y[keep] - Y[keep].mean(axis=0))
            A[j] = S_i[j] * inv[j][:, None] * inv[j][None, :]
        A = A + alpha * eye
        b = C_i * inv[:, :, None]
        w = np.linalg.eigvalsh(A)
        well = (w[:, 0] > 0) & (w[:, -1] <= MAX_CONDITION * np.maximum(w[:, 0], 1e-300))
        beta = np.linalg.solve(np.where(well[:, None, None], A, eye), b)
        z = (X[block] - scaling.mean) * inv
        fold_y_mean = y_mean - e / (n - 1)
        out[start : start + len(block)] = fold_y_mean + np.einsum("kp,kpt->kt", z, beta)
        exact[start : start + len(block)] = well & scaling.exact
    return out, exact


class LinearSmootherPath(FastPath):
    """Ridge / LinearRegression, optionally after a StandardScaler."""

    def __init__(self, alpha: float, intercept: bool, scaler: StandardScaler | None) -> None:
        self.alpha, self.intercept, self.scaler = alpha, intercept, scaler
        self.name = "exact:ridge-hat" if scaler is None else "exact:scaled-ridge-downdate"

    def scores(self, X: Floats, Y: Floats, rows: NDArray[np.intp]) -> tuple[Floats, NDArray[Any]]:
        if self.scaler is None:
            loo, ok = hat_loo(X, Y, self.alpha, self.intercept)
            return loo[rows], ok[rows]
        return scaled_ridge_loo(self.scaler, X, Y, self.alpha, rows)

    def loo(self, X: Floats, y: NDArray[Any], rows: NDArray[np.intp]) -> LooPredictions:
        Y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        pred, ok = self.scores(X, Y, rows)
        finite = np.isfinite(pred).all(axis=1)
        return LooPredictions(rows, pred[:, 0], None, ok & finite, self.name)


class RidgeClassifierPath(LinearSmootherPath):
    """RidgeClassifier: ridge LOO of each ±1 target column, then sklearn's decision rule."""

    def __init__(self, alpha: float, intercept: bool, scaler: StandardScaler | None) -> None:
        super().__init__(alpha, intercept, scaler)
        self.name = (
            "exact:ridge-classifier-hat" if scaler is None else "exact:scaled-ridge-classifier"
        )

    def loo(self, X: Floats, y: NDArray[Any], rows: NDArray[np.intp]) -> LooPredictions:
        binarizer = LabelBinarizer(pos_label=1, neg_label=-1)
        Y = binarizer.fit_transform(y).astype(np.float64)
        classes = binarizer.classes_
        scores, ok = self.scores(X, Y, rows)
        scale = 1.0 + np.abs(scores).max(axis=1)
        if scores.shape[1] == 1:
            index, clear = clear_sign(scores[:, 0], scale)
        else:
            index, clear = clear_argmax(scores, scale)
        # Holding out a class's only member changes the fold's classes (and the number of
        # target columns): not this computation.
        counts = np.unique(y, return_counts=True)[1]
        whole = counts[np.searchsorted(classes, y[rows])] >= 2
        exact = ok & clear & whole & np.isfinite(scores).all(axis=1)
        return LooPredictions(rows, classes[index], None, exact, self.name)


def match(final: Any, scaler: StandardScaler | None) -> FastPath | None:
    """The fast path for this estimator, or None where one fit cannot be exact."""
    kind = type(final)
    if kind is LinearRegression:
        if final.positive:
            return None
        if scaler is not None and not final.fit_intercept:
            return None
        # After a scaler, least squares is the downdate path with alpha=0: a well-conditioned
        # solve gives lstsq's unique answer.
        return LinearSmootherPath(0.0, bool(final.fit_intercept), scaler)
    if kind not in (Ridge, RidgeClassifier):
        return None
    alpha = scalar(final.alpha)
    if alpha is None or alpha < 0 or final.positive or final.solver not in CLOSED_FORM_SOLVERS:
        return None
    if scaler is not None and not final.fit_intercept:
        return None
    if kind is RidgeClassifier:
        if final.class_weight is not None:
            return None
        return RidgeClassifierPath(alpha, bool(final.fit_intercept), scaler)
    return LinearSmootherPath(alpha, bool(final.fit_intercept), scaler)
