"""Intermediates of one customer at an as-of day, from its live state.

The mirror of :func:`archetype.features.base.aggregations` (same names, same meaning):
counts are summed over the day buckets inside the window ``[start_day, as_of_day]``,
distinct days are the buckets themselves, float sums use :func:`math.fsum` (correctly
rounded, so independent of the order events arrived in).  Divisions by a constant are
written as the batch's Polars evaluates them (:func:`recip`), so most values match the
batch bit for bit.
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from archetype.features.base import RECENT_DAYS
from archetype.live.state import (
    AD_CLICK,
    AMOUNTS,
    CART,
    CHANNELS,
    DISCOUNTED,
    EMAIL_CLICK,
    EMAIL_OPEN,
    N_COUNTS,
    PURCHASE,
    REFERRAL,
    RETURN,
    SECONDS,
    SESSION,
    VIEW,
    WITH_CHANNEL,
    CustomerState,
)

_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


@dataclass(frozen=True, slots=True)
class LiveContext:
    """What the live families need besides the state (the batch ``FeatureContext``)."""

    as_of_day: int
    horizon_days: int
    start_day: int | None  # first day of the window; None: all history
    occasions: dict[str, tuple[int, int]]  # name -> (MMDD lo, MMDD hi), inclusive
    channels: tuple[str, ...]
    slugs: tuple[str, ...]  # column suffix of each channel


@lru_cache(maxsize=1 << 16)
def month_day(d: int) -> int:
    """``month * 100 + day`` of a day number (days since 1970-01-01)."""
    x = dt.date.fromordinal(d + _EPOCH_ORDINAL)
    return x.month * 100 + x.day


def is_weekend(d: int) -> bool:
    """ISO weekday (the batch's ``(d % 7 + 3) % 7 + 1``) is Saturday or Sunday."""
    return (d % 7 + 3) % 7 + 1 >= 6


def in_occasion(md: int, lo: int, hi: int) -> bool:
    return lo <= md <= hi if lo <= hi else (md >= lo or md <= hi)


def recip(x: float) -> float:
    """``1 / x``: Polars evaluates ``expr / literal`` as ``expr * (1 / literal)``; the live
    side multiplies by the same reciprocal so that it rounds the same way."""
    return 1.0 / x


def _hour_tables() -> tuple[np.ndarray, np.ndarray]:
    """sin/cos of 2*pi*h/24 per second of day, the same float steps as the batch."""
    s = np.arange(86_400, dtype=np.int64)
    hours = (s // 3600).astype(np.float64) + ((s % 3600) // 60).astype(np.float64) * recip(60.0)
    hours = hours + (s % 60).astype(np.float64) * recip(3600.0)
    angle = hours * (2.0 * math.pi / 24.0)
    return np.sin(angle), np.cos(angle)


_SIN, _COS = (t.tolist() for t in _hour_tables())
_SEVENTH = recip(7.0)


def window_days(state: CustomerState, c: LiveContext) -> list[tuple[int, list]]:
    """``(day, bucket)`` of the state inside the window, ascending."""
    a, s = c.as_of_day, c.start_day
    if s is None:
        return sorted((d, b) for d, b in state.days.items() if d <= a)
    return sorted((d, b) for d, b in state.days.items() if s <= d <= a)


def aggregate(state: CustomerState, days: list[tuple[int, list]], c: LiveContext) -> dict:
    """The batch ``aggregations`` of one customer from its window's buckets (non-empty).

    A few C-level passes over the buckets (the per-request path).
    """
    a = c.as_of_day
    buckets = [b for _, b in days]
    tot = list(map(sum, zip(*[b[:N_COUNTS] for b in buckets], strict=True)))
    secs = [x for b in buckets for x in b[SECONDS]]
    ds = [d for d, _ in days]  # ascending
    n = len(ds)
    recent = n - bisect_right(ds, a - RECENT_DAYS)
    last30 = n - bisect_right(ds, a - 30)
    prior90 = n - last30 - bisect_right(ds, a - 120)
    pdays = [d for d, b in days if b[PURCHASE]]
    amounts = [x for b in buckets if b[PURCHASE] for x in b[AMOUNTS]]
    weekend = sum(b[PURCHASE] for d, b in days if b[PURCHASE] and is_weekend(d))
    chans: dict[int, int] = {}
    for b in buckets:
        for k, m in b[CHANNELS].items():
            chans[k] = chans.get(k, 0) + m
    i = {
        "_events": len(secs),
        "_first_day": days[0][0],
        "_last_day": days[-1][0],
        "_active_days": len(days),
        "_active_recent": recent,
        "_active_30": last30,
        "_active_prior90": prior90,
        "_purchase_days": len(pdays),
        "_last_pday": pdays[-1] if pdays else None,
        "_purchases": tot[PURCHASE],
        "_spend": math.fsum(amounts),
        "_returns": tot[RETURN],
        "_disc_purchases": tot[DISCOUNTED],
        "_weekend_purchases": weekend,
        "_views": tot[VIEW],
        "_carts": tot[CART],
        "_sessions": tot[SESSION],
        "_email_opens": tot[EMAIL_OPEN],
        "_email_clicks": tot[EMAIL_CLICK],
        "_ad_clicks": tot[AD_CLICK],
        "_referrals": tot[REFERRAL],
        "_hour_sin": math.fsum(map(_SIN.__getitem__, secs)),
        "_hour_cos": math.fsum(map(_COS.__getitem__, secs)),
        "_channel_events": tot[WITH_CHANNEL],
    }
    i["_gap_mean"], i["_gap_std"] = gap_stats(pdays)
    if c.occasions:
        mds = [(month_day(d), days_p) for d, days_p in _purchases_by_day(days)]
        for name, (lo, hi) in c.occasions.items():
            i[f"_occ_{name}"] = sum(p for md, p in mds if in_occasion(md, lo, hi))
    for ch, slug in zip(c.channels, c.slugs, strict=True):
        k = state.channel_index(ch)
        i[f"_ch_{slug}"] = 0 if k is None else chans.get(k, 0)
    return i


def _purchases_by_day(days: list[tuple[int, list]]) -> list[tuple[int, int]]:
    return [(d, b[PURCHASE]) for d, b in days if b[PURCHASE]]


def gap_stats(pdays: list[int]) -> tuple[float | None, float | None]:
    """Mean and population std of the gaps between consecutive purchase days.

    Gaps are integers, so both come from exact integer sums (no cancellation).
    """
    k = len(pdays) - 1
    if k < 1:
        return None, None
    s1 = pdays[-1] - pdays[0]
    s2 = sum((y - x) * (y - x) for x, y in zip(pdays, pdays[1:], strict=False))
    return s1 / k, math.sqrt((k * s2 - s1 * s1) / (k * k))


def safe_div(num, den, default: float = 0.0) -> float:
    """The batch ``safe_div``: ``num / den``, or ``default`` where den is 0 or null."""
    return num / den if den is not None and den > 0 else default


def weeks(i: dict, c: LiveContext) -> float:
    """max(tenure_days + 1, 7) / 7."""
    return max(float(c.as_of_day - i["_first_day"]) + 1.0, 7.0) * _SEVENTH
