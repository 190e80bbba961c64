"""Live form of :mod:`archetype.features.timing`: lead time and inter-purchase regularity.

The batch derives each purchase's lead time from one ordered pass (events sorted by time,
a purchase after other events at the same instant).  Over distinct purchase instants
``t`` (several purchases at one instant: the later ones start an empty cycle) that is::

    lead(t) = t - min{ view v : prev(t) < v <= t, v >= t - 14 days, day(v) >= window start }

with ``prev(t)`` the previous purchase instant (a view at ``prev(t)`` sorts before that
purchase, so it belongs to the earlier cycle).  A previous purchase outside the window
changes nothing: views at or before it are outside too.  The state keeps every purchase
and view instant (its table rows), so any arrival order gives the same leads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from archetype.features.base import LEAD_LOOKBACK_DAYS, US_PER_HOUR
from archetype.features.timing import LAST_MINUTE_HOURS
from archetype.live.incremental.base import (
    CX_HI_US,
    CX_HORIZON,
    CX_LO_US,
    I_GAP_MEAN,
    I_GAP_STD,
    I_LEAD_HOURS,
    I_LEAD_LASTMIN,
    I_LEAD_N,
    LiveContext,
    recip,
    safe_div,
)
from archetype.live.state import KIND_MASK, PURCHASE, US_PER_DAY, VIEW

FAMILY = "timing"
LOOKBACK_US = LEAD_LOOKBACK_DAYS * US_PER_DAY
_PER_HOUR = recip(US_PER_HOUR)
_LM_LO, _LM_HI = LAST_MINUTE_HOURS


def names(c: LiveContext) -> list[str]:
    """The features :func:`values` writes, in its order."""
    return [
        "lead_time_hours",
        "lead_24_48h_share",
        "interpurchase_mean_days",
        "interpurchase_cv",
    ]


@njit(cache=True)
def intermediates(ts, kind, cx, i, leads):  # pragma: no cover - compiled
    """The batch ``frames`` of this family: ``_lead_hours`` (median; NaN: none),
    ``_lead_n``, ``_lead_lastmin``, from the whole table (time order).  leads : (>= rows,)
    float64, scratch."""
    lo, hi = cx[CX_LO_US], cx[CX_HI_US]
    n = ts.shape[0]
    nl = 0
    j = 0  # first view at or after the current lower bound (bounds never decrease)
    prev = 0
    has_prev = False
    for r in range(n):
        if kind[r] & KIND_MASK != PURCHASE:
            continue
        t = ts[r]
        if has_prev and t == prev:
            continue  # distinct purchase instants
        if t >= hi:
            break
        if t >= lo:
            lower = t - LOOKBACK_US
            if has_prev and prev >= lower:
                lower = prev + 1
            if lo > lower:
                lower = lo
            while j < n and (ts[j] < lower or kind[j] & KIND_MASK != VIEW):
                j += 1
            if j < n and ts[j] <= t:
                leads[nl] = float(t - ts[j]) * _PER_HOUR
                nl += 1
        prev = t
        has_prev = True
    last_minute = 0
    for x in range(nl):
        if _LM_LO <= leads[x] <= _LM_HI:
            last_minute += 1
    if nl == 0:
        i[I_LEAD_HOURS] = np.nan
    else:
        s = np.sort(leads[:nl])
        h = nl // 2
        i[I_LEAD_HOURS] = s[h] if nl % 2 else (s[h - 1] + s[h]) / 2  # statistics.median
    i[I_LEAD_N] = nl
    i[I_LEAD_LASTMIN] = last_minute


@njit(cache=True)
def values(i, cx, out):  # pragma: no cover - compiled
    m, sd, lead = i[I_GAP_MEAN], i[I_GAP_STD], i[I_LEAD_HOURS]
    out[0] = 0.0 if np.isnan(lead) else lead
    out[1] = safe_div(i[I_LEAD_LASTMIN], i[I_LEAD_N])
    out[2] = float(cx[CX_HORIZON]) if np.isnan(m) else m
    out[3] = 1.0 if np.isnan(m) else (sd / m if m > 0 else 1.0)
