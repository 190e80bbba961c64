"""Live form of :mod:`archetype.features.usage`."""

from __future__ import annotations

from archetype.live.incremental.base import LiveContext, recip, safe_div, weeks

FAMILY = "usage"
_R30, _R90 = recip(30.0), recip(90.0)


def values(i: dict, c: LiveContext) -> dict[str, float]:
    w = weeks(i, c)
    return {
        "active_days_per_week": i["_active_days"] / w,
        "sessions_per_week": i["_sessions"] / w,
        "views_per_week": i["_views"] / w,
        "carts_per_week": i["_carts"] / w,
        "activity_trend": i["_active_30"] * _R30 - i["_active_prior90"] * _R90,
        "days_since_last_event": float(c.as_of_day - i["_last_day"]),
        "recent_activity_share": safe_div(i["_active_recent"], i["_active_days"]),
    }
