"""The planted archetypes leave the behavioral signatures they promise.

Every statistic is computed here from the event files with plain Polars (see conftest's
``reference_features``), never with ``archetype.features``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from archetype.synth import ARCHETYPES


def _medians(feats: pl.DataFrame, col: str) -> dict[str, float]:
    rows = feats.group_by("archetype").agg(pl.col(col).median()).iter_rows()
    return {a: float("nan") if v is None else v for a, v in rows}


def _others(med: dict[str, float], name: str) -> list[float]:
    return [v for k, v in med.items() if k != name]


def test_every_archetype_has_customers_with_events(small_features):
    assert set(small_features["archetype"].unique()) == set(ARCHETYPES)


def test_deal_hunter_buys_on_discount(small_features):
    med = _medians(small_features.filter(pl.col("purchases") > 0), "discount_share")
    assert med["deal_hunter"] >= 0.85
    assert med["deal_hunter"] >= 2 * max(_others(med, "deal_hunter"))


def test_deal_hunter_clicks_ads_and_browses_widely(small_features):
    ads = _medians(small_features, "ads_wk")
    assert ads["deal_hunter"] >= 2 * max(_others(ads, "deal_hunter"))
    ent = _medians(small_features, "cat_entropy")
    assert ent["deal_hunter"] > ent["loyal_advocate"] + 1.0


def test_lapsed_silent_for_last_60_days(small_events, small_truth):
    lapsed = small_truth.filter(pl.col("archetype") == "lapsed")["customer_id"]
    ev = small_events.filter(pl.col("customer_id").is_in(lapsed.implode()))
    assert ev.height > 0
    assert ev["ts"].max() < dt.datetime(2026, 11, 2)  # 60 days before 2027-01-01
    # ... but they were active early in the window
    first = ev.group_by("customer_id").agg(pl.col("ts").min())["ts"]
    assert (first < dt.datetime(2026, 4, 1)).mean() > 0.9
    # everyone else has a much more recent last event
    last = (
        small_events.join(small_truth, on="customer_id")
        .filter(pl.col("archetype") != "lapsed")
        .group_by("customer_id").agg(pl.col("ts").max())["ts"]
    )
    assert (last >= dt.datetime(2026, 11, 2)).mean() > 0.85


def test_window_shopper_views_without_buying(small_features):
    conv = _medians(small_features, "conversion")
    assert conv["window_shopper"] < 0.05 and conv["loyal_advocate"] > 0.25
    views = _medians(small_features, "views_wk")
    assert views["window_shopper"] >= 1.4 * max(_others(views, "window_shopper"))


def test_cart_abandoner_adds_to_cart_without_buying(small_features):
    f = small_features.with_columns(
        ratio=pl.col("carts") / pl.max_horizontal(pl.col("purchases"), 1.0)
    )
    ratio = _medians(f, "ratio")
    assert ratio["cart_abandoner"] >= 5
    assert max(_others(ratio, "cart_abandoner")) <= 1.5
    ab = _medians(small_features, "cart_abandon")
    assert ab["cart_abandoner"] >= 0.7


def test_email_engaged_non_buyer(small_features):
    f = small_features.filter(pl.col("archetype") == "email_engaged_non_buyer")
    assert f["opens"].median() >= 15
    assert (f["purchases"] == 0).mean() >= 0.8
    opens = _medians(small_features, "opens_wk")
    assert opens["email_engaged_non_buyer"] >= 3 * max(_others(opens, "email_engaged_non_buyer"))


def test_last_minute_buyer_lead_time_24_to_48_hours(small_features):
    f = small_features.filter(pl.col("lead_h").is_not_null())
    lm = f.filter(pl.col("archetype") == "last_minute_buyer")["lead_h"]
    assert lm.is_between(24.0, 48.0).mean() >= 0.8
    med = _medians(f, "lead_h")
    assert all(not 20.0 <= v <= 52.0 for v in _others(med, "last_minute_buyer") if v == v)


def test_occasion_shopper_buys_in_occasion_windows(small_features):
    med = _medians(small_features.filter(pl.col("purchases") > 0), "occasion_share")
    assert med["occasion_shopper"] >= 0.8
    assert max(_others(med, "occasion_shopper")) <= 0.4


def test_vip_heavy_tailed_high_value(small_features, small_events, small_truth):
    aov = _medians(small_features, "aov")
    assert aov["vip"] >= 5 * np.nanmax(_others(aov, "vip"))
    vip = small_truth.filter(pl.col("archetype") == "vip")["customer_id"].implode()
    amounts = small_events.filter(
        pl.col("customer_id").is_in(vip) & (pl.col("event_type") == "purchase")
        & (pl.col("amount") > 0)
    )["amount"]
    assert amounts.quantile(0.99) > 8 * amounts.median()  # heavy (lognormal) tail
    freq = _medians(small_features, "frequency")
    assert freq["vip"] >= 1.5 * max(_others(freq, "vip"))


def test_loyal_advocate_refers_and_buys_regularly(small_features):
    ref = _medians(small_features, "referrals_yr")
    assert ref["loyal_advocate"] >= 2 and max(_others(ref, "loyal_advocate")) <= 1.2
    cv = _medians(small_features.filter(pl.col("frequency") >= 3), "ipi_cv")
    assert cv["loyal_advocate"] < 0.4 and cv["deal_hunter"] > 0.6


def test_returns_are_negative_purchases(small_events):
    ret = small_events.filter((pl.col("event_type") == "purchase") & (pl.col("amount") < 0))
    assert ret.height > 0 and (ret["quantity"] >= 1).all()


def test_recoverable_by_kmeans(small_features, cluster_matrix_of):
    """k-means at k = #archetypes on standardized reference features recovers the truth."""
    X = cluster_matrix_of(small_features)
    y = small_features["archetype"].to_numpy()
    labels = KMeans(len(ARCHETYPES), n_init=10, random_state=0).fit_predict(X)
    assert adjusted_rand_score(y, labels) >= 0.85


@pytest.mark.parametrize("name", ARCHETYPES)
def test_no_archetype_is_one_feature_only(small_features, cluster_matrix_of, name):
    """Each archetype's centroid stands apart from every other on at least 3 features."""
    X = cluster_matrix_of(small_features)
    y = small_features["archetype"].to_numpy()
    mine = np.median(X[y == name], axis=0)
    for other in ARCHETYPES:
        if other != name:
            diff = np.abs(mine - np.median(X[y == other], axis=0))
            assert (diff >= 0.5).sum() >= 3, (name, other)
