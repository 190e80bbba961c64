"""Live form of :mod:`archetype.features.engagement`."""

from __future__ import annotations

from archetype.live.incremental.base import LiveContext, safe_div, weeks

FAMILY = "engagement"


def values(i: dict, c: LiveContext) -> dict[str, float]:
    w = weeks(i, c)
    o, k = float(i["_email_opens"]), float(i["_email_clicks"])
    out = {
        "email_opens_per_week": o / w,
        "email_click_rate": safe_div(min(k, o), o),
        "ad_clicks_per_week": i["_ad_clicks"] / w,
    }
    n = float(i["_channel_events"])
    for s in c.slugs:
        out[f"channel_share_{s}"] = safe_div(float(i[f"_ch_{s}"]), n)
    return out
