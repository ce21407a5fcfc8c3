"""Linear discriminant analysis (solver 'svd'): each fold from downdated class statistics.

sklearn's svd solver whitens with the pooled within-class covariance Σ = Sw/n and then
projects onto the span of the centred class means. When no direction is truncated (full
within-class rank, between-class rank min(K-1, p), both clear of ``tol``), its decision
function equals the Gaussian one

    δ_k(x) = (x - x̄)ᵀ Σ⁻¹ (μ_k - x̄) - ½ (μ_k - x̄)ᵀ Σ⁻¹ (μ_k - x̄) + log π_k

up to a term that is the same for every class (the projection drops only directions along
which all classes agree), so labels and (softmax) probabilities are the same. Holding out
row i of class c is a rank-one downdate: Sw' = Sw - n_c/(n_c-1) d dᵀ, d = x_i - μ_c.
Where a fold is near a rank decision, or the downdate cancels, we fit it by brute force.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.preprocessing import StandardScaler

from .base import FastPath, Floats, LooPredictions, class_moments, clear_argmax, softmax

CHUNK = 256
# sklearn keeps a direction when its singular value exceeds tol (within) or tol * S[0]
# (between); we want every kept one clearly kept, and every dropped one truly zero.
RANK_MARGIN = 10.0


class LDAPath(FastPath):
    name = "exact:lda-downdate"

    def __init__(self, tol: float, priors: Floats | None) -> None:
        self.tol, self.priors = tol, priors

    def loo(self, X: Floats, y: NDArray[Any], rows: NDArray[np.intp]) -> LooPredictions:
        p = X.shape[1]
        cm = class_moments(X, y, rows)
        K, m = len(cm.classes), len(rows)
        Sw = np.zeros((p, p))
        for c in range(K):
            dev = X[cm.codes == c] - cm.mean[c]
            Sw += dev.T @ dev
        proba = np.zeros((m, K))
        best = np.zeros(m, dtype=np.intp)
        exact = np.zeros(m, dtype=bool)
        for start in range(0, m, CHUNK):
            sl = slice(start, min(m, start + CHUNK))
            block = rows[sl]
            scores, ok = self._block(X, cm, Sw, block, np.arange(sl.start, sl.stop))
            proba[sl] = softmax(scores, np.ones_like(scores, dtype=bool))
            best[sl], clear = clear_argmax(scores, 1.0 + np.abs(scores).max(axis=1))
            exact[sl] = ok & clear
        return LooPredictions(rows, cm.classes[best], proba, exact, self.name)

    def _block(
        self, X: Floats, cm: Any, Sw: Floats, block: NDArray[np.intp], at: NDArray[np.intp]
    ) -> tuple[Floats, NDArray[np.bool_]]:
        n, p = X.shape
        K, b = len(cm.classes), len(block)
        c_rows = cm.codes[block]
        n_c = cm.counts[c_rows].astype(np.float64)
        whole = n_c >= 2  # otherwise the fold lacks a class: a different model
        d = X[block] - cm.mean[c_rows]
        factor = np.where(whole, n_c / np.maximum(n_c - 1, 1), 0.0)
        Sw_i = Sw[None] - factor[:, None, None] * d[:, :, None] * d[:, None, :]
        # Cancellation check: the downdated diagonal against the stable per-class sums.
        expected = cm.m2.sum(axis=0)[None] - cm.m2[c_rows] + cm.fold_m2[at]
        diag = np.einsum("kii->ki", Sw_i)
        tolerance = 1e-9 * np.maximum(expected.max(axis=1), 1e-300)
        drift = np.abs(diag - expected).max(axis=1) > tolerance
        for j in np.flatnonzero(drift & whole):
            keep = np.delete(np.arange(n), block[j])
            S = np.zeros((p, p))
            for c in range(K):
                members = X[keep][cm.codes[keep] == c]
                dev = members - members.mean(axis=0)
                S += dev.T @ dev
            Sw_i[j] = S
        cov = Sw_i / (n - 1)
        # Fold class means, priors and overall weighted mean.
        means = np.broadcast_to(cm.mean, (b, K, p)).copy()
        means[np.arange(b), c_rows] = cm.fold_mean[at]
        counts = np.broadcast_to(cm.counts.astype(np.float64), (b, K)).copy()
        counts[np.arange(b), c_rows] -= 1
        priors = counts / (n - 1) if self.priors is None else np.broadcast_to(self.priors, (b, K))
        xbar = np.einsum("bk,bkp->bp", priors, means)
        centred = means - xbar[:, None, :]
        # Within rank: sklearn's singular values are sqrt(eig(correlation of Sw')).
        std = np.sqrt(np.maximum(np.einsum("kii->ki", cov), 0.0))
        ok = whole & (std > 0).all(axis=1)
        safe_std = np.where(std > 0, std, 1.0)
        corr = cov / safe_std[:, :, None] / safe_std[:, None, :]
        eig = np.linalg.eigvalsh(np.where(ok[:, None, None], corr, np.eye(p)))
        ok &= eig[:, 0] > (RANK_MARGIN * self.tol) ** 2
        cov = np.where(ok[:, None, None], cov, np.eye(p))
        rhs = np.concatenate([centred.transpose(0, 2, 1), (X[block] - xbar)[:, :, None]], axis=2)
        solved = np.linalg.solve(cov, rhs)  # Σ⁻¹ [μ_k - x̄ | x - x̄]
        inv_centred = solved[:, :, :K]
        # Between rank: singular values of D (M - x̄) Σ^-1/2, D = sqrt(n π / (K-1)).
        weight = np.sqrt((n - 1) * priors / max(K - 1, 1))
        gram = np.einsum("bkp,bpj->bkj", centred, inv_centred) * weight[:, :, None]
        gram = gram * weight[:, None, :]
        s2 = np.sort(np.linalg.eigvalsh(gram), axis=1)[:, ::-1]
        n_between = min(K - 1, p)
        top = np.maximum(s2[:, :1], 1e-300)
        ok &= (s2[:, n_between - 1 : n_between] > (RANK_MARGIN * self.tol) ** 2 * top).all(axis=1)
        if n_between < K:
            ok &= (s2[:, n_between:] < (self.tol / RANK_MARGIN) ** 2 * top).all(axis=1)
        x_term = np.einsum("bp,bpk->bk", X[block] - xbar, inv_centred)
        quad = np.einsum("bkp,bpk->bk", centred, inv_centred)
        with np.errstate(divide="ignore"):
            scores = x_term - 0.5 * quad + np.log(priors)
        ok &= np.isfinite(scores).all(axis=1)
        scores = np.where(np.isfinite(scores), scores, 0.0)
        return scores, ok


def match(final: Any, scaler: StandardScaler | None) -> FastPath | None:
    if type(final) is not LinearDiscriminantAnalysis or scaler is not None:
        return None
    if final.solver != "svd" or final.covariance_estimator is not None:
        return None
    priors = None
    if final.priors is not None:
        priors = np.asarray(final.priors, dtype=np.float64)
        if (priors < 0).any():
            return None
        if abs(priors.sum() - 1.0) > 1e-5:  # sklearn warns and renormalises
            priors = priors / priors.sum()
    return LDAPath(float(final.tol), priors)
