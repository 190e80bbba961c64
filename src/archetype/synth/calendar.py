"""Global calendars of the synthetic world: promo days, occasion windows, email campaigns.

All calendars are deterministic functions of the dates (not of the seed) and are returned
as sorted ``int64`` day offsets from the window's first day, so the generator can pick
"a random promo day inside this customer's active span" with two ``searchsorted`` calls.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from archetype.features.config import DEFAULT_OCCASIONS


def _month_day(md: str) -> tuple[int, int]:
    month, day = md.split("-")
    return int(month), int(day)


#: Occasion windows (month, day) inclusive: the features' ``DEFAULT_OCCASIONS``, declared
#: once in ``archetype.features.config`` (docs/CONTRACTS.md).
OCCASIONS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    name: (_month_day(a), _month_day(b)) for name, (a, b) in DEFAULT_OCCASIONS.items()
}

#: Sale periods (month, day) inclusive besides the black-friday week, plus the first
#: Friday–Sunday of every month.
SALES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "black_friday_week": OCCASIONS["black_friday_week"],
    "spring_sale": ((3, 15), (3, 21)),
    "summer_sale": ((7, 8), (7, 14)),
    "new_year_sale": ((1, 2), (1, 6)),
}

#: Email campaigns go out on these weekdays (Monday = 0) at CAMPAIGN_HOUR.
CAMPAIGN_WEEKDAYS = (1, 3)  # Tuesday, Thursday
CAMPAIGN_HOUR = 10.0


def window_dates(start: dt.date, days: int) -> np.ndarray:
    """The window's dates as ``datetime64[D]`` (``days`` of them from ``start``)."""
    return np.datetime64(start, "D") + np.arange(days)


def _in_windows(
    dates: np.ndarray, windows: dict[str, tuple[tuple[int, int], tuple[int, int]]]
) -> np.ndarray:
    months = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    mday = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    key = months * 100 + mday
    mask = np.zeros(dates.shape, dtype=bool)
    for (m0, d0), (m1, d1) in windows.values():
        mask |= (key >= m0 * 100 + d0) & (key <= m1 * 100 + d1)
    return mask


def weekday(dates: np.ndarray) -> np.ndarray:
    """Weekday of ``datetime64[D]`` dates, Monday = 0."""
    return (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday


#: Occasion shoppers cycle through their occasions in this order (one purchase each), so
#: every one of them buys for the holidays, back-to-school and black-friday week alike.
OCCASION_CYCLE = ("holidays", "back_to_school", "black_friday_week", "holidays", "back_to_school")


def occasion_days(start: dt.date, days: int, name: str | None = None) -> np.ndarray:
    """Day offsets inside occasion window ``name`` (default: any occasion), sorted."""
    windows = OCCASIONS if name is None else {name: OCCASIONS[name]}
    return np.flatnonzero(_in_windows(window_dates(start, days), windows)).astype(np.int64)


def promo_days(start: dt.date, days: int) -> np.ndarray:
    """Day offsets of the global promo calendar (sales + first weekend of each month)."""
    dates = window_dates(start, days)
    mday = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    first_weekend = (mday <= 9) & np.isin(weekday(dates), (4, 5, 6))
    # Friday-Sunday of the month's first full Friday..Sunday: the Friday is in days 1..7.
    friday_mday = mday - (weekday(dates) - 4)
    first_weekend &= (friday_mday >= 1) & (friday_mday <= 7)
    return np.flatnonzero(_in_windows(dates, SALES) | first_weekend).astype(np.int64)


def campaign_days(start: dt.date, days: int) -> np.ndarray:
    """Day offsets on which an email campaign goes out, sorted."""
    wd = weekday(window_dates(start, days))
    return np.flatnonzero(np.isin(wd, CAMPAIGN_WEEKDAYS)).astype(np.int64)


def weekend_mask(start: dt.date, days: int) -> np.ndarray:
    """Boolean per day offset: Saturday or Sunday."""
    return weekday(window_dates(start, days)) >= 5
