"""Live form of :mod:`archetype.features.engagement`."""

from __future__ import annotations

from numba import njit

from archetype.live.incremental.base import (
    CX_NCH,
    CX_NOCC,
    I_AD_CLICKS,
    I_CHANNEL_EVENTS,
    I_EMAIL_CLICKS,
    I_EMAIL_OPENS,
    N_FIXED,
    LiveContext,
    safe_div,
    weeks,
)

FAMILY = "engagement"


def names(c: LiveContext) -> list[str]:
    """The features :func:`values` writes, in its order."""
    fixed = ["email_opens_per_week", "email_click_rate", "ad_clicks_per_week"]
    return fixed + [f"channel_share_{s}" for s in c.slugs]


@njit(cache=True)
def values(i, cx, out):  # pragma: no cover - compiled
    w = weeks(i, cx)
    o, k = i[I_EMAIL_OPENS], i[I_EMAIL_CLICKS]
    out[0] = o / w
    out[1] = safe_div(min(k, o), o)
    out[2] = i[I_AD_CLICKS] / w
    n, base = i[I_CHANNEL_EVENTS], N_FIXED + cx[CX_NOCC]  # channel counts after occasions
    for j in range(cx[CX_NCH]):
        out[3 + j] = safe_div(i[base + j], n)
