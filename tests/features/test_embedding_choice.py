"""Which raw features the embedding keeps: constant, never-defined and duplicate columns
are left out, recorded in transform.json, and a re-applied transform keeps that choice."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from archetype.features import (
    FeatureConfig,
    FeatureTransform,
    build_features,
    compute_feature_dir,
    load_feature_dir,
)
from archetype.features.spec import defined_expr, defined_masks, parse_defined_when
from archetype.features.testing import random_events

AS_OF = dt.date(2026, 6, 30)


def _frame(rng, n=400) -> pl.DataFrame:
    f = rng.integers(0, 6, n).astype(float)
    return pl.DataFrame(
        {
            "customer_id": np.arange(n),
            "frequency": f,
            "purchases": f * 1.0,  # an exact duplicate of frequency
            "views_per_week": np.zeros(n),  # nobody viewed: lead time never defined
            "lead_time_hours": rng.uniform(0, 50, n),  # (a fill that varies, for the test)
            "referrals": np.zeros(n),  # constant
            "weekend_share": rng.uniform(0, 1, n),
        }
    )


def test_constant_never_defined_and_duplicates_are_dropped_and_recorded(rng):
    df = _frame(rng)
    t = FeatureTransform.fit(df, FeatureConfig(winsorize=None))
    reasons = {d["feature"]: d["reason"] for d in t.dropped}
    assert set(reasons) == {"purchases", "lead_time_hours", "referrals", "views_per_week"}
    assert reasons["purchases"].startswith("duplicate of frequency (r = 1.000")
    # not constant, but never defined: the fill alone must not shape segments
    assert reasons["lead_time_hours"].startswith("never defined: no buyers with views")
    assert reasons["referrals"].startswith("constant: 0")
    assert t.feature_names == ["frequency", "weekend_share"]
    assert t.transform(df).shape == (df.height, 2)


def test_views_all_zero_is_constant_not_a_dimension(rng):
    t = FeatureTransform.fit(_frame(rng), FeatureConfig(winsorize=None))
    assert "views_per_week" in t.dropped_names


def test_max_correlation_none_keeps_duplicates(rng):
    t = FeatureTransform.fit(_frame(rng), FeatureConfig(winsorize=None, max_correlation=None))
    assert "purchases" in t.feature_names


def test_nothing_dropped_when_everything_is_constant():
    df = pl.DataFrame({"customer_id": [1, 2], "frequency": [1.0, 1.0], "referrals": [0.0, 0.0]})
    t = FeatureTransform.fit(df, FeatureConfig(winsorize=None))
    assert t.feature_names == ["frequency", "referrals"] and t.dropped == []


def test_rare_feature_is_constant_after_winsorizing(rng):
    n = 1000
    df = pl.DataFrame(
        {
            "customer_id": np.arange(n),
            "frequency": rng.integers(1, 9, n).astype(float),
            "referrals": np.where(np.arange(n) < 5, 3.0, 0.0),  # 0.5% non-zero
        }
    )
    t = FeatureTransform.fit(df, FeatureConfig(winsorize=(0.01, 0.99)))
    assert t.dropped_names == ["referrals"]


def test_transaction_only_log_has_no_constant_dimensions(tmp_path):
    log = random_events(6000, 300, seed=4, start=dt.date(2026, 1, 1), days=180)
    tx = log.filter(pl.col("event_type") == "purchase").drop("event_type", "channel", "category")
    tx.write_parquet(tmp_path / "tx.parquet")
    fs = compute_feature_dir(tmp_path / "tx.parquet", AS_OF, tmp_path / "f")
    emb = np.asarray(fs.embedding)
    assert emb.shape[1] == len(fs.feature_names)
    assert (emb.std(axis=0) > 0).all()
    for gone in ("views_per_week", "email_opens_per_week", "lead_time_hours", "carts_per_week"):
        assert gone in fs.transform.dropped_names
    # features.parquet keeps every raw feature (profiles read it)
    assert "views_per_week" in fs.features.columns


def test_reapplied_transform_keeps_the_choice_and_old_files_load(tmp_path, rng):
    df = _frame(rng)
    t = FeatureTransform.fit(df, FeatureConfig(winsorize=None))
    d = json.loads(json.dumps(t.to_dict()))
    again = FeatureTransform.from_dict(d)
    assert again.dropped == t.dropped and again.feature_names == t.feature_names
    # next night: referrals is no longer constant, but the saved choice holds
    df2 = df.with_columns(pl.Series("referrals", rng.integers(0, 3, df.height).astype(float)))
    assert again.transform(df2).tobytes() == t.transform(df2).tobytes()
    assert again.transform(df2).shape[1] == len(t.feature_names)
    # a transform.json written before the record existed still loads (nothing dropped)
    old = {k: v for k, v in d.items() if k != "dropped"}
    assert FeatureTransform.from_dict(old).dropped == []


def test_feature_dir_reapply_keeps_dropped_columns(tmp_path):
    log = random_events(4000, 200, seed=5, start=dt.date(2026, 1, 1), days=180)
    log.write_parquet(tmp_path / "ev.parquet")
    fs = compute_feature_dir(tmp_path / "ev.parquet", AS_OF, tmp_path / "f1")
    assert fs.transform.dropped_names  # the random log has empty occasion windows
    loaded = load_feature_dir(tmp_path / "f1")
    again = compute_feature_dir(
        tmp_path / "ev.parquet", AS_OF, tmp_path / "f2", transform=loaded.transform
    )
    assert again.transform.to_dict() == loaded.transform.to_dict()
    assert set(fs.transform.dropped_names) <= set(again.features.columns)
    assert again.embedding.shape == fs.embedding.shape


def test_defined_when_parsing_and_masks():
    assert parse_defined_when("a > 0 and b >= 3 or c != 1") == [
        [("a", ">", 0.0), ("b", ">=", 3.0)],
        [("c", "!=", 1.0)],
    ]
    with pytest.raises(ValueError):
        parse_defined_when("a >> 0")
    df = pl.DataFrame({"frequency": [0.0, 1, 3, 5], "purchases": [0.0, 1, 4, 5]})
    assert defined_expr("", df.columns) is None
    assert defined_expr("views_per_week > 0", df.columns) is None  # unknown column: soft
    specs = build_features(
        random_events(300, 20, seed=1, start=dt.date(2026, 1, 1), days=90).lazy(), AS_OF
    )
    from archetype.features.catalog import specs_for_names

    names = [c for c in specs.columns if c != "customer_id"]
    masks = defined_masks(specs, specs_for_names(names))
    f = specs["frequency"].to_numpy()
    np.testing.assert_array_equal(masks["interpurchase_cv"], f >= 3)
    np.testing.assert_array_equal(masks["recency_days"], f > 0)
    assert "frequency" not in masks  # always defined
