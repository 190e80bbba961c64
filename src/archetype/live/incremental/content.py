"""Live form of :mod:`archetype.features.content`: spread of interest over categories."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from archetype.live.incremental.base import I_CAT_ENTROPY, I_CAT_TOP, LiveContext
from archetype.live.incremental.fsum import fsum

FAMILY = "content"


def names(c: LiveContext) -> list[str]:
    """The features :func:`values` writes, in its order."""
    return ["category_entropy", "top_category_share"]


@njit(cache=True)
def intermediates(cat, r0, r1, ncat, i, counts, terms, p):  # pragma: no cover - compiled
    """The batch ``frames`` of this family: ``_cat_entropy``, ``_cat_top`` (NaN: no
    category events in the window).  counts : (>= ncat + 1,) int64, terms : (>= r1 - r0,)
    float64, p : fsum, scratch."""
    counts[: ncat + 1] = 0
    total = 0
    for r in range(r0, r1):
        g = cat[r]
        if g > 0:
            counts[g] += 1
            total += 1
    if total == 0:
        i[I_CAT_ENTROPY] = np.nan
        i[I_CAT_TOP] = np.nan
        return
    inv = 1.0 / float(total)  # the batch divides by the broadcast sum as n * (1 / sum)
    top = 0.0
    m = 0
    for g in range(1, ncat + 1):
        if counts[g] > 0:
            s = counts[g] * inv
            terms[m] = s * math.log(s)
            m += 1
            top = max(top, s)
    i[I_CAT_ENTROPY] = -fsum(terms[:m], p)
    i[I_CAT_TOP] = top


@njit(cache=True)
def values(i, cx, out):  # pragma: no cover - compiled
    e, top = i[I_CAT_ENTROPY], i[I_CAT_TOP]
    out[0] = max(0.0 if np.isnan(e) else e, 0.0) + 0.0
    out[1] = 0.0 if np.isnan(top) else top
