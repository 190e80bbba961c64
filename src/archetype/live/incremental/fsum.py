"""``math.fsum`` for Numba kernels: the correctly rounded sum, CPython's algorithm.

The live features sum floats (purchase amounts, sines and cosines of the hour) with one
rounding of the exact sum, so the result does not depend on the order of the values and
is within half an ulp of the batch's own sum.  :func:`fsum` is CPython's ``math_fsum``
(Shewchuk's partials plus the half-even correction) line for line, so it returns the same
bits as :func:`math.fsum`; instead of raising, an intermediate overflow returns the
infinite sum and ``inf - inf`` returns NaN.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Partials a double sum can need (non-overlapping doubles: about 2100 / 53 < 64).
N_PARTIALS = 64


def new_partials() -> np.ndarray:
    """Scratch for :func:`fsum`."""
    return np.empty(N_PARTIALS, np.float64)


@njit(cache=True)
def fsum(x, p):  # pragma: no cover - compiled
    """Correctly rounded sum of the float64 array ``x``; ``p``: scratch (:data:`N_PARTIALS`)."""
    n = 0
    special = 0.0
    inf_sum = 0.0
    for v in range(x.shape[0]):
        xv = x[v]
        xsave = xv
        i = 0
        for j in range(n):
            y = p[j]
            if abs(xv) < abs(y):
                xv, y = y, xv
            hi = xv + y
            yr = hi - xv
            lo = y - yr
            if lo != 0.0:
                p[i] = lo
                i += 1
            xv = hi
        n = i
        if xv != 0.0:
            if not math.isfinite(xv):
                if math.isfinite(xsave):
                    return xv  # intermediate overflow (math.fsum raises OverflowError)
                if math.isinf(xsave):
                    inf_sum += xsave
                special += xsave
                n = 0
            else:
                p[n] = xv
                n += 1
    if special != 0.0:
        return special  # inf, -inf, or NaN (nan in the values or inf - inf)
    hi = 0.0
    if n > 0:
        n -= 1
        hi = p[n]
        lo = 0.0
        while n > 0:
            xv = hi
            n -= 1
            y = p[n]
            hi = xv + y
            yr = hi - xv
            lo = y - yr
            if lo != 0.0:
                break
        # half-even rounding across several partials (commutativity)
        if n > 0 and ((lo < 0.0 and p[n - 1] < 0.0) or (lo > 0.0 and p[n - 1] > 0.0)):
            y = lo * 2.0
            xv = hi + y
            yr = xv - hi
            if y == yr:
                hi = xv
    return hi
