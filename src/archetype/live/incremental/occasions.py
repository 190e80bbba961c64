"""Live form of :mod:`archetype.features.occasions`."""

from __future__ import annotations

from archetype.live.incremental.base import LiveContext, safe_div

FAMILY = "occasions"


def values(i: dict, c: LiveContext) -> dict[str, float]:
    p = float(i["_purchases"])
    out = {f"occasion_share_{n}": safe_div(float(i[f"_occ_{n}"]), p) for n in c.occasions}
    out["weekend_share"] = safe_div(float(i["_weekend_purchases"]), p)
    out["hour_sin"] = safe_div(i["_hour_sin"], float(i["_events"]))
    out["hour_cos"] = safe_div(i["_hour_cos"], float(i["_events"]))
    return out
