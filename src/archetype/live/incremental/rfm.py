"""Live form of :mod:`archetype.features.rfm`."""

from __future__ import annotations

from archetype.live.incremental.base import LiveContext, safe_div

FAMILY = "rfm"


def values(i: dict, c: LiveContext) -> dict[str, float]:
    a, lp = c.as_of_day, i["_last_pday"]
    return {
        "frequency": float(i["_purchase_days"]),
        "recency_days": float(c.horizon_days if lp is None else a - lp),
        "monetary": safe_div(i["_spend"], i["_purchase_days"]),
        "total_spend": float(i["_spend"]),
        "tenure_days": float(a - i["_first_day"]),
    }
