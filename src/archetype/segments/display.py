"""Plain words for features and values: labels, units, currency, time of day.

Used by names, "what sets it apart", the CLI tables and the report, so a value reads the
same everywhere: shares as percentages (differences in points), money with the configured
currency, days and hours with their unit, ``hour_sin``/``hour_cos`` as a time of day.
"""

from __future__ import annotations

import math

import numpy as np

#: Features never shown as such (the time of day is shown in words instead).
HIDDEN: frozenset[str] = frozenset({"hour_sin", "hour_cos"})

#: Display units that differ from the spec's (``frequency`` counts days: shown as a count).
DISPLAY_UNITS: dict[str, str] = {"frequency": "events", "purchases": "orders"}

#: Plain-words labels of the catalog's features.
LABELS: dict[str, str] = {
    "frequency": "purchase days",
    "recency_days": "days since last purchase",
    "monetary": "spend per purchase day",
    "total_spend": "total spend",
    "tenure_days": "days since first seen",
    "active_days_per_week": "active days per week",
    "sessions_per_week": "sessions per week",
    "views_per_week": "product views per week",
    "carts_per_week": "cart additions per week",
    "activity_trend": "activity trend (last 30 days vs the 90 before)",
    "days_since_last_event": "days since last activity",
    "recent_activity_share": "share of active days in the last 90 days",
    "purchases": "orders",
    "avg_order_value": "average order value",
    "cart_abandonment_rate": "cart abandonment",
    "view_to_purchase": "view-to-purchase conversion",
    "discount_share": "share of purchases on discount",
    "return_rate": "share of purchases returned",
    "lead_time_hours": "hours from first view to purchase",
    "lead_24_48h_share": "share of purchases browsed 1-2 days ahead",
    "interpurchase_mean_days": "days between purchase days",
    "interpurchase_cv": "irregularity of purchase gaps",
    "weekend_share": "share of purchases on weekends",
    "referrals": "referrals",
    "repeat_purchase_rate": "share of purchase days after the first",
    "email_opens_per_week": "email opens per week",
    "email_click_rate": "email click rate",
    "ad_clicks_per_week": "ad clicks per week",
    "category_entropy": "spread over categories",
    "top_category_share": "share in the favourite category",
}

_OCCASION_WORDS = {
    "holidays": "the holidays",
    "black_friday_week": "Black Friday week",
    "back_to_school": "back-to-school season",
}

#: Parts of the day (start hour, words), in order.
DAY_PARTS: tuple[tuple[float, str], ...] = (
    (0.0, "night"),
    (5.0, "early morning"),
    (8.0, "morning"),
    (12.0, "midday"),
    (14.0, "afternoon"),
    (17.0, "evening"),
    (21.0, "late evening"),
)
#: Below this resultant length the hours are spread through the day.
SPREAD_BELOW = 0.2


def label(feature: str) -> str:
    """Plain-words label of a feature (its name with spaces when unknown)."""
    if feature in LABELS:
        return LABELS[feature]
    if feature.startswith("occasion_share_"):
        occ = feature.removeprefix("occasion_share_")
        return f"share of purchases in {_OCCASION_WORDS.get(occ, occ.replace('_', ' '))}"
    if feature.startswith("channel_share_"):
        return f"share of events on {feature.removeprefix('channel_share_').replace('_', ' ')}"
    return feature.replace("_", " ")


def kind(unit: str) -> str:
    """Display kind of a spec unit: money, share, days, hours, rate, count or number."""
    if unit.startswith("money"):
        return "money"
    if unit == "fraction":
        return "share"
    if unit == "days":
        return "days"
    if unit == "hours":
        return "hours"
    if unit.endswith("/week"):
        return "rate"
    if unit in ("events", "orders"):
        return "count"
    return "number"


def _num(v: float) -> str:
    a = abs(v)
    if a < 0.005:
        return "0"
    if a >= 100:
        return f"{v:,.0f}"
    txt = f"{v:.1f}" if a >= 10 else f"{v:.2f}"
    return txt.rstrip("0").rstrip(".") if a >= 1 else txt


def money(v: float, currency: str = "") -> str:
    """``€1,234`` (one-character symbol first), ``1,234 EUR`` (a code after), ``1,234``."""
    if not np.isfinite(v):
        return "n/a"
    a = abs(v)
    body = f"{a:,.0f}" if a >= 100 else f"{a:,.2f}"
    sign = "-" if v < 0 else ""
    if not currency:
        return f"{sign}{body}"
    if len(currency) == 1:
        return f"{sign}{currency}{body}"
    return f"{sign}{body} {currency}"


def value(v: float, unit: str, currency: str = "") -> str:
    """A value in its unit: ``42%``, ``€12.50``, ``36 days``, ``1.2 h``, ``0.8/week``."""
    if v is None or not np.isfinite(v):
        return "n/a"
    k = kind(unit)
    if k == "money":
        return money(v, currency)
    if k == "share":
        return f"{100 * v:.0f}%" if abs(v) >= 0.1 or v == 0 else f"{100 * v:.1f}%"
    if k == "days":
        return f"{_num(v)} days"
    if k == "hours":
        return f"{_num(v)} h"
    if k == "rate":
        return f"{_num(v)}/week"
    return _num(v)


def difference(d: float, unit: str, currency: str = "") -> str:
    """A signed difference in natural units: ``+12 pts``, ``-3.5 days``, ``+€4.10``."""
    if not np.isfinite(d):
        return "n/a"
    sign = "+" if d >= 0 else "-"
    k = kind(unit)
    a = abs(d)
    if k == "money":
        return sign + money(a, currency)
    if k == "share":
        return f"{sign}{100 * a:.0f} pts" if 100 * a >= 1 else f"{sign}{100 * a:.1f} pts"
    return sign + value(a, unit, currency)


def hour_from_circle(sin_mean: float, cos_mean: float) -> tuple[float, float]:
    """(hour 0..24, resultant length 0..1) of a mean of ``sin``/``cos`` of 2*pi*h/24."""
    if not (np.isfinite(sin_mean) and np.isfinite(cos_mean)):
        return float("nan"), 0.0
    r = math.hypot(sin_mean, cos_mean)
    h = (math.atan2(sin_mean, cos_mean) * 24.0 / (2.0 * math.pi)) % 24.0
    return h, r


def day_part(hour: float) -> str:
    """Words for an hour of the day (``23.1`` -> ``"late evening"``)."""
    words = DAY_PARTS[0][1]
    for start, w in DAY_PARTS:
        if hour >= start:
            words = w
    return words


def time_of_day(hour: float, resultant: float) -> str:
    """``"mostly late evening (around 23:00)"`` or ``"spread through the day"``."""
    if not np.isfinite(hour) or resultant < SPREAD_BELOW:
        return "spread through the day"
    hh = int(round(hour)) % 24
    return f"mostly {day_part(hh)} (around {hh:02d}:00)"
