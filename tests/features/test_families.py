"""Every feature family against values worked out by hand on a tiny log."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from tests.features.conftest import AS_OF, T, make_log

from archetype.features import FeatureConfig, build_features


@pytest.fixture
def feats(tiny_log):
    df = build_features(tiny_log.lazy(), AS_OF)
    return {row["customer_id"]: row for row in df.iter_rows(named=True)}


def test_rfm_hand_worked(feats):
    c1, c2 = feats[1], feats[2]
    # purchase days Jan 1 and Jan 5 (the Jan 9 return is not a purchase)
    assert c1["frequency"] == 2
    assert c1["recency_days"] == 10 - 5
    assert c1["total_spend"] == 10 + 20 + 30
    assert c1["monetary"] == (10 + (20 + 30)) / 2
    assert c1["tenure_days"] == 10 - 1
    # non-buyer: recency = horizon = as-of minus first event day of the log (Jan 1) + 1
    assert (c2["frequency"], c2["recency_days"], c2["monetary"], c2["total_spend"]) == (0, 10, 0, 0)
    assert c2["tenure_days"] == 10 - 8


def test_usage_hand_worked(feats):
    c1, c2 = feats[1], feats[2]
    weeks1 = max(9 + 1, 7) / 7  # tenure 9 days
    assert c1["active_days_per_week"] == pytest.approx(5 / weeks1)  # Jan 1, 3, 4, 5, 9
    assert c1["sessions_per_week"] == pytest.approx(1 / weeks1)
    assert c1["views_per_week"] == pytest.approx(1 / weeks1)
    assert c1["activity_trend"] == pytest.approx(5 / 30 - 0 / 90)
    assert c2["active_days_per_week"] == pytest.approx(1 / 1)  # tenure 2 -> 7-day floor
    assert c2["views_per_week"] == pytest.approx(2.0)


def test_purchase_behavior_hand_worked(feats):
    c1, c2 = feats[1], feats[2]
    assert c1["purchases"] == 3
    assert c1["avg_order_value"] == pytest.approx(60 / 3)
    assert c1["cart_abandonment_rate"] == 0.0  # 1 cart, 3 purchases
    assert c1["view_to_purchase"] == 1.0  # min(3/1, 1)
    assert c1["discount_share"] == pytest.approx(1 / 3)
    assert c1["return_rate"] == pytest.approx(1 / (3 + 1))
    for k in ("purchases", "avg_order_value", "discount_share", "return_rate", "view_to_purchase"):
        assert c2[k] == 0.0


def test_cart_abandonment_and_conversion():
    log = make_log(
        [
            (7, T(2), "add_to_cart", 0, 0, None, None),
            (7, T(2, 1), "add_to_cart", 0, 0, None, None),
            (7, T(2, 2), "add_to_cart", 0, 0, None, None),
            (7, T(2, 3), "add_to_cart", 0, 0, None, None),
            (7, T(2, 4), "purchase", 5.0, 0, None, None),
            (7, T(1), "view", 0, 0, None, None),
            (7, T(1, 1), "view", 0, 0, None, None),
        ]
    )
    row = build_features(log.lazy(), AS_OF).row(0, named=True)
    assert row["cart_abandonment_rate"] == pytest.approx((4 - 1) / 4)
    assert row["view_to_purchase"] == pytest.approx(1 / 2)


def test_timing_hand_worked(feats):
    c1, c2 = feats[1], feats[2]
    # cycle 1: view Jan 1 10:00 -> purchase 12:00 = 2 h; later purchases had no view before
    assert c1["lead_time_hours"] == pytest.approx(2.0)
    assert c1["interpurchase_mean_days"] == 4.0  # Jan 1 -> Jan 5
    assert c1["interpurchase_cv"] == 0.0
    assert (c2["lead_time_hours"], c2["interpurchase_mean_days"], c2["interpurchase_cv"]) == (
        0.0,
        10.0,
        1.0,
    )


def test_lead_time_uses_first_view_of_each_cycle():
    log = make_log(
        [
            (3, T(1, 0), "view", 0, 0, None, None),
            (3, T(2, 0), "view", 0, 0, None, None),
            (3, T(3, 0), "purchase", 1.0, 0, None, None),  # 48 h after the first view
            (3, T(4, 0), "view", 0, 0, None, None),
            (3, T(4, 6), "purchase", 1.0, 0, None, None),  # 6 h
            (3, T(7, 0), "purchase", 1.0, 0, None, None),  # no view in its cycle
        ]
    )
    row = build_features(log.lazy(), AS_OF).row(0, named=True)
    assert row["lead_time_hours"] == pytest.approx((48 + 6) / 2)
    gaps = [1, 3]  # days 3 -> 4 -> 7
    mean = sum(gaps) / 2
    std = math.sqrt(sum((g - mean) ** 2 for g in gaps) / 2)
    assert row["interpurchase_mean_days"] == pytest.approx(mean)
    assert row["interpurchase_cv"] == pytest.approx(std / mean)


def test_last_minute_share_window_is_inclusive():
    log = make_log(
        [
            (4, T(1, 0), "view", 0, 0, None, None),
            (4, T(2, 0), "purchase", 1.0, 0, None, None),  # 24 h: in
            (4, T(3, 0), "view", 0, 0, None, None),
            (4, T(5, 0), "purchase", 1.0, 0, None, None),  # 48 h: in
            (4, T(6, 0), "view", 0, 0, None, None),
            (4, T(8, 0, 1), "purchase", 1.0, 0, None, None),  # 48 h 1 min: out
            (4, T(9, 0), "view", 0, 0, None, None),
            (4, T(9, 23), "purchase", 1.0, 0, None, None),  # 23 h: out
            (4, T(10, 1), "purchase", 1.0, 0, None, None),  # no view: not counted
            (5, T(1, 0), "view", 0, 0, None, None),  # views, no purchase: 0
            (5, T(2, 0), "add_to_cart", 0, 0, None, None),
            (5, T(2, 1), "add_to_cart", 0, 0, None, None),
        ]
    )
    rows = {r["customer_id"]: r for r in build_features(log.lazy(), AS_OF).iter_rows(named=True)}
    assert rows[4]["lead_24_48h_share"] == pytest.approx(2 / 4)
    assert rows[5]["lead_24_48h_share"] == 0.0
    assert rows[5]["carts_per_week"] == pytest.approx(2 / (10 / 7))  # tenure 9 d: 10/7 weeks
    assert rows[4]["carts_per_week"] == 0.0


def test_occasions_hand_worked():
    import datetime as dt

    log = make_log(
        [
            (5, dt.datetime(2025, 11, 28, 6), "purchase", 1.0, 0, None, None),  # Fri, BF week
            (5, dt.datetime(2025, 12, 20, 18), "purchase", 1.0, 0, None, None),  # Sat, holidays
            (5, dt.datetime(2025, 8, 1, 0), "purchase", 1.0, 0, None, None),  # Fri, school
            (5, dt.datetime(2025, 12, 28, 12), "purchase", 1.0, 0, None, None),  # Sun, none
            (5, dt.datetime(2025, 12, 28, 13), "view", 0.0, 0, None, None),
        ]
    )
    cfg = FeatureConfig(
        occasions={"bf": ("11-23", "11-30"), "xmas": ("12-01", "12-24"), "ny": ("12-27", "01-02")}
    )
    row = build_features(log.lazy(), AS_OF, cfg).row(0, named=True)
    assert row["occasion_share_bf"] == 0.25
    assert row["occasion_share_xmas"] == 0.25
    assert row["occasion_share_ny"] == 0.25  # window wrapping the new year
    assert row["weekend_share"] == 0.5
    hours = [6, 18, 0, 12, 13]
    sin = sum(math.sin(2 * math.pi * h / 24) for h in hours) / 5
    cos = sum(math.cos(2 * math.pi * h / 24) for h in hours) / 5
    assert row["hour_sin"] == pytest.approx(sin)
    assert row["hour_cos"] == pytest.approx(cos)


def test_default_occasions_present(feats):
    for name in ("black_friday_week", "holidays", "back_to_school"):
        assert feats[1][f"occasion_share_{name}"] == 0.0


def test_loyalty_engagement_content_hand_worked(feats):
    c1, c2 = feats[1], feats[2]
    weeks1 = 10 / 7
    assert c1["referrals"] == 1
    assert c1["repeat_purchase_rate"] == 0.5
    assert c1["email_opens_per_week"] == pytest.approx(1 / weeks1)
    assert c1["email_click_rate"] == 1.0
    assert c1["ad_clicks_per_week"] == 0.0
    # channels discovered: app, web; customer 1 has web x2, app x3 among events with a channel
    assert c1["channel_share_app"] == pytest.approx(3 / 5)
    assert c1["channel_share_web"] == pytest.approx(2 / 5)
    assert (c2["channel_share_app"], c2["channel_share_web"]) == (0.0, 0.0)
    # categories of view/cart/purchase events: a x2, b x3
    assert c1["category_entropy"] == pytest.approx(-(0.4 * math.log(0.4) + 0.6 * math.log(0.6)))
    assert c1["top_category_share"] == pytest.approx(0.6)
    assert c2["category_entropy"] == pytest.approx(math.log(2))
    assert c2["top_category_share"] == 0.5


def test_non_buyers_have_no_nan(tiny_log):
    df = build_features(tiny_log.lazy(), AS_OF)
    x = df.drop("customer_id").to_numpy()
    assert x.shape == (2, df.width - 1)
    assert not pl.Series(x.ravel()).is_nan().any()
    assert df.null_count().sum_horizontal().item() == 0


def test_output_sorted_by_customer(tiny_log):
    df = build_features(tiny_log.reverse().lazy(), AS_OF)
    assert df["customer_id"].to_list() == [1, 2]


def D(y: int, m: int, d: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hour)


def _recency_and_lead_log() -> pl.DataFrame:
    """as-of 2026-01-10.  Customer 5 was active long ago; customer 6 tests the look-back."""
    return make_log(
        [
            (5, D(2025, 9, 1), "view", 0, 0, None, None),
            (5, D(2025, 9, 20), "purchase", 1.0, 0, None, None),  # view 19 d before: no lead
            (5, D(2026, 1, 2, 8), "view", 0, 0, None, None),
            (5, D(2026, 1, 2, 9), "view", 0, 0, None, None),
            (6, D(2025, 12, 1), "view", 0, 0, None, None),  # > 14 d before the purchase
            (6, D(2025, 12, 10), "view", 0, 0, None, None),
            (6, D(2025, 12, 20), "purchase", 1.0, 0, None, None),  # 10 d = 240 h
            (6, D(2025, 12, 22), "view", 0, 0, None, None),
            (6, D(2025, 12, 22, 3), "purchase", 1.0, 0, None, None),  # 3 h
            (6, D(2025, 12, 25), "purchase", 1.0, 0, None, None),  # no view since: excluded
            (6, D(2025, 12, 26), "view", 0, 0, None, None),
            (6, D(2026, 1, 9), "purchase", 1.0, 0, None, None),  # exactly 14 d = 336 h: kept
        ]
    )


def test_recency_of_activity_hand_worked(feats):
    rows = build_features(_recency_and_lead_log().lazy(), AS_OF)
    r = {row["customer_id"]: row for row in rows.iter_rows(named=True)}
    # last events: Jan 2 -> 8 days; Jan 9 -> 1 day (tiny log: Jan 9 -> 1, Jan 8 -> 2)
    assert r[5]["days_since_last_event"] == 8.0
    assert r[6]["days_since_last_event"] == 1.0
    assert (feats[1]["days_since_last_event"], feats[2]["days_since_last_event"]) == (1.0, 2.0)
    # active days of 5: 2025-09-01, 2025-09-20, 2026-01-02; only Jan 2 is within the
    # 90 days up to Jan 10 (from 2025-10-13)
    assert r[5]["recent_activity_share"] == pytest.approx(1 / 3)
    assert r[6]["recent_activity_share"] == 1.0
    assert feats[1]["recent_activity_share"] == 1.0


def test_recent_activity_share_boundary():
    # 2025-10-13 is the 90th day back from 2026-01-10 (included); 2025-10-12 is not
    log = make_log(
        [
            (7, D(2025, 10, 12, 23), "view", 0, 0, None, None),
            (7, D(2025, 10, 13, 0), "view", 0, 0, None, None),
        ]
    )
    row = build_features(log.lazy(), AS_OF).row(0, named=True)
    assert row["recent_activity_share"] == 0.5
    assert row["days_since_last_event"] == 89.0


def test_lead_time_is_median_within_look_back():
    rows = build_features(_recency_and_lead_log().lazy(), AS_OF)
    r = {row["customer_id"]: row for row in rows.iter_rows(named=True)}
    assert r[6]["lead_time_hours"] == pytest.approx(240.0)  # median of 240, 3, 336
    assert r[5]["lead_time_hours"] == 0.0  # its only purchase had no view in 14 days


def test_new_features_agree_with_duckdb_on_hand_log(tmp_path):
    pytest.importorskip("duckdb")
    from archetype.bench.duckdb_features import duckdb_features

    log = _recency_and_lead_log()
    log.write_parquet(tmp_path / "ev.parquet")
    ours = build_features(log.lazy(), AS_OF, channels=[])
    peer = duckdb_features(tmp_path / "ev.parquet", AS_OF, channels=[])
    cols = ["customer_id", "days_since_last_event", "recent_activity_share", "lead_time_hours"]
    assert peer.select(cols).to_dicts() == ours.select(cols).to_dicts()
