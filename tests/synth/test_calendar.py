"""Calendars against hand-worked dates."""

from __future__ import annotations

import datetime as dt

import numpy as np

from archetype.synth import calendar as cal

START = dt.date(2026, 1, 1)  # a Thursday


def _dates(offsets) -> list[dt.date]:
    return [START + dt.timedelta(days=int(d)) for d in offsets]


def test_occasion_windows_match_contract():
    days = _dates(cal.occasion_days(START, 365))
    assert len(days) == 8 + 24 + 38
    assert dt.date(2026, 11, 23) in days and dt.date(2026, 11, 30) in days
    assert dt.date(2026, 12, 24) in days and dt.date(2026, 12, 25) not in days
    assert dt.date(2026, 8, 1) in days and dt.date(2026, 9, 7) in days
    assert dt.date(2026, 9, 8) not in days and dt.date(2026, 7, 31) not in days
    bf = _dates(cal.occasion_days(START, 365, "black_friday_week"))
    assert bf == [dt.date(2026, 11, d) for d in range(23, 31)]


def test_occasions_agree_with_features_defaults():
    from archetype.features.config import DEFAULT_OCCASIONS

    mine = {k: tuple(f"{m:02d}-{d:02d}" for m, d in v) for k, v in cal.OCCASIONS.items()}
    assert mine == {k: tuple(v) for k, v in DEFAULT_OCCASIONS.items()}


def test_promo_calendar():
    days = set(_dates(cal.promo_days(START, 365)))
    # black-friday week and the named sales
    assert {dt.date(2026, 11, d) for d in range(23, 31)} <= days
    assert {dt.date(2026, 7, d) for d in range(8, 15)} <= days
    # first Friday-Sunday of the month: Jan 2026 -> Fri 2, Sat 3, Sun 4; Feb -> 6, 7, 8
    assert {dt.date(2026, 1, 2), dt.date(2026, 1, 3), dt.date(2026, 1, 4)} <= days
    assert {dt.date(2026, 2, 6), dt.date(2026, 2, 7), dt.date(2026, 2, 8)} <= days
    assert dt.date(2026, 2, 13) not in days and dt.date(2026, 2, 1) not in days
    assert 40 <= len(days) <= 80


def test_campaign_days_are_tuesdays_and_thursdays():
    days = _dates(cal.campaign_days(START, 28))
    assert {d.weekday() for d in days} == {1, 3}
    assert len(days) == 8 and days[0] == dt.date(2026, 1, 1)


def test_weekday_and_weekend_mask():
    d = cal.window_dates(START, 7)
    np.testing.assert_array_equal(cal.weekday(d), [3, 4, 5, 6, 0, 1, 2])
    np.testing.assert_array_equal(cal.weekend_mask(START, 7), [0, 0, 1, 1, 0, 0, 0])
