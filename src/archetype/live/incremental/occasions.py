"""Live form of :mod:`archetype.features.occasions`."""

from __future__ import annotations

from numba import njit

from archetype.live.incremental.base import (
    CX_NOCC,
    I_EVENTS,
    I_HOUR_COS,
    I_HOUR_SIN,
    I_PURCHASES,
    I_WEEKEND_PURCHASES,
    N_FIXED,
    LiveContext,
    safe_div,
)

FAMILY = "occasions"


def names(c: LiveContext) -> list[str]:
    """The features :func:`values` writes, in its order."""
    return [f"occasion_share_{n}" for n in c.occasions] + ["weekend_share", "hour_sin", "hour_cos"]


@njit(cache=True)
def values(i, cx, out):  # pragma: no cover - compiled
    p, n = i[I_PURCHASES], cx[CX_NOCC]
    for o in range(n):  # purchases in each occasion window (intermediates after N_FIXED)
        out[o] = safe_div(i[N_FIXED + o], p)
    out[n] = safe_div(i[I_WEEKEND_PURCHASES], p)
    out[n + 1] = safe_div(i[I_HOUR_SIN], i[I_EVENTS])
    out[n + 2] = safe_div(i[I_HOUR_COS], i[I_EVENTS])
