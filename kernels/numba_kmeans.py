"""Numba CPU kernels for k-means: row norms, best/second-best reduction, fused accumulation.

The distance GEMM is done by a BLAS (NumPy or torch) into a cache-sized buffer
``G = -2 X C^T`` of shape (m, k); these kernels make one pass over that buffer.  Kernels take
buffers, do no checks, and write into the outputs they are given.  Parallel kernels split the
rows into ``n_parts`` contiguous parts that each thread owns (own accumulators, no shared
writes), so the result depends only on ``n_parts``, never on thread scheduling.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def row_sqnorms(X, out):  # pragma: no cover - compiled
    """out[i] = sum_j X[i, j]**2.

    X : (m, d) float32, input.  out : (m,) float32, output.
    """
    m, d = X.shape
    for i in prange(m):
        s = np.float32(0.0)
        for j in range(d):
            s += X[i, j] * X[i, j]
        out[i] = s


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def top2_reduce(G, cn, xn, labels, dist, margin):  # pragma: no cover - compiled
    """Nearest and second-nearest center of each row from ``G = -2 X C^T``.

    Parameters
    ----------
    G : (m, k) float32, input
        ``-2 x_i . c_j``.
    cn : (k,) float32, input
        ``||c_j||^2``.
    xn : (m,) float32, input
        ``||x_i||^2``.
    labels : (m,) int64, output
        Index of the nearest center (lowest index on ties).
    dist : (m,) float32, output
        Squared distance to it, clipped at 0.
    margin : (m,) float32, output
        Second-best minus best squared distance (``inf`` when k == 1).
    """
    m, k = G.shape
    for i in prange(m):
        b1 = np.float32(np.inf)
        for j in range(k):
            b1 = min(b1, G[i, j] + cn[j])
        j1 = 0
        for j in range(k):
            if G[i, j] + cn[j] == b1:
                j1 = j
                break
        b2 = np.float32(np.inf)
        for j in range(k):
            v = G[i, j] + cn[j]
            if j == j1:
                v = np.float32(np.inf)
            b2 = min(b2, v)
        labels[i] = j1
        dist[i] = max(b1 + xn[i], np.float32(0.0))
        margin[i] = b2 - b1


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def top1_accumulate(G, cn, xn, X, w, n_parts,  # pragma: no cover - compiled
                    labels, dist, sums, counts, inertia):
    """Fused assignment + weighted accumulation, one accumulator per part.

    Parameters
    ----------
    G : (m, k) float32, input — ``-2 X C^T``.
    cn : (k,) float32, input — ``||c_j||^2``.
    xn : (m,) float32, input — ``||x_i||^2``.
    X : (m, d) float32, input — the rows.
    w : (m,) float32, input — sample weights.
    n_parts : int — number of row parts (threads); fixes the summation order.
    labels : (m,) int64, output.
    dist : (m,) float32, output — squared distance to the nearest center.
    sums : (n_parts, k, d) float64, in-out — per-part weighted sums (added to).
    counts : (n_parts, k) float64, in-out — per-part weight totals (added to).
    inertia : (n_parts,) float64, in-out — per-part sum of ``w * dist``.
    """
    m, k = G.shape
    d = X.shape[1]
    for p in prange(n_parts):
        start = (m * p) // n_parts
        stop = (m * (p + 1)) // n_parts
        for i in range(start, stop):
            b1 = np.float32(np.inf)
            for j in range(k):
                b1 = min(b1, G[i, j] + cn[j])
            j1 = 0
            for j in range(k):
                if G[i, j] + cn[j] == b1:
                    j1 = j
                    break
            labels[i] = j1
            dd = max(b1 + xn[i], np.float32(0.0))
            dist[i] = dd
            wi = np.float64(w[i])
            counts[p, j1] += wi
            inertia[p] += wi * dd
            for c in range(d):
                sums[p, j1, c] += wi * X[i, c]


@njit(parallel=True, cache=True, boundscheck=False)
def accumulate(X, labels, w, n_parts, sums, counts):  # pragma: no cover - compiled
    """Weighted per-label sums of rows, one accumulator per part.

    X : (m, d) float32, input.  labels : (m,) int64, input.  w : (m,) float32, input.
    sums : (n_parts, k, d) float64, in-out.  counts : (n_parts, k) float64, in-out.
    """
    m, d = X.shape
    for p in prange(n_parts):
        start = (m * p) // n_parts
        stop = (m * (p + 1)) // n_parts
        for i in range(start, stop):
            j = labels[i]
            wi = np.float64(w[i])
            counts[p, j] += wi
            for c in range(d):
                sums[p, j, c] += wi * X[i, c]


def n_parts() -> int:
    """Number of row parts used by the parallel kernels (the Numba thread count)."""
    return int(numba.get_num_threads())


# -- serial, GIL-free kernels that finish one worker thread's block (see
# -- archetype/cluster/backends/threaded.py): the argmin over the cache-resident distance
# -- block is NumPy's SIMD ``argmin`` (LLVM does not vectorize an argmin loop); these add
# -- the row norms and do the per-row bookkeeping.


@njit(nogil=True, fastmath=True, cache=True, boundscheck=False)
def finish_top2(G, j1, X, labels, dist, margin, with_margin):  # pragma: no cover
    """One thread's block: ``G`` (m, k) float32 ``||c||^2 - 2 x.c``, ``j1`` (m,) int64 its
    row argmin, ``X`` (m, d) the rows.  Writes labels, dist = max(G[i, j1] + ||x||^2, 0) and,
    when ``with_margin``, margin = second-best minus best (``inf`` when k == 1; else NaN)."""
    m, d = X.shape
    k = G.shape[1]
    for i in range(m):
        xn = np.float32(0.0)
        for c in range(d):
            xn += X[i, c] * X[i, c]
        j = j1[i]
        b1 = G[i, j]
        labels[i] = j
        dist[i] = max(b1 + xn, np.float32(0.0))
        if with_margin:
            big = np.float32(3.4e38)  # finite sentinel: fastmath assumes no inf
            b2 = big
            for jj in range(k):  # branch-free select
                v = G[i, jj]
                v = big if jj == j else v
                b2 = v if v < b2 else b2
            margin[i] = b2 - b1 if k > 1 else np.float32(np.inf)
        else:
            margin[i] = np.float32(np.nan)


@njit(nogil=True, fastmath=True, cache=True, boundscheck=False)
def finish_accumulate(G, j1, X, w, labels, dist, sums, counts,  # pragma: no cover
                      inertia):
    """As :func:`finish_top2` without the margin, plus weighted accumulation into one
    thread's own ``sums (k, d)``, ``counts (k,)``, ``inertia (1,)`` float64 (added to, in
    row order)."""
    m, d = X.shape
    for i in range(m):
        xn = np.float32(0.0)
        for c in range(d):
            xn += X[i, c] * X[i, c]
        j = j1[i]
        labels[i] = j
        dd = max(G[i, j] + xn, np.float32(0.0))
        dist[i] = dd
        wi = np.float64(w[i])
        counts[j] += wi
        inertia[0] += wi * dd
        for c in range(d):
            sums[j, c] += wi * X[i, c]
