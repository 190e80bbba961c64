"""Intermediates of one customer at an as-of day, from its packed table (Numba).

The mirror of :func:`archetype.features.base.aggregations` (same names, same meaning, see
:data:`INTERMEDIATES`): counts over the table's rows inside the window
``[start_day, as_of_day]``, distinct days from the day of consecutive rows (the table is in
time order), float sums with :func:`~.fsum.fsum` (correctly rounded, so independent of
the order events arrived in).  Divisions by a constant are written as the batch's Polars
evaluates them (:func:`recip`), so most values match the batch bit for bit.

Kernels work on one customer's rows and write into the intermediates vector ``i``
(float64; a missing value, the batch's null, is NaN); the layout is the ``I_*`` constants,
then the purchases in each occasion window, then the events of each model channel.  The
context vector ``cx`` (int64, ``CX_*``) carries the as-of day, horizon and window.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from archetype.features.base import RECENT_DAYS
from archetype.live.incremental.fsum import fsum
from archetype.live.state import (
    AD_CLICK,
    CART,
    DISCOUNTED,
    EMAIL_CLICK,
    EMAIL_OPEN,
    KIND_MASK,
    PURCHASE,
    REFERRAL,
    RETURN,
    SESSION,
    US_PER_DAY,
    VIEW,
)

_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()

# The context vector.
CX_AS_OF, CX_HORIZON, CX_START, CX_LO_US, CX_HI_US, CX_NOCC, CX_NCH = range(7)
NO_START_DAY = -(2**26)  # all history: a day before any event (x US_PER_DAY fits int64)

#: Intermediates, in the order of the vector (the batch's names).
INTERMEDIATES = (
    "_events", "_first_day", "_last_day", "_active_days", "_active_recent", "_active_30",
    "_active_prior90", "_purchase_days", "_last_pday", "_purchases", "_spend", "_returns",
    "_disc_purchases", "_weekend_purchases", "_views", "_carts", "_sessions",
    "_email_opens", "_email_clicks", "_ad_clicks", "_referrals", "_hour_sin", "_hour_cos",
    "_channel_events", "_gap_mean", "_gap_std",
    # the families' own (the batch ``frames``): timing, content
    "_lead_hours", "_lead_n", "_lead_lastmin", "_cat_entropy", "_cat_top",
)  # fmt: skip
(
    I_EVENTS, I_FIRST_DAY, I_LAST_DAY, I_ACTIVE_DAYS, I_ACTIVE_RECENT, I_ACTIVE_30,
    I_ACTIVE_PRIOR90, I_PURCHASE_DAYS, I_LAST_PDAY, I_PURCHASES, I_SPEND, I_RETURNS,
    I_DISC_PURCHASES, I_WEEKEND_PURCHASES, I_VIEWS, I_CARTS, I_SESSIONS, I_EMAIL_OPENS,
    I_EMAIL_CLICKS, I_AD_CLICKS, I_REFERRALS, I_HOUR_SIN, I_HOUR_COS, I_CHANNEL_EVENTS,
    I_GAP_MEAN, I_GAP_STD, I_LEAD_HOURS, I_LEAD_N, I_LEAD_LASTMIN, I_CAT_ENTROPY, I_CAT_TOP,
) = range(len(INTERMEDIATES))  # fmt: skip
N_FIXED = len(INTERMEDIATES)  # then occasions (cx[CX_NOCC]), then channels (cx[CX_NCH])


@dataclass(frozen=True, slots=True)
class LiveContext:
    """What the live families need besides the state (the batch ``FeatureContext``)."""

    as_of_day: int
    horizon_days: int
    start_day: int | None  # first day of the window; None: all history
    occasions: dict[str, tuple[int, int]]  # name -> (MMDD lo, MMDD hi), inclusive
    channels: tuple[str, ...]
    slugs: tuple[str, ...]  # column suffix of each channel

    def vector(self) -> np.ndarray:
        """The context vector ``cx`` of the kernels."""
        s = NO_START_DAY if self.start_day is None else self.start_day
        return np.array(
            [self.as_of_day, self.horizon_days, s, s * US_PER_DAY,
             (self.as_of_day + 1) * US_PER_DAY, len(self.occasions), len(self.channels)],
            np.int64,
        )  # fmt: skip

    def occasion_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)`` MMDD of each occasion window, in the order of :attr:`occasions`."""
        lo = np.array([v[0] for v in self.occasions.values()], np.int64)
        hi = np.array([v[1] for v in self.occasions.values()], np.int64)
        return lo, hi


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


SIN, COS = _hour_tables()
_SEVENTH = recip(7.0)


@njit(cache=True)
def month_day(d):  # pragma: no cover - compiled
    """``month * 100 + day`` of a day number (days since 1970-01-01), proleptic Gregorian."""
    z = d + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return month * 100 + day


@njit(cache=True)
def is_weekend(d):  # pragma: no cover - compiled
    """ISO weekday (the batch's ``(d % 7 + 3) % 7 + 1``) is Saturday or Sunday."""
    return (d % 7 + 3) % 7 + 1 >= 6


@njit(cache=True)
def in_occasion(md, lo, hi):  # pragma: no cover - compiled
    return lo <= md <= hi if lo <= hi else (md >= lo or md <= hi)


@njit(cache=True)
def safe_div(num, den):  # pragma: no cover - compiled
    """The batch ``safe_div``: ``num / den``, or 0.0 where den is 0 (or null: NaN)."""
    return num / den if den > 0 else 0.0


