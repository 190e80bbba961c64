"""Live form of :mod:`archetype.features.timing`: lead time and inter-purchase regularity.

The batch derives each purchase's lead time from one ordered pass (events sorted by time,
a purchase after other events at the same instant).  Over distinct purchase instants
``t`` (several purchases at one instant: the later ones start an empty cycle) that is::

    lead(t) = t - min{ view v : prev(t) < v <= t, v >= t - 14 days, day(v) >= window start }

with ``prev(t)`` the previous purchase instant (a view at ``prev(t)`` sorts before that
purchase, so it belongs to the earlier cycle).  A previous purchase outside the window
changes nothing: views at or before it are outside too.  The state keeps the distinct
purchase and view instants, so any arrival order gives the same leads.
"""

from __future__ import annotations

import statistics
from bisect import bisect_left

from archetype.features.base import LEAD_LOOKBACK_DAYS, US_PER_HOUR
from archetype.features.timing import LAST_MINUTE_HOURS
from archetype.live.incremental.base import LiveContext, recip, safe_div
from archetype.live.state import US_PER_DAY, CustomerState

FAMILY = "timing"
LOOKBACK_US = LEAD_LOOKBACK_DAYS * US_PER_DAY
_PER_HOUR = recip(US_PER_HOUR)


def leads_hours(state: CustomerState, c: LiveContext) -> list[float]:
    """Lead times in hours of the window's purchases that have one (purchase order)."""
    if not state.buys or not state.views:
        return []
    views = sorted(state.views)
    lo = None if c.start_day is None else c.start_day * US_PER_DAY
    hi = (c.as_of_day + 1) * US_PER_DAY
    leads = []
    prev = None
    nv = len(views)
    for t in sorted(state.buys):
        if t >= hi:
            break
        if lo is None or t >= lo:
            lower = t - LOOKBACK_US
            if prev is not None and prev >= lower:
                lower = prev + 1
            if lo is not None and lo > lower:
                lower = lo
            j = bisect_left(views, lower)
            if j < nv and views[j] <= t:
                leads.append(float(t - views[j]) * _PER_HOUR)
        prev = t
    return leads


def intermediates(state: CustomerState, days: list, c: LiveContext) -> dict:
    """The batch ``frames`` of this family: ``_lead_hours``, ``_lead_n``, ``_lead_lastmin``."""
    leads = leads_hours(state, c)
    lo, hi = LAST_MINUTE_HOURS
    return {
        "_lead_hours": statistics.median(leads) if leads else None,
        "_lead_n": float(len(leads)),
        "_lead_lastmin": float(sum(1 for x in leads if lo <= x <= hi)),
    }


def values(i: dict, c: LiveContext) -> dict[str, float]:
    m, sd, lead = i["_gap_mean"], i["_gap_std"], i["_lead_hours"]
    return {
        "lead_time_hours": 0.0 if lead is None else lead,
        "lead_24_48h_share": safe_div(i["_lead_lastmin"], i["_lead_n"]),
        "interpurchase_mean_days": float(c.horizon_days) if m is None else m,
        "interpurchase_cv": 1.0 if m is None else (sd / m if m > 0 else 1.0),
    }
