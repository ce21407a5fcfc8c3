"""k-nearest neighbours: each held-out row's neighbours among exactly the other rows.

One distance computation per row replaces one fit per row. Row i is excluded by index, not
by value, so a duplicate of it elsewhere is still a neighbour (as in the fold's model). With
a StandardScaler first, distances use the fold's own scale (the mean cancels).

Ties: which of several equidistant candidates sklearn picks depends on its algorithm (kd-tree
or a GEMM-based brute search, whose distances also round differently from ours). So a
neighbour set is trusted only when the k-th and (k+1)-th distances are apart by more than
any rounding could explain, or when every candidate in the tie band has the same label
(uniform votes do not care which is picked). Otherwise the row goes to brute force.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.preprocessing import StandardScaler

from .base import EPS, TIE_ULPS, FastPath, Floats, LooPredictions, clear_argmax, fold_scaling

# Elements of the (rows x samples x features) difference block held at once.
BLOCK_ELEMENTS = 4_000_000


class NeighborsPath(FastPath):
    def __init__(
        self, k: int, weights: str, p: int, scaler: StandardScaler | None, classify: bool
    ) -> None:
        self.k, self.weights, self.p, self.scaler, self.classify = k, weights, p, scaler, classify
        self.name = "exact:knn" if scaler is None else "exact:scaled-knn"

    def _distances(self, X: Floats, rows: NDArray[np.intp], scale: Floats) -> tuple[Floats, Floats]:
        """Distances (squared for p=2) from each row to every sample in the row's fold
        feature space, its own slot set to inf; and the rounding slack of each row."""
        m = len(rows)
        Xc = X - X.mean(axis=0)  # translation changes no distance, and shrinks the norms
        inv2 = 1.0 / scale**2  # (m, p)
        if self.p == 2:
            # |a|² + |b|² - 2a·b with the fold's per-feature weights, as three products.
            q = Xc[rows]
            size = (Xc**2) @ inv2.T  # (n, m): |x_j|² in row i's fold space
            own = np.einsum("mp,mp,mp->m", q, q, inv2)
            D = own[:, None] + size.T - 2.0 * ((q * inv2) @ Xc.T)
            np.maximum(D, 0.0, out=D)
            size_max = size.max(axis=0)
        else:
            Z = Xc / scale[:, None, :]
            D = np.abs(Z - (Xc[rows] / scale)[:, None, :]).sum(axis=2)
            norms = np.abs(Z).sum(axis=2)
            own, size_max = norms[np.arange(m), rows], norms.max(axis=1)
        D[np.arange(m), rows] = np.inf
        # Both sklearn's searches and ours round with an error that scales with the norms,
        # not the distance: the slack covers that with a wide margin.
        slack = TIE_ULPS * EPS * X.shape[1] * (own + size_max)
        return D, slack

    def loo(self, X: Floats, y: NDArray[Any], rows: NDArray[np.intp]) -> LooPredictions:
        n, p = X.shape
        m, k = len(rows), self.k
        if self.classify:
            classes, codes = np.unique(y, return_inverse=True)
            labels = codes.astype(np.float64)
        else:
            labels = np.asarray(y, dtype=np.float64)
        n_out = len(classes) if self.classify else 1
        values = np.zeros((m, n_out))
        exact = np.zeros(m, dtype=bool)
        if k > n - 1:  # every fold's fit fails; brute force records that error
            return self._result(rows, values, exact, classes if self.classify else None)
        if self.scaler is not None:
            scaling = fold_scaling(self.scaler, X, rows)
            scale, scaled_ok = scaling.scale, scaling.exact
        else:
            scale, scaled_ok = np.ones((m, p)), np.ones(m, dtype=bool)
        step = max(1, BLOCK_ELEMENTS // max(1, n * (p if self.p == 1 else 1)))
        for start in range(0, m, step):
            block = np.arange(start, min(m, start + step))
            D, slack = self._distances(X, rows[block], scale[block])
            order = np.argsort(D, axis=1, kind="stable")
            near = order[:, :k]
            d_near = np.take_along_axis(D, near, axis=1)
            kth = d_near[:, -1]
            nxt = (
                D[np.arange(len(block)), order[:, k]] if k < n - 1 else np.full(len(block), np.inf)
            )
            clear = nxt - kth > slack
            for b in np.flatnonzero(~clear):
                # Several candidates tie for the last places: fine for uniform weights when
                # they all carry the same label (any pick gives the same vote or mean).
                band = np.flatnonzero(np.abs(D[b] - kth[b]) <= slack[b])
                same = bool((labels[band] == labels[band[0]]).all())
                clear[b] = self.weights == "uniform" and same
            if self.weights == "distance":
                dist = np.sqrt(d_near) if self.p == 2 else d_near
                clear &= d_near[:, 0] > slack  # (near-)duplicates: sklearn's 1/0 rule
                w = 1.0 / np.where(clear[:, None], dist, 1.0)
            else:
                w = np.ones_like(d_near)
            if self.classify:
                onehot = np.zeros((len(block), k, n_out))
                np.put_along_axis(onehot, codes[near][:, :, None], 1.0, axis=2)
                votes = np.einsum("bk,bkc->bc", w, onehot)
                values[block] = votes / votes.sum(axis=1, keepdims=True)
            elif self.weights == "uniform":
                values[block, 0] = labels[near].mean(axis=1)
            else:
                values[block, 0] = (labels[near] * w).sum(axis=1) / w.sum(axis=1)
            exact[block] = clear
        exact &= scaled_ok
        return self._result(rows, values, exact, classes if self.classify else None)

    def _result(
        self, rows: NDArray[np.intp], values: Floats, exact: NDArray[np.bool_], classes: Any
    ) -> LooPredictions:
        if classes is None:
            pred = values[:, 0]
            return LooPredictions(rows, pred, None, exact & np.isfinite(pred), self.name)
        best, decided = clear_argmax(values, 1.0)
        if self.weights == "uniform":
            decided[:] = True  # integer vote counts: ties are exact, argmax takes the first
        return LooPredictions(rows, classes[best], values, exact & decided, self.name)


def match(final: Any, scaler: StandardScaler | None) -> FastPath | None:
    kind = type(final)
    if kind not in (KNeighborsClassifier, KNeighborsRegressor):
        return None
    if final.weights not in ("uniform", "distance") or final.metric_params:
        return None
    if final.metric == "minkowski" and final.p in (1, 2):
        p = int(final.p)
    elif final.metric in ("euclidean", "l2"):
        p = 2
    elif final.metric in ("manhattan", "cityblock", "l1"):
        p = 1
    else:
        return None
    return NeighborsPath(
        int(final.n_neighbors), final.weights, p, scaler, kind is KNeighborsClassifier
    )
