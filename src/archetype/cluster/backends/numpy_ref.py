"""Plain NumPy reference backend: direct differences in float64.  For tests, not speed."""

from __future__ import annotations

import numpy as np

from archetype.cluster.backends.base import DISTANCES, MARGIN, Backend, ChunkStats


class NumpyBackend(Backend):
    """Reference: ``((x - c)**2).sum()`` in float64, ``argmin`` (lowest index on ties)."""

    name = "numpy"
    device = "cpu"

    def __init__(self, block: int = 2048) -> None:
        self.block = block

    def prepare(self, centers):
        return np.asarray(centers, dtype=np.float64)

    def _dists(self, X, C):
        out = np.empty((X.shape[0], C.shape[0]), dtype=np.float64)
        for s in range(0, X.shape[0], self.block):
            x = X[s : s + self.block].astype(np.float64)
            out[s : s + len(x)] = ((x[:, None, :] - C[None, :, :]) ** 2).sum(-1)
        return out

    def assign(self, X, prepared, *, mode=MARGIN):
        D = self._dists(X, prepared)
        rows = np.arange(len(D))
        labels = D.argmin(axis=1).astype(np.int64)
        best = D[rows, labels]
        margin = None
        if mode == MARGIN:
            if D.shape[1] > 1:
                D[rows, labels] = np.inf
                margin = (D.min(axis=1) - best).astype(np.float32)
            else:
                margin = np.full(len(D), np.inf, np.float32)
        return labels, best.astype(np.float32) if mode >= DISTANCES else None, margin

    def accumulate(self, X, prepared, w):
        labels, dist, _ = self.assign(X, prepared, mode=DISTANCES)
        k, d = prepared.shape
        w64 = np.asarray(w, dtype=np.float64)
        sums = np.zeros((k, d))
        np.add.at(sums, labels, X.astype(np.float64) * w64[:, None])
        counts = np.bincount(labels, weights=w64, minlength=k).astype(np.float64)
        inertia = float(np.dot(w64, dist.astype(np.float64)))
        return ChunkStats(labels, dist, sums, counts, inertia)
