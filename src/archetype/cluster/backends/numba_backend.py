"""CPU backend: NumPy BLAS for the distance GEMM, Numba kernels for everything after it.

Per block of rows (sized so the (rows, k) distance buffer stays in cache): one GEMM
``G = X (-2 C)^T`` into a reused buffer, then one parallel pass
(:mod:`archetype.kernels.numba_kmeans`) that finds the best and second-best center, or
assigns and accumulates with per-thread
accumulators.  Works where torch is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archetype.cluster.backends.base import Backend, ChunkStats, block_rows
from archetype.kernels import numba_kmeans as nk


@dataclass
class _Prepared:
    neg2ct: np.ndarray  # (d, k) float32, -2 C^T, C-contiguous
    cn: np.ndarray  # (k,) float32
    k: int
    d: int


class NumbaBackend(Backend):
    """NumPy GEMM + fused Numba reductions (see module docstring)."""

    name = "numba"
    device = "cpu"

    def __init__(self, block: int | None = None) -> None:
        self.block = block
        self._buf: np.ndarray | None = None

    def prepare(self, centers):
        C = np.ascontiguousarray(centers, dtype=np.float32)
        cn = np.einsum("ij,ij->i", C.astype(np.float64), C.astype(np.float64)).astype(np.float32)
        return _Prepared(np.ascontiguousarray(-2.0 * C.T), cn, C.shape[0], C.shape[1])

    def _gemm(self, x, p: _Prepared) -> np.ndarray:
        m = x.shape[0]
        buf = self._buf
        if buf is None or buf.shape[1] != p.k or buf.shape[0] < m:
            buf = self._buf = np.empty((max(m, self._rows(p)), p.k), dtype=np.float32)
        out = buf[:m]
        np.matmul(x, p.neg2ct, out=out)
        return out

    def _rows(self, p: _Prepared) -> int:
        return self.block or block_rows(p.k)

    def assign(self, X, prepared):
        p = prepared
        n = X.shape[0]
        labels = np.empty(n, np.int64)
        dist = np.empty(n, np.float32)
        margin = np.empty(n, np.float32)
        xn = np.empty(n, np.float32)
        nk.row_sqnorms(X, xn)
        step = self._rows(p)
        for s in range(0, n, step):
            e = min(n, s + step)
            G = self._gemm(X[s:e], p)
            nk.top2_reduce(G, p.cn, xn[s:e], labels[s:e], dist[s:e], margin[s:e])
        return labels, dist, margin

    def assign_accumulate(self, X, prepared, w):
        p = prepared
        n = X.shape[0]
        parts = nk.n_parts()
        labels = np.empty(n, np.int64)
        dist = np.empty(n, np.float32)
        xn = np.empty(n, np.float32)
        sums = np.zeros((parts, p.k, p.d), np.float64)
        counts = np.zeros((parts, p.k), np.float64)
        inertia = np.zeros(parts, np.float64)
        nk.row_sqnorms(X, xn)
        step = self._rows(p)
        w = np.ascontiguousarray(w, dtype=np.float32)
        for s in range(0, n, step):
            e = min(n, s + step)
            G = self._gemm(X[s:e], p)
            nk.top1_accumulate(
                G, p.cn, xn[s:e], X[s:e], w[s:e], parts,
                labels[s:e], dist[s:e], sums, counts, inertia,
            )
        return ChunkStats(labels, dist, sums.sum(0), counts.sum(0), float(inertia.sum()))
