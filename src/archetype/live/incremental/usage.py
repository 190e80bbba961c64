"""Live form of :mod:`archetype.features.usage`."""

from __future__ import annotations

from numba import njit

from archetype.live.incremental.base import (
    CX_AS_OF,
    I_ACTIVE_30,
    I_ACTIVE_DAYS,
    I_ACTIVE_PRIOR90,
    I_ACTIVE_RECENT,
    I_CARTS,
    I_LAST_DAY,
    I_SESSIONS,
    I_VIEWS,
    LiveContext,
    recip,
    safe_div,
    weeks,
)

FAMILY = "usage"
_R30, _R90 = recip(30.0), recip(90.0)


def names(c: LiveContext) -> list[str]:
    """The features :func:`values` writes, in its order."""
    return [
        "active_days_per_week",
        "sessions_per_week",
        "views_per_week",
        "carts_per_week",
        "activity_trend",
        "days_since_last_event",
        "recent_activity_share",
    ]


@njit(cache=True)
def values(i, cx, out):  # pragma: no cover - compiled
    w = weeks(i, cx)
    out[0] = i[I_ACTIVE_DAYS] / w
    out[1] = i[I_SESSIONS] / w
    out[2] = i[I_VIEWS] / w
    out[3] = i[I_CARTS] / w
    out[4] = i[I_ACTIVE_30] * _R30 - i[I_ACTIVE_PRIOR90] * _R90
    out[5] = float(cx[CX_AS_OF]) - i[I_LAST_DAY]
    out[6] = safe_div(i[I_ACTIVE_RECENT], i[I_ACTIVE_DAYS])
