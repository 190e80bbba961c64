"""Live form of :mod:`archetype.features.loyalty`."""

from __future__ import annotations

from numba import njit

from archetype.live.incremental.base import I_PURCHASE_DAYS, I_REFERRALS, LiveContext, safe_div

FAMILY = "loyalty"


def names(c: LiveContext) -> list[str]:
    """The features :func:`values` writes, in its order."""
    return ["referrals", "repeat_purchase_rate"]


@njit(cache=True)
def values(i, cx, out):  # pragma: no cover - compiled
    f = i[I_PURCHASE_DAYS]
    out[0] = i[I_REFERRALS]
    out[1] = safe_div(f - 1.0, f)
