"""Fixtures for the synth tests: a small generated log and an independent feature reference.

The reference features here are computed with plain Polars/NumPy from the event files,
independently of ``archetype.features`` (built by another layer), so the synth tests
check the planted signatures without trusting the code under test.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from archetype.synth import generate

SMALL = {"customers": 3000, "days": 365, "seed": 7, "block_size": 1000}


@pytest.fixture(scope="session")
def read_events():
    """``read_events(out_dir) -> DataFrame``: every event file of a synth output, sorted."""
    return _read_events


@pytest.fixture(scope="session")
def features_of():
    """``features_of(events, as_of) -> DataFrame``: the independent reference features."""
    return reference_features


@pytest.fixture(scope="session")
def cluster_matrix_of():
    """``cluster_matrix_of(features) -> ndarray``: standardized reference features."""
    return cluster_matrix


@pytest.fixture(scope="session")
def small_log(tmp_path_factory) -> Path:
    """A 3,000-customer, 365-day log shared by the read-only tests."""
    out = tmp_path_factory.mktemp("synth") / "small"
    generate(out, **SMALL)
    return out


@pytest.fixture(scope="session")
def small_events(small_log: Path) -> pl.DataFrame:
    return _read_events(small_log)


@pytest.fixture(scope="session")
def small_truth(small_log: Path) -> pl.DataFrame:
    return pl.read_parquet(small_log / "truth.parquet")


@pytest.fixture(scope="session")
def small_features(small_events: pl.DataFrame, small_truth: pl.DataFrame) -> pl.DataFrame:
    as_of = dt.date(2026, 12, 31)
    return reference_features(small_events, as_of).join(small_truth, on="customer_id")


def _read_events(out: Path) -> pl.DataFrame:
    """All event files of a synth output (without the hive ``date`` column), sorted."""
    files = sorted((out / "events").rglob("*.parquet"))
    frame = pl.concat([pl.read_parquet(f) for f in files])
    return frame.sort("customer_id", "ts", "event_type", "amount", nulls_last=True)


def reference_features(ev: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Behavioral features per customer, the plain way (one row per customer with events)."""
    end = pl.lit(dt.datetime.combine(as_of, dt.time()) + dt.timedelta(days=1))
    et = pl.col("event_type")
    buy = (et == "purchase") & (pl.col("amount") > 0)
    ret = (et == "purchase") & (pl.col("amount") < 0)
    day = pl.col("ts").dt.date()
    month_day = pl.col("ts").dt.month().cast(pl.Int32) * 100 + pl.col("ts").dt.day()
    occasion = (
        month_day.is_between(1123, 1130) | month_day.is_between(1201, 1224)
        | month_day.is_between(801, 907)
    )
    ev = ev.sort("customer_id", "ts").with_columns(
        # purchase-journey group: events up to and including the next purchase
        grp=(buy.cast(pl.Int32).cum_sum().over("customer_id") - buy.cast(pl.Int32)),
    )
    first_view = (
        ev.filter(et == "view").group_by("customer_id", "grp").agg(fv=pl.col("ts").min())
    )
    lead = (
        ev.filter(buy).join(first_view, on=["customer_id", "grp"], how="left")
        .with_columns(h=(pl.col("ts") - pl.col("fv")).dt.total_seconds() / 3600.0)
        .filter(pl.col("h") <= 14 * 24)
        .group_by("customer_id").agg(lead_h=pl.col("h").median())
    )
    buys = ev.filter(buy)
    ipi = (
        buys.group_by("customer_id", maintain_order=True)
        .agg(d=day.unique().sort().diff().dt.total_days().drop_nulls())
        .with_columns(
            ipi_mean=pl.col("d").list.mean(),
            ipi_cv=pl.col("d").list.std() / pl.col("d").list.mean(),
        ).drop("d")
    )
    cat_counts = (
        ev.filter(pl.col("category").is_not_null()).group_by("customer_id", "category").len()
        .with_columns(p=pl.col("len") / pl.col("len").sum().over("customer_id"))
        .group_by("customer_id")
        .agg(cat_entropy=-(pl.col("p") * pl.col("p").log()).sum(), top_cat=pl.col("p").max())
    )
    weeks = pl.max_horizontal((end - pl.col("ts").min()).dt.total_days() / 7.0, 1.0)
    n = lambda cond: cond.cast(pl.Float64).sum()  # noqa: E731
    hour = pl.col("ts").dt.hour().cast(pl.Float64) * (2 * np.pi / 24)
    act = et.is_in(["session_start", "purchase"])
    base = ev.group_by("customer_id").agg(
        tenure_days=(end - pl.col("ts").min()).dt.total_days(),
        recency_days=(end - pl.col("ts").filter(buy).max()).dt.total_days(),
        frequency=day.filter(buy).n_unique(),
        total_spend=pl.col("amount").filter(buy).sum(),
        aov=pl.col("amount").filter(buy).mean(),
        active_days_wk=day.n_unique() / weeks,
        sessions_wk=n(et == "session_start") / weeks,
        recent30=n(pl.col("ts") >= end - pl.duration(days=30)),
        prior90=n((pl.col("ts") < end - pl.duration(days=30))
                  & (pl.col("ts") >= end - pl.duration(days=120))),
        views=n(et == "view"),
        carts=n(et == "add_to_cart"),
        purchases=n(buy),
        returns=n(ret),
        discounted=n(buy & (pl.col("discount") > 0)),
        occasion=n(buy & occasion),
        weekend=n(act & (pl.col("ts").dt.weekday() >= 6)),
        acts=n(act),
        hour_sin=hour.filter(act).sin().mean(),
        hour_cos=hour.filter(act).cos().mean(),
        referrals=n(et == "referral"),
        opens=n(et == "email_open"),
        clicks=n(et == "email_click"),
        ads=n(et == "ad_click"),
        ch_app=n(pl.col("channel") == "app") / pl.len(),
        ch_store=n(pl.col("channel") == "store") / pl.len(),
        ch_social=n(pl.col("channel") == "social") / pl.len(),
        ch_email=n(pl.col("channel") == "email") / pl.len(),
        weeks=weeks,
    )
    per = lambda a, b: pl.col(a) / pl.max_horizontal(pl.col(b), 1.0)  # noqa: E731
    feats = base.with_columns(
        trend=pl.col("recent30") / (pl.col("prior90") / 3.0 + 1.0),
        cart_abandon=1.0 - pl.min_horizontal(per("purchases", "carts"), 1.0),
        conversion=per("purchases", "views"),
        discount_share=per("discounted", "purchases"),
        return_rate=per("returns", "purchases"),
        occasion_share=per("occasion", "purchases"),
        weekend_share=per("weekend", "acts"),
        repeat=(pl.col("frequency") >= 2).cast(pl.Float64),
        opens_wk=pl.col("opens") / pl.col("weeks"),
        click_rate=per("clicks", "opens"),
        ads_wk=pl.col("ads") / pl.col("weeks"),
        referrals_yr=pl.col("referrals") / pl.col("weeks") * 52,
        views_wk=pl.col("views") / pl.col("weeks"),
        carts_wk=pl.col("carts") / pl.col("weeks"),
        purchases_wk=pl.col("purchases") / pl.col("weeks"),
    )
    return (
        feats.join(lead, on="customer_id", how="left")
        .join(ipi, on="customer_id", how="left")
        .join(cat_counts, on="customer_id", how="left")
        .sort("customer_id")
    )