@njit(cache=True)
def weeks(i, cx):  # pragma: no cover - compiled
    """max(tenure_days + 1, 7) / 7."""
    return max(float(cx[CX_AS_OF]) - i[I_FIRST_DAY] + 1.0, 7.0) * _SEVENTH


@njit(cache=True)
def aggregate(ts, kind, ch, amt, r0, r1, pa0, chmap, cx, occ_lo, occ_hi, sin_t, cos_t, i, buf, p):
    """The common intermediates of rows ``[r0, r1)`` (the window; not empty) into ``i``.

    ts, kind, ch : the customer's table (input).  amt : its purchase amounts (input);
    ``pa0`` the index in ``amt`` of the first purchase row at or after ``r0``.
    chmap : (customer channel values,) int, input: the model channel of each, or -1
        (empty when the model has no channel).
    occ_lo, occ_hi : MMDD bounds of the occasion windows (input).
    sin_t, cos_t : per second of day (input).  i : intermediates (output).
    buf : (2, >= r1 - r0) float64, scratch.  p : fsum scratch.
    """
    a = cx[CX_AS_OF]
    nocc = cx[CX_NOCC]
    base_ch = N_FIXED + nocc
    for x in range(N_FIXED, N_FIXED + nocc + cx[CX_NCH]):
        i[x] = 0.0
    n_view = n_cart = n_pur = n_ret = n_ses = n_open = n_click = n_ad = n_ref = 0
    n_disc = n_week = n_with_ch = 0
    n_act = n_recent = n_30 = n_p90 = 0
    n_pd = 0
    first_pd = last_pd = 0
    s2 = 0
    md = 0
    prev = NO_START_DAY - 1
    pa = pa0
    for r in range(r0, r1):
        t = ts[r]
        d = t // US_PER_DAY
        if d != prev:
            n_act += 1
            if d > a - RECENT_DAYS:
                n_recent += 1
            if d > a - 30:
                n_30 += 1
            elif d > a - 120:
                n_p90 += 1
            prev = d
        sec = (t - d * US_PER_DAY) // 1_000_000
        buf[0, r - r0] = sin_t[sec]
        buf[1, r - r0] = cos_t[sec]
        k = kind[r]
        kk = k & KIND_MASK
        if kk == VIEW:
            n_view += 1
        elif kk == PURCHASE:
            n_pur += 1
            pa += 1
            if k & DISCOUNTED:
                n_disc += 1
            if n_pd == 0 or d != last_pd:
                if n_pd == 0:
                    first_pd = d
                else:
                    s2 += (d - last_pd) * (d - last_pd)
                n_pd += 1
                last_pd = d
                md = month_day(d)
            if is_weekend(d):
                n_week += 1
            for o in range(nocc):
                if in_occasion(md, occ_lo[o], occ_hi[o]):
                    i[N_FIXED + o] += 1.0
        elif kk == CART:
            n_cart += 1
        elif kk == RETURN:
            n_ret += 1
        elif kk == SESSION:
            n_ses += 1
        elif kk == EMAIL_OPEN:
            n_open += 1
        elif kk == EMAIL_CLICK:
            n_click += 1
        elif kk == AD_CLICK:
            n_ad += 1
        elif kk == REFERRAL:
            n_ref += 1
        c = ch[r]
        if c > 0:
            n_with_ch += 1
            if chmap.shape[0] > 0:
                j = chmap[c - 1]
                if j >= 0:
                    i[base_ch + j] += 1.0
    m = r1 - r0
    i[I_EVENTS] = m
    i[I_FIRST_DAY] = ts[r0] // US_PER_DAY
    i[I_LAST_DAY] = ts[r1 - 1] // US_PER_DAY
    i[I_ACTIVE_DAYS] = n_act
    i[I_ACTIVE_RECENT] = n_recent
    i[I_ACTIVE_30] = n_30
    i[I_ACTIVE_PRIOR90] = n_p90
    i[I_PURCHASE_DAYS] = n_pd
    i[I_LAST_PDAY] = last_pd if n_pd else np.nan
    i[I_PURCHASES] = n_pur
    i[I_SPEND] = fsum(amt[pa0:pa], p)
    i[I_RETURNS] = n_ret
    i[I_DISC_PURCHASES] = n_disc
    i[I_WEEKEND_PURCHASES] = n_week
    i[I_VIEWS] = n_view
    i[I_CARTS] = n_cart
    i[I_SESSIONS] = n_ses
    i[I_EMAIL_OPENS] = n_open
    i[I_EMAIL_CLICKS] = n_click
    i[I_AD_CLICKS] = n_ad
    i[I_REFERRALS] = n_ref
    i[I_HOUR_SIN] = fsum(buf[0, :m], p)
    i[I_HOUR_COS] = fsum(buf[1, :m], p)
    i[I_CHANNEL_EVENTS] = n_with_ch
    # mean and population std of the gaps between consecutive purchase days: exact
    # integer sums (no cancellation), one rounding each
    k = n_pd - 1
    if k < 1:
        i[I_GAP_MEAN] = np.nan
        i[I_GAP_STD] = np.nan
    else:
        s1 = last_pd - first_pd
        i[I_GAP_MEAN] = s1 / k
        i[I_GAP_STD] = math.sqrt((k * s2 - s1 * s1) / (k * k))
