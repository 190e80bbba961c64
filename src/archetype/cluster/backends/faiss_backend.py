"""faiss backend: a flat (exact) L2 index searched for the 2 nearest centers.

GPU faiss is used when the installed faiss has GPUs and ``device`` is CUDA; otherwise
faiss-cpu.  Accumulation after the search uses the shared Numba kernel.
"""

from __future__ import annotations

import numpy as np

from archetype.cluster.backends.base import DISTANCES, MARGIN, Backend, ChunkStats
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

    def assign(self, X, prepared, *, mode=MARGIN):
        k = prepared.ntotal
        D, nn = prepared.search(X, 2 if mode == MARGIN and k > 1 else 1)
        labels = nn[:, 0].astype(np.int64)
        dist = np.maximum(D[:, 0], 0) if mode >= DISTANCES else None
        margin = None
        if mode == MARGIN:
            margin = D[:, 1] - D[:, 0] if k > 1 else np.full(len(X), np.inf, np.float32)
        return labels, dist, margin

    def accumulate(self, X, prepared, w):
        labels, dist, _ = self.assign(X, prepared, mode=DISTANCES)
        k, d = prepared.ntotal, X.shape[1]
        sums, counts, inertia = np.zeros((k, d)), np.zeros(k), np.zeros(1)
        w = np.ascontiguousarray(w, dtype=np.float32)
        nk.accumulate_rows(X, w, labels, dist, 0, len(X), sums, counts, inertia)
        return ChunkStats(labels, dist, sums, counts, float(inertia[0]))