#: Reference features used for the recoverability check, and whether to log1p them.
CLUSTER_FEATURES = {
    "frequency": True, "recency_days": True, "total_spend": True, "aov": True,
    "tenure_days": True, "active_days_wk": True, "sessions_wk": True, "trend": True,
    "cart_abandon": False, "conversion": False, "discount_share": False,
    "return_rate": False, "lead_h": True, "ipi_mean": True, "ipi_cv": False,
    "occasion_share": False, "weekend_share": False, "hour_sin": False, "hour_cos": False,
    "referrals_yr": True, "repeat": False, "opens_wk": True, "click_rate": False,
    "ads_wk": True, "ch_app": False, "ch_store": False, "ch_social": False, "ch_email": False,
    "cat_entropy": False, "top_cat": False, "views_wk": True, "carts_wk": True,
    "purchases_wk": True,
}


def cluster_matrix(feats: pl.DataFrame, days: int = 365) -> np.ndarray:
    """Standardized matrix of :data:`CLUSTER_FEATURES` (no-purchase values filled)."""
    fill = {"recency_days": float(days), "lead_h": 0.0, "ipi_mean": float(days), "ipi_cv": 0.0}
    cols = []
    for name, log in CLUSTER_FEATURES.items():
        x = feats[name].cast(pl.Float64).fill_nan(None).fill_null(fill.get(name, 0.0)).to_numpy()
        x = np.log1p(np.maximum(x, 0.0)) if log else x
        lo, hi = np.quantile(x, [0.01, 0.99])
        x = np.clip(x, lo, hi)
        sd = x.std()
        cols.append((x - x.mean()) / (sd if sd > 0 else 1.0))
    return np.column_stack(cols)
