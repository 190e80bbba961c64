"""Profiles against hand-computed values on a tiny table."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from archetype.errors import UserError
from archetype.segments.profiles import profile_segments


@pytest.fixture
def tiny() -> tuple[pl.DataFrame, np.ndarray]:
    df = pl.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "total_spend": [10.0, 20.0, 30.0, 0.0, 40.0],
            "frequency": [1, 2, 3, 0, 4],
            "const": [5.0] * 5,
            "centered": [1.0, -1.0, 0.0, 0.0, 0.0],
            "with_null": [1.0, None, 3.0, float("nan"), 5.0],
            "label": ["a", "b", "c", "d", "e"],
        }
    )
    return df, np.array([7, 7, 3, 3, 3])


def test_sizes_shares_revenue(tiny):
    df, seg = tiny
    p = profile_segments(df, seg)
    # segments are sorted by id
    assert p.segment_ids.tolist() == [3, 7]
    assert p.sizes.tolist() == [3, 2]
    assert p.shares.tolist() == pytest.approx([0.6, 0.4])
    # revenue: segment 3 has 30 + 0 + 40 = 70 of 100
    assert p.revenue_shares.tolist() == pytest.approx([0.7, 0.3])
    assert p.feature_names == ["total_spend", "frequency", "const", "centered", "with_null"]


def test_means_medians_index_stddiff(tiny):
    df, seg = tiny
    p = profile_segments(df, seg)
    j = p.feature("total_spend")
    # population: mean 20, std (ddof=0) sqrt(1000/5) = sqrt(200)
    assert p.pop_mean[j] == pytest.approx(20.0)
    assert p.pop_std[j] == pytest.approx(math.sqrt(200.0))
    assert p.pop_median[j] == pytest.approx(20.0)
    s3, s7 = p.row(3), p.row(7)
    assert p.means[s3, j] == pytest.approx(70 / 3)
    assert p.medians[s3, j] == pytest.approx(30.0)
    assert p.means[s7, j] == pytest.approx(15.0)
    assert p.index[s3, j] == pytest.approx(100 * (70 / 3) / 20)
    assert p.index[s7, j] == pytest.approx(75.0)
    assert p.std_diff[s7, j] == pytest.approx(-5 / math.sqrt(200.0))
    assert p.std_diff[s3, j] == pytest.approx((70 / 3 - 20) / math.sqrt(200.0))


def test_degenerate_features(tiny):
    df, seg = tiny
    p = profile_segments(df, seg)
    c, z, w = p.feature("const"), p.feature("centered"), p.feature("with_null")
    # constant: index 100, std_diff 0
    assert p.index[:, c].tolist() == pytest.approx([100.0, 100.0])
    assert p.std_diff[:, c].tolist() == [0.0, 0.0]
    # zero population mean: index undefined (NaN), std_diff still defined
    assert np.isnan(p.index[:, z]).all()
    # segment 7 = (1, -1) -> mean 0; pop std sqrt(2/5)
    assert p.std_diff[p.row(7), z] == pytest.approx(0.0)
    # nulls and NaN are ignored: pop mean of (1, 3, 5) = 3; seg 7 has only 1; seg 3 has 3, 5
    assert p.pop_mean[w] == pytest.approx(3.0)
    assert p.means[p.row(7), w] == pytest.approx(1.0)
    assert p.means[p.row(3), w] == pytest.approx(4.0)


def test_matches_numpy_reference(rng):
    n, f = 500, 4
    x = rng.normal(size=(n, f)) * [1, 10, 100, 0.1] + [0, 5, 50, 1]
    seg = rng.integers(0, 5, size=n)
    df = pl.DataFrame({f"f{i}": x[:, i] for i in range(f)})
    p = profile_segments(df, seg, revenue_col=None)
    assert p.revenue_shares is None
    for r, s in enumerate(p.segment_ids):
        m = x[seg == s].mean(0)
        np.testing.assert_allclose(p.means[r], m)
        np.testing.assert_allclose(p.medians[r], np.median(x[seg == s], axis=0))
        np.testing.assert_allclose(p.std_diff[r], (m - x.mean(0)) / x.std(0))
        ratio_scale = (x.min(0) >= 0) & (x.mean(0) >= 0.2 * x.std(0))
        want = np.where(ratio_scale, 100 * m / x.mean(0), np.nan)
        np.testing.assert_allclose(p.index[r], want)
    assert ratio_scale.tolist() == [False, False, False, True]


def test_top_features_order(tiny):
    df, seg = tiny
    p = profile_segments(df, seg)
    top = p.top_features(7, 2)
    assert len(top) == 2
    r = p.row(7)
    mags = sorted((abs(v) for v in p.std_diff[r] if np.isfinite(v)), reverse=True)
    assert [abs(d) for _, d in top] == pytest.approx(mags[:2])


def test_frames_and_dict(tiny):
    df, seg = tiny
    p = profile_segments(df, seg)
    long = p.to_frame()
    assert long.height == 2 * 5
    d = p.to_dict()
    assert d["segments"][0]["segment_id"] == 3
    assert d["segments"][1]["index"]["centered"] is None  # NaN written as None


def test_length_mismatch_is_user_error(tiny):
    df, _ = tiny
    with pytest.raises(UserError, match="segment ids"):
        profile_segments(df, [1, 2])


def test_undefined_values_are_left_out_and_counted():
    # interpurchase statistics need 3 purchase days; the rest hold the fill value
    df = pl.DataFrame(
        {
            "frequency": [1.0, 2.0, 3.0, 5.0, 0.0, 4.0],
            "purchases": [1.0, 2.0, 3.0, 6.0, 0.0, 4.0],
            "interpurchase_cv": [1.0, 0.0, 0.4, 0.8, 1.0, 0.6],
            "discount_share": [1.0, 0.5, 0.0, 0.2, 0.0, 0.25],
        }
    )
    seg = np.array([0, 0, 0, 1, 1, 1])
    p = profile_segments(df, seg, revenue_col=None)
    j = p.feature("interpurchase_cv")
    assert p.n_defined[:, j].tolist() == [1, 2] and p.pop_n_defined[j] == 3
    assert p.means[0, j] == pytest.approx(0.4)  # only the customer with 3 purchase days
    assert p.means[1, j] == pytest.approx(0.7)
    assert p.pop_mean[j] == pytest.approx(np.mean([0.4, 0.8, 0.6]))
    k = p.feature("discount_share")  # defined for buyers: the non-buyer's 0 is not a fact
    assert p.n_defined[:, k].tolist() == [3, 2]
    assert p.means[1, k] == pytest.approx(0.225)
    assert p.defined_for["discount_share"] == "buyers"


def test_no_revenue_shares_without_money():
    df = pl.DataFrame({"total_spend": [0.0, 0.0, 0.0], "frequency": [1.0, 2.0, 3.0]})
    p = profile_segments(df, np.array([0, 1, 1]))
    assert p.revenue_shares is None and not p.has_money
    assert not p.visible("total_spend")


def test_index_near_zero_mean_is_a_difference_not_a_ratio():
    # the activity_trend: population mean ~0, a segment far above average
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(-0.001, 0.01, 900), rng.normal(0.03, 0.01, 100)])
    p = profile_segments(pl.DataFrame({"activity_trend": x}), np.repeat([0, 1], [900, 100]))
    assert np.isnan(p.index).all()
    assert p.std_diff[p.row(1), 0] > 2


@pytest.mark.parametrize("seed", range(25))
def test_index_never_contradicts_the_standardized_difference(seed):
    rng = np.random.default_rng(seed)
    n, f = 400, 6
    loc = rng.choice([-5.0, -0.01, 0.0, 0.001, 0.3, 50.0], size=f)
    scale = rng.choice([0.001, 0.1, 1.0, 30.0], size=f)
    x = rng.normal(size=(n, f)) * scale + loc
    x[:, 0] = np.abs(x[:, 0])  # a ratio-scale column with a mean near 0
    x[:, 1] = rng.poisson(0.05, n)  # a rare count
    seg = rng.integers(0, 7, size=n)
    p = profile_segments(pl.DataFrame({f"c{i}": x[:, i] for i in range(f)}), seg)
    fin = np.isfinite(p.index)
    above = p.index[fin] - 100.0
    sd = p.std_diff[fin]
    assert np.all((above > 0) == (sd > 0)) and np.all((above < 0) == (sd < 0))
    # and where an index is shown the population mean is clearly above 0
    cols = np.flatnonzero(np.isfinite(p.index).any(axis=0))
    assert np.all(p.pop_mean[cols] >= 0.2 * p.pop_std[cols])
    assert np.all(p.pop_mean[cols] > 0)


def test_time_of_day_only_when_the_log_has_times():
    hours = np.array([23.0, 22.5, 23.5, 14.0, 15.0, 13.0])
    ang = 2 * np.pi * hours / 24
    df = pl.DataFrame({"hour_sin": np.sin(ang), "hour_cos": np.cos(ang), "frequency": [1.0] * 6})
    p = profile_segments(df, np.array([0, 0, 0, 1, 1, 1]))
    assert p.hour[0] == pytest.approx(23.0, abs=0.05) and p.hour[1] == pytest.approx(14.0, abs=0.05)
    assert not p.visible("hour_sin")  # shown in words, never as sin/cos
    # dates without times: every event at midnight says nothing about the hour
    midnight = df.with_columns(pl.lit(0.0).alias("hour_sin"), pl.lit(1.0).alias("hour_cos"))
    assert profile_segments(midnight, np.array([0, 0, 0, 1, 1, 1])).hour is None
