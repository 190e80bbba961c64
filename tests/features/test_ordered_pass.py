"""The ordered single pass (sort, order flags, packed keys, run-based dedup) against
plain references: ties at the same instant, exact duplicates that are not adjacent,
string ids, timestamps before 1970, and the in-memory path vs the lazy path."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from tests.features.conftest import lead_times_hours

from archetype.events import EventsConfig
from archetype.features import FeatureConfig, build_features, compute_features
from archetype.features.base import (
    COLUMNS,
    drop_duplicates,
    month_day,
    sort_events,
    sort_frame,
)
from archetype.features.testing import random_events

AS_OF = dt.date(2026, 6, 30)
EXACT = EventsConfig(dedupe="exact")  # these tests exercise the run-based exact dedup


@pytest.fixture(scope="module")
def coarse_log() -> pl.DataFrame:
    """Timestamps truncated to the hour (many same-instant view/purchase ties), plus exact
    duplicates appended at the end (so they are far from their originals in file order)."""
    log = random_events(5000, 150, seed=11, start=dt.date(2026, 1, 1), days=180)
    log = log.with_columns(pl.col("ts").dt.truncate("1h"))
    return pl.concat([log, log.sample(300, seed=3)])


def _reference(log: pl.DataFrame) -> dict:
    """Frequency, active days, gaps and lead time with dicts and loops (unique rows)."""
    by = defaultdict(list)
    for r in log.unique().iter_rows(named=True):
        by[r["customer_id"]].append(r)
    out = {}
    for cid, rows in by.items():
        buys = [r for r in rows if r["event_type"] == "purchase" and r["amount"] >= 0]
        days = sorted({r["ts"].date() for r in buys})
        gaps = [(b - a).days for a, b in zip(days, days[1:], strict=False)]
        leads = lead_times_hours(rows, buys)
        out[cid] = {
            "frequency": len(days),
            "active_days": len({r["ts"].date() for r in rows}),
            "interpurchase_mean_days": sum(gaps) / len(gaps) if gaps else None,
            "lead_time_hours": statistics.median(leads) if leads else 0.0,
            "events": len(rows),
        }
    return out


def test_ties_and_scattered_duplicates_match_reference(tmp_path, coarse_log):
    coarse_log.write_parquet(tmp_path / "ev.parquet")
    df, facts = compute_features(tmp_path / "ev.parquet", AS_OF, events_config=EXACT)
    ref = _reference(coarse_log)
    n_unique = coarse_log.unique().height
    assert facts["report"]["duplicate_events"] == coarse_log.height - n_unique > 0
    rows = {r["customer_id"]: r for r in df.iter_rows(named=True)}
    assert set(rows) == set(ref)
    for cid, r in ref.items():
        f = rows[cid]
        assert f["frequency"] == r["frequency"]
        assert f["lead_time_hours"] == pytest.approx(r["lead_time_hours"], rel=1e-12, abs=1e-12)
        if r["interpurchase_mean_days"] is not None:
            assert f["interpurchase_mean_days"] == pytest.approx(r["interpurchase_mean_days"])
        weeks = max(f["tenure_days"] + 1.0, 7.0) / 7.0
        assert f["active_days_per_week"] == pytest.approx(r["active_days"] / weeks)


def test_in_memory_path_equals_lazy_path(tmp_path, coarse_log):
    coarse_log.write_parquet(tmp_path / "ev.parquet")
    fast, facts = compute_features(tmp_path / "ev.parquet", AS_OF, events_config=EXACT)
    lazy = build_features(coarse_log.unique().lazy(), AS_OF, channels=facts["channels"])
    assert_frame_equal(fast, lazy, rel_tol=1e-12, abs_tol=1e-12)


def test_partitions_with_duplicates_equal_one_pass(tmp_path, coarse_log):
    coarse_log.write_parquet(tmp_path / "ev.parquet")
    one, f1 = compute_features(tmp_path / "ev.parquet", AS_OF, events_config=EXACT)
    many, f4 = compute_features(
        tmp_path / "ev.parquet", AS_OF, config=FeatureConfig(partition_rows=1500),
        events_config=EXACT,
    )
    assert f4["partitions"] == 4
    assert f4["channels"] == f1["channels"]
    assert f4["report"] == f1["report"]
    assert_frame_equal(one, many, rel_tol=1e-12, abs_tol=1e-12)


def test_string_ids_give_the_same_features(tmp_path, coarse_log):
    coarse_log.write_parquet(tmp_path / "int.parquet")
    as_str = coarse_log.with_columns(pl.format("c{}", pl.col("customer_id")).alias("customer_id"))
    as_str.write_parquet(tmp_path / "str.parquet")
    a, _ = compute_features(tmp_path / "int.parquet", AS_OF)
    b, _ = compute_features(tmp_path / "str.parquet", AS_OF)
    a = a.with_columns(pl.format("c{}", pl.col("customer_id")).alias("customer_id"))
    assert_frame_equal(a.sort("customer_id"), b.sort("customer_id"), rel_tol=1e-12, abs_tol=1e-12)


def test_packed_sort_equals_three_key_sort(coarse_log):
    fast = sort_frame(coarse_log)
    slow = sort_events(coarse_log.lazy()).collect()
    keys = ["customer_id", "ts", "_p"]
    assert fast.select(keys).equals(slow.select(keys))
    # ties broken purchase-last; negative ids and pre-1970 times pack exactly too
    odd = coarse_log.head(500).with_columns(
        -pl.col("customer_id") * 1_000_003, pl.col("ts") - pl.duration(days=30_000)
    )
    assert sort_frame(odd).select(keys).equals(odd.pipe(_with_p).sort(keys).select(keys))


def _with_p(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        ((pl.col("event_type") == "purchase") & (pl.col("amount") >= 0)).alias("_p")
    )


def test_drop_duplicates_finds_non_adjacent_copies():
    t = dt.datetime(2026, 3, 1, 10)
    rows = [
        (1, t, "view", 0.0, 1, 0.0, "web", "a"),
        (1, t, "view", 0.0, 1, 0.0, "app", "a"),  # same instant, differs in channel
        (1, t, "view", 0.0, 1, 0.0, "web", "a"),  # copy of the first, not adjacent
        (1, t, "view", 0.0, 2, 0.0, "web", "a"),  # differs only in quantity: kept
        (1, t, "view", 0.0, 1, 0.0, None, None),
        (1, t, "view", 0.0, 1, 0.0, None, None),  # null-equal copy
        (2, t, "view", 0.0, 1, 0.0, "web", "a"),  # other customer: kept
    ]
    df = pl.DataFrame(rows, schema=list(COLUMNS), orient="row")
    out = drop_duplicates(sort_frame(df))
    assert out.height == 5
    assert out.select(COLUMNS).unique().height == 5


def test_month_day_and_weekday_match_calendar():
    days = pl.Series("d", np.arange(-30_000, 40_000, 7, dtype=np.int32))
    df = pl.DataFrame({"d": days}).with_columns(date=pl.col("d").cast(pl.Date))
    got = df.select(month_day(pl.col("d"))).to_series().to_list()
    want = [d.month * 100 + d.day for d in df["date"].to_list()]
    assert got == want


def test_hour_profile_before_1970():
    ts = [dt.datetime(1969, 12, 31, 23, 30, 15), dt.datetime(1969, 7, 4, 6, 0, 59, 999_999)]
    df = pl.DataFrame(
        {
            "customer_id": [1, 1],
            "ts": ts,
            "event_type": ["view", "purchase"],
            "amount": [0.0, 5.0],
            "quantity": pl.Series([1, 1], dtype=pl.Int32),
            "discount": [0.0, 0.0],
            "channel": pl.Series([None, None], dtype=pl.String),
            "category": pl.Series([None, None], dtype=pl.String),
        }
    )
    out = build_features(df.lazy(), dt.date(1970, 1, 1)).row(0, named=True)
    ang = [2 * math.pi / 24 * (t.hour + t.minute / 60 + t.second / 3600) for t in ts]
    assert out["hour_sin"] == pytest.approx(sum(map(math.sin, ang)) / 2)
    assert out["hour_cos"] == pytest.approx(sum(map(math.cos, ang)) / 2)
    assert out["weekend_share"] == 0.0  # 1969-07-04 was a Friday
    assert out["tenure_days"] == (dt.date(1970, 1, 1) - dt.date(1969, 7, 4)).days


@pytest.mark.parametrize("partition_rows", [1_000_000, 1000])
def test_fused_counts_equal_read_events(tmp_path, coarse_log, partition_rows):
    from archetype.events import EventsConfig, read_events

    log = coarse_log.with_columns(
        pl.when(pl.int_range(pl.len()) % 97 == 0)
        .then(pl.lit("wishlist"))
        .otherwise(pl.col("event_type"))
        .alias("event_type"),
        pl.when(pl.int_range(pl.len()) % 89 == 0)
        .then(None)
        .otherwise(pl.col("customer_id"))
        .alias("customer_id"),
    )
    log.write_parquet(tmp_path / "ev.parquet")
    for ev_cfg in (EXACT, EventsConfig(dedupe="exact", event_types={"wishlist": "view"})):
        _, facts = compute_features(
            tmp_path / "ev.parquet",
            AS_OF,
            config=FeatureConfig(partition_rows=partition_rows),
            events_config=ev_cfg,
            window_days=120,
        )
        ref = read_events(tmp_path / "ev.parquet", ev_cfg, as_of=AS_OF, window_days=120).report
        got = dict(facts["report"])
        assert got.pop("duplicate_events") > 0
        assert got.pop("identical_rows") is None  # dropped (exact), not counted as kept
        want = ref.to_dict()
        want.pop("duplicate_events"), want.pop("identical_rows")
        assert got == want
        assert want["null_customer_ids"] > 0 and want["before_window"] > 0
        if ev_cfg.event_types:
            assert want["unknown_event_types"] == 0
        else:
            assert want["unknown_event_types"] > 0
            assert want["unknown_event_values"] == ["wishlist"]


def test_customer_slices_cut_between_customers(coarse_log):
    from archetype.features.featureset import customer_slices

    srt = sort_frame(coarse_log)
    for k in (1, 2, 3, 7, 500):
        sl = customer_slices(srt, k)
        assert sum(s.height for s in sl) == srt.height
        assert pl.concat(sl).equals(srt)
        ids = [set(s["customer_id"].to_list()) for s in sl]
        assert all(a.isdisjoint(b) for i, a in enumerate(ids) for b in ids[i + 1 :])
