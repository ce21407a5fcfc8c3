"""Kernel ridge and Gaussian-process regression with fixed hyperparameters.

Both predict with k(x, X)(K + aI)⁻¹ y, a linear smoother whose kernel does not depend on the
training set, so the block-inverse identity gives every held-out prediction from one
inverse A = (K + aI)⁻¹: ``y_i - (A y)_i / A_ii`` (Rasmussen & Williams, eq. 5.12). A GP
with ``normalize_y`` subtracts the fold's mean m₋ᵢ first; the identity is linear in y, so
that is ``loo(y) + m₋ᵢ (1 - loo(1))``, still exact. (The fold's standard deviation cancels.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, Kernel
from sklearn.gaussian_process.kernels import ConstantKernel as C
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics.pairwise import PAIRWISE_KERNEL_FUNCTIONS, pairwise_kernels
from sklearn.preprocessing import StandardScaler

from .base import MAX_CONDITION, FastPath, Floats, LooPredictions, scalar


def smoother_loo(K: Floats, alpha: float, y: Floats) -> tuple[Floats, Floats] | None:
    """(loo(y), loo(1)) for every row; None when K + aI is too ill-conditioned for the
    result to match sklearn's own Cholesky solve to ~1e-9."""
    w, Q = np.linalg.eigh(K)
    w = w + alpha
    if w[0] <= 0 or w[-1] > MAX_CONDITION * w[0]:
        return None
    A = (Q / w) @ Q.T
    diag = np.diag(A)
    ones = np.ones_like(y)
    return y - (A @ y) / diag, ones - (A @ ones) / diag


class KernelSmootherPath(FastPath):
    def __init__(self, name: str, kernel: Any, alpha: float, normalize_y: bool) -> None:
        self.name, self.kernel, self.alpha, self.normalize_y = name, kernel, alpha, normalize_y

    def loo(self, X: Floats, y: NDArray[Any], rows: NDArray[np.intp]) -> LooPredictions:
        yf = np.asarray(y, dtype=np.float64)
        out = smoother_loo(self.kernel(X), self.alpha, yf)
        if out is None:
            return LooPredictions(
                rows, np.zeros(len(rows)), None, np.zeros(len(rows), bool), self.name
            )
        loo_y, loo_one = out
        pred = loo_y[rows]
        if self.normalize_y:
            n = len(yf)
            fold_mean = (yf.sum() - yf[rows]) / (n - 1)
            pred = pred + fold_mean * (1.0 - loo_one[rows])
        return LooPredictions(rows, pred, None, np.isfinite(pred), self.name)


def _kernel_ridge(final: KernelRidge) -> FastPath | None:
    alpha = scalar(final.alpha)
    if alpha is None or alpha <= 0 or not isinstance(final.kernel, str):
        return None
    if final.kernel not in PAIRWISE_KERNEL_FUNCTIONS or final.kernel == "precomputed":
        return None
    params = {"gamma": final.gamma, "degree": final.degree, "coef0": final.coef0}

    def kernel(X: Floats) -> Floats:
        # What KernelRidge._get_kernel computes; gamma=None means 1/n_features, which does
        # not depend on the samples.
        return np.asarray(
            pairwise_kernels(X, None, metric=final.kernel, filter_params=True, **params)
        )

    return KernelSmootherPath("exact:kernel-ridge-loo", kernel, alpha, normalize_y=False)


def _gaussian_process(final: GaussianProcessRegressor) -> FastPath | None:
    alpha = scalar(final.alpha)
    if alpha is None or alpha < 0:
        return None
    # What fit() uses: kernel=None means C() * RBF() with free hyperparameters (the fixed
    # one sklearn documents is only the unfitted prior's).
    kernel: Kernel = C() * RBF() if final.kernel is None else final.kernel
    # sklearn optimises the hyperparameters per fold unless none is free or there is no
    # optimizer: then the kernel is the same in every fold.
    if final.optimizer is not None and kernel.n_dims > 0:
        return None

    def gram(X: Floats) -> Floats:
        return np.asarray(kernel(X))

    return KernelSmootherPath("exact:gp-loo", gram, alpha, normalize_y=bool(final.normalize_y))


def match(final: Any, scaler: StandardScaler | None) -> FastPath | None:
    if scaler is not None:  # a per-fold scaler changes every kernel entry: no shortcut
        return None
    if type(final) is KernelRidge:
        return _kernel_ridge(final)
    if type(final) is GaussianProcessRegressor:
        return _gaussian_process(final)
    return None
