"""Plain NumPy reference backend: direct differences in float64.  For tests, not speed."""

from __future__ import annotations

import numpy as np

from archetype.cluster.backends.base import Backend, ChunkStats


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

    def assign(self, X, prepared):
        D = self._dists(X, prepared)
        labels = D.argmin(axis=1).astype(np.int64)
        best = D[np.arange(len(D)), labels]
        if D.shape[1] > 1:
            D[np.arange(len(D)), labels] = np.inf
            margin = D.min(axis=1) - best
        else:
            margin = np.full(len(D), np.inf)
        return labels, best.astype(np.float32), margin.astype(np.float32)

    def assign_accumulate(self, X, prepared, w):
        labels, dist, _ = self.assign(X, prepared)
        k, d = prepared.shape
        w64 = np.asarray(w, dtype=np.float64)
        sums = np.zeros((k, d))
        np.add.at(sums, labels, X.astype(np.float64) * w64[:, None])
        counts = np.bincount(labels, weights=w64, minlength=k).astype(np.float64)
        inertia = float(np.dot(w64, dist.astype(np.float64)))
        return ChunkStats(labels, dist, sums, counts, inertia)
