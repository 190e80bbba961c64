"""faiss backend: a flat (exact) L2 index searched for the 2 nearest centers.

GPU faiss is used when the installed faiss has GPUs and ``device`` is CUDA; otherwise
faiss-cpu.  Accumulation after the search uses the Numba kernel.
"""

from __future__ import annotations

import numpy as np

from archetype.cluster.backends.base import Backend, ChunkStats
from archetype.kernels import numba_kmeans as nk


class FaissBackend(Backend):
    """Nearest centers with ``faiss.IndexFlatL2`` (see module docstring)."""

    name = "faiss"

    def __init__(self, device: str = "cpu") -> None:
        import faiss

        self._faiss = faiss
        self.gpu = device.startswith("cuda") and hasattr(faiss, "StandardGpuResources")
        self.device = device if self.gpu else "cpu"
        self._res = faiss.StandardGpuResources() if self.gpu else None

    def prepare(self, centers):
        C = np.ascontiguousarray(centers, dtype=np.float32)
        index = self._faiss.IndexFlatL2(C.shape[1])
        if self.gpu:  # pragma: no cover - needs faiss-gpu
            index = self._faiss.index_cpu_to_gpu(self._res, 0, index)
        index.add(C)
        return index

    def assign(self, X, prepared):
        index = prepared
        k = index.ntotal
        D, nn = index.search(np.ascontiguousarray(X, dtype=np.float32), min(2, k))
        labels = nn[:, 0].astype(np.int64)
        dist = np.maximum(D[:, 0], 0).astype(np.float32)
        margin = (D[:, 1] - D[:, 0]) if k > 1 else np.full(len(X), np.inf, np.float32)
        return labels, dist, np.asarray(margin, dtype=np.float32)

    def assign_accumulate(self, X, prepared, w):
        index = prepared
        X = np.ascontiguousarray(X, dtype=np.float32)
        D, nn = index.search(X, 1)
        labels = nn[:, 0].astype(np.int64)
        dist = np.maximum(D[:, 0], 0).astype(np.float32)
        parts = nk.n_parts()
        k, d = index.ntotal, X.shape[1]
        sums = np.zeros((parts, k, d))
        counts = np.zeros((parts, k))
        w = np.ascontiguousarray(w, dtype=np.float32)
        nk.accumulate(X, labels, w, parts, sums, counts)
        inertia = float(np.dot(w.astype(np.float64), dist.astype(np.float64)))
        return ChunkStats(labels, dist, sums.sum(0), counts.sum(0), inertia)
