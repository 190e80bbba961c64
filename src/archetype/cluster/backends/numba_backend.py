"""CPU backend: cache-blocked BLAS GEMM + Numba reductions, one thread per row part.

See :mod:`archetype.cluster.backends.blocked` (the hot path) and
:mod:`archetype.kernels.numba_kmeans` (the kernels).
"""

from __future__ import annotations

import numpy as np

from archetype.cluster.backends import blocked
from archetype.cluster.backends.base import MARGIN, Backend, ChunkStats


class NumbaBackend(Backend):
    """Blocked GEMM + fused best/second-best and accumulation (see module docstring)."""

    name = "numba"
    device = "cpu"
    checks_finite = True

    def prepare(self, centers):
        return blocked.prepare(centers)

    def assign(self, X, prepared, *, mode=MARGIN):
        return blocked.assign(X, *prepared, mode)

    def accumulate(self, X, prepared, w):
        w = np.ascontiguousarray(w, dtype=np.float32)
        return ChunkStats(*blocked.accumulate(X, w, *prepared))
