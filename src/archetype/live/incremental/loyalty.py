"""Live form of :mod:`archetype.features.loyalty`."""

from __future__ import annotations

from archetype.live.incremental.base import LiveContext, safe_div

FAMILY = "loyalty"


def values(i: dict, c: LiveContext) -> dict[str, float]:
    f = float(i["_purchase_days"])
    return {"referrals": float(i["_referrals"]), "repeat_purchase_rate": safe_div(f - 1.0, f)}
