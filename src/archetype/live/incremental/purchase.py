"""Live form of :mod:`archetype.features.purchase`."""

from __future__ import annotations

from archetype.live.incremental.base import LiveContext, safe_div

FAMILY = "purchase"


def values(i: dict, c: LiveContext) -> dict[str, float]:
    p, cart, v, r = (float(i[k]) for k in ("_purchases", "_carts", "_views", "_returns"))
    return {
        "purchases": p,
        "avg_order_value": safe_div(i["_spend"], p),
        "cart_abandonment_rate": safe_div(max(cart - p, 0.0), cart),
        "view_to_purchase": safe_div(min(p, v), v),
        "discount_share": safe_div(float(i["_disc_purchases"]), p),
        "return_rate": safe_div(r, p + r),
    }
