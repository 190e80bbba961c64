"""Live form of :mod:`archetype.features.purchase`."""

from __future__ import annotations

from numba import njit

from archetype.live.incremental.base import (
    I_CARTS,
    I_DISC_PURCHASES,
    I_PURCHASES,
    I_RETURNS,
    I_SPEND,
    I_VIEWS,
    LiveContext,
    safe_div,
)

FAMILY = "purchase"


def names(c: LiveContext) -> list[str]:
    """The features :func:`values` writes, in its order."""
    return [
        "purchases",
        "avg_order_value",
        "cart_abandonment_rate",
        "view_to_purchase",
        "discount_share",
        "return_rate",
    ]


@njit(cache=True)
def values(i, cx, out):  # pragma: no cover - compiled
    p, cart, v, r = i[I_PURCHASES], i[I_CARTS], i[I_VIEWS], i[I_RETURNS]
    out[0] = p
    out[1] = safe_div(i[I_SPEND], p)
    out[2] = safe_div(max(cart - p, 0.0), cart)
    out[3] = safe_div(min(p, v), v)
    out[4] = safe_div(i[I_DISC_PURCHASES], p)
    out[5] = safe_div(r, p + r)
