"""Numba CPU kernels for k-means: cache-blocked assignment and accumulation.

A kernel call handles one contiguous part ``[start, stop)`` of the rows, in blocks of ``m``
rows (``m = len(best)``): a single-threaded BLAS GEMM ``G = (-2 C) X_block^T`` into the
caller's ``(k, m)`` buffer, sized to stay in L2 (the block is first copied transposed, so
that neither GEMM operand is transposed), then one pass over the block while it is in
cache.  ``G`` is center-major, so the reduction over centers is an element-wise running
minimum over contiguous rows of ``G`` (SIMD, no loop-carried dependency), best and second
best fused in one sweep; then labels, distances, margins and, for :func:`accumulate_part`,
the weighted per-center sums.  No ``n x k`` matrix is ever written.

Kernels are ``nogil``: the caller runs one part per thread, each with its own scratch and
accumulators, so results depend only on how the rows are cut into parts.  They take clean
buffers (float32, C-contiguous, finite), do no checks, and write into the outputs they are
given.
"""

from __future__ import annotations

import numpy as np
from numba import njit

LABELS, DISTANCES, MARGIN = 0, 1, 2  # what assign_part computes (each includes the previous)

_BIG = np.float32(3.0e38)  # "no second center yet": finite, since fastmath assumes no inf


@njit(nogil=True, fastmath=True, cache=True, boundscheck=False)
def _reduce_block(G, cn, m, want2, best, second, arg):  # pragma: no cover - compiled
    """Per column ``i < m`` of ``G (k, m)``: ``arg[i] = argmin_j G[j, i] + cn[j]`` (lowest
    index on ties), ``best[i]`` that value and, when ``want2``, ``second[i]`` the next one."""
    k = G.shape[0]
    c0 = cn[0]
    for i in range(m):
        best[i] = G[0, i] + c0
        arg[i] = 0
        second[i] = _BIG
    for j in range(1, k):
        c = cn[j]
        g = G[j]
        if want2:
            for i in range(m):
                v = g[i] + c
                b = best[i]
                lt = v < b
                second[i] = b if lt else min(second[i], v)
                arg[i] = j if lt else arg[i]
                best[i] = v if lt else b
        else:
            for i in range(m):
                v = g[i] + c
                b = best[i]
                lt = v < b
                arg[i] = j if lt else arg[i]
                best[i] = v if lt else b


@njit(nogil=True, fastmath=True, cache=True, boundscheck=False)
def _block(X, neg2c, cn, s, e, buf, xt, want2, best, second, arg, bad):  # pragma: no cover
    """Rows ``[s, e)`` copied transposed into ``xt`` (d, m), counting their NaN/inf values
    into ``bad[0]`` on the way (by exponent bits: ``fastmath`` may drop ``x != x``; the
    read is the pass's one trip through memory, so the check is free); the GEMM
    ``G = (-2C) xt`` into ``buf`` (k, m) — both operands untransposed, BLAS's fastest case:
    60 vs 72-80 ms per 1M x 32 rows at k=64 with ``X_block.T`` — and its reduction;
    returns ``m``."""
    m = e - s
    k, d = neg2c.shape
    bits = X[s:e].reshape(m * d).view(np.uint32)
    nonfinite = 0
    for t in range(m * d):  # contiguous: SIMD, and it brings the block into cache
        nonfinite += (bits[t] & 0x7F800000) == 0x7F800000
    bad[0] += nonfinite
    XT = xt[: d * m].reshape((d, m))
    for i in range(m):
        for c in range(d):
            XT[c, i] = X[s + i, c]
    G = buf[: k * m].reshape((k, m))
    np.dot(neg2c, XT, G)
    _reduce_block(G, cn, m, want2, best, second, arg)
    return m


@njit(nogil=True, fastmath=True, cache=True, boundscheck=False)
def _finish_dist(X, s, m, best, dist):  # pragma: no cover - compiled
    """``dist[s + i] = max(best[i] + ||x_{s+i}||^2, 0)``."""
    d = X.shape[1]
    for i in range(m):
        r = s + i
        xn = np.float32(0.0)
        for c in range(d):
            xn += X[r, c] * X[r, c]
        dist[r] = max(best[i] + xn, np.float32(0.0))


@njit(nogil=True, fastmath=True, cache=True, boundscheck=False)
def assign_part(X, neg2c, cn, start, stop, mode,  # pragma: no cover - compiled
                buf, xt, best, second, arg, labels, dist, margin, bad):
    """Nearest center of rows ``[start, stop)``.

    Parameters
    ----------
    X : (n, d) float32, input — the rows.
    neg2c : (k, d) float32, input — ``-2 C``.
    cn : (k,) float32, input — ``||c_j||^2``.
    start, stop : int — the part of the rows this call owns.
    mode : int — ``LABELS``, ``DISTANCES`` or ``MARGIN``.
    buf : (>= k * m,) float32, scratch — one block of ``G``.
    xt : (>= d * m,) float32, scratch — one block of rows, transposed.
    best, second : (m,) float32, scratch.  arg : (m,) int32, scratch.
    labels : (n,) int64, output.
    dist : (n,) float32, output when ``mode >= DISTANCES`` — squared distance, clipped at 0.
    margin : (n,) float32, output when ``mode == MARGIN`` — second-best minus best squared
        distance (meaningless when k == 1: the caller writes ``inf``).
    bad : (1,) int64, in-out — NaN/inf values seen in the rows (outputs are then garbage).
    """
    step = best.shape[0]
    for s in range(start, stop, step):
        m = _block(X, neg2c, cn, s, min(stop, s + step), buf, xt, mode == MARGIN, best, second,
                   arg, bad)
        for i in range(m):
            labels[s + i] = arg[i]
        if mode >= DISTANCES:
            _finish_dist(X, s, m, best, dist)
        if mode == MARGIN:  # (k == 1: the caller writes inf)
            for i in range(m):
                margin[s + i] = second[i] - best[i]


@njit(nogil=True, fastmath=True, cache=True, boundscheck=False)
def accumulate_rows(X, w, labels, dist, start, stop,  # pragma: no cover - compiled
                    sums, counts, inertia):
    """Add rows ``[start, stop)`` to their centers, in row order.

    X : (n, d) float32, input.  w : (n,) float32, input — weights.  labels : (n,) int64,
    input.  dist : (n,) float32, input.  sums : (k, d) float64, in-out.  counts : (k,)
    float64, in-out.  inertia : (1,) float64, in-out — ``sum w * dist``.
    """
    d = X.shape[1]
    for r in range(start, stop):
        j = labels[r]
        wi = np.float64(w[r])
        counts[j] += wi
        inertia[0] += wi * dist[r]
        for c in range(d):
            sums[j, c] += wi * X[r, c]


@njit(nogil=True, fastmath=True, cache=True, boundscheck=False)
def accumulate_part(X, w, neg2c, cn, start, stop,  # pragma: no cover - compiled
                    buf, xt, best, second, arg, labels, dist, sums, counts, inertia, bad):
    """Assign rows ``[start, stop)`` (as :func:`assign_part` with ``DISTANCES``) and add
    them to this part's own ``sums (k, d)``, ``counts (k,)``, ``inertia (1,)``; NaN/inf
    values counted into ``bad (1,)``."""
    step = best.shape[0]
    for s in range(start, stop, step):
        m = _block(X, neg2c, cn, s, min(stop, s + step), buf, xt, False, best, second, arg, bad)
        for i in range(m):
            labels[s + i] = arg[i]
        _finish_dist(X, s, m, best, dist)
        accumulate_rows(X, w, labels, dist, s, s + m, sums, counts, inertia)
