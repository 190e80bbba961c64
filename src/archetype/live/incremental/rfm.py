"""Live form of :mod:`archetype.features.rfm`."""

from __future__ import annotations

import numpy as np
from numba import njit

from archetype.live.incremental.base import (
    CX_AS_OF,
    CX_HORIZON,
    I_FIRST_DAY,
    I_LAST_PDAY,
    I_PURCHASE_DAYS,
    I_SPEND,
    LiveContext,
    safe_div,
)

FAMILY = "rfm"


def names(c: LiveContext) -> list[str]:
    """The features :func:`values` writes, in its order."""
    return ["frequency", "recency_days", "monetary", "total_spend", "tenure_days"]


@njit(cache=True)
def values(i, cx, out):  # pragma: no cover - compiled
    a, lp = cx[CX_AS_OF], i[I_LAST_PDAY]
    out[0] = i[I_PURCHASE_DAYS]
    out[1] = float(cx[CX_HORIZON]) if np.isnan(lp) else float(a) - lp
    out[2] = safe_div(i[I_SPEND], i[I_PURCHASE_DAYS])
    out[3] = i[I_SPEND]
    out[4] = float(a) - i[I_FIRST_DAY]
