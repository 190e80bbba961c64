"""Duplicates the way event pipelines handle them: retries of one event id collapse (first by
time, then file order); without an id every row is kept and identical rows are counted and
warned about; ``--dedupe exact`` drops rows identical in every source column, never rows
that differ in any column."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest

from archetype.errors import UserError
from archetype.events import EventsConfig, read_events
from archetype.features import compute_features
from archetype.features.base import drop_duplicates, sort_frame

AS_OF = dt.date(2026, 3, 31)
T = dt.datetime(2026, 3, 10, 12, 0, 0)


def _write(tmp_path, rows: list[dict], name="ev.parquet") -> str:
    p = tmp_path / name
    pl.DataFrame(rows).write_parquet(p)
    return str(p)


def test_event_id_retries_collapse_to_the_first(tmp_path):
    rows = [
        {"customer_id": 1, "ts": T, "event_type": "purchase", "amount": 10.0, "event_id": "e1"},
        # a retry arriving later with a different amount: the first (by time) is kept
        {
            "customer_id": 1,
            "ts": T + dt.timedelta(seconds=30),
            "event_type": "purchase",
            "amount": 99.0,
            "event_id": "e1",
        },
        {"customer_id": 1, "ts": T, "event_type": "purchase", "amount": 10.0, "event_id": "e2"},
        {"customer_id": 2, "ts": T, "event_type": "purchase", "amount": 5.0, "event_id": "e1"},
        {"customer_id": 2, "ts": T, "event_type": "view", "amount": 0.0, "event_id": None},
        {"customer_id": 2, "ts": T, "event_type": "view", "amount": 0.0, "event_id": None},
    ]
    path = _write(tmp_path, rows)
    feats, facts = compute_features(path, T.date())  # one week observed: per week = count
    rep = facts["report"]
    assert rep["dedupe"] == "event_id"
    assert rep["duplicate_events"] == 1 and rep["identical_rows"] is None
    f = feats.sort("customer_id")
    assert f["total_spend"].to_list() == [20.0, 5.0]  # 10 + 10 (e1, e2); not 99
    assert f["views_per_week"].to_list()[1] == 2.0  # rows without an id are all kept
    lazy = read_events(path, as_of=AS_OF).lazy.collect().sort("customer_id", "ts")
    assert lazy.height == 5 and lazy["amount"].to_list()[:2] == [10.0, 10.0]


def test_event_id_ties_keep_file_order(tmp_path):
    rows = [
        {"customer_id": 7, "ts": T, "event_type": "purchase", "amount": a, "event_id": "x"}
        for a in (3.0, 4.0, 5.0)
    ]
    feats, _ = compute_features(_write(tmp_path, rows), AS_OF)
    assert feats["total_spend"].to_list() == [3.0]


def test_mapped_and_composite_event_ids(tmp_path):
    """An order-lines table: order_id alone would merge lines; (order_id, line) does not."""
    rows = [
        {"buyer": "a", "at": T, "order_id": 1, "line": 1, "price": 4.0},
        {"buyer": "a", "at": T, "order_id": 1, "line": 2, "price": 6.0},
        {"buyer": "a", "at": T, "order_id": 1, "line": 2, "price": 6.0},  # re-delivered line
    ]
    path = _write(tmp_path, rows)
    cols = {"customer_id": "buyer", "ts": "at", "amount": "price"}
    by_order = EventsConfig(columns={**cols, "event_id": "order_id"})
    by_line = EventsConfig(columns={**cols, "event_id": ["order_id", "line"]})
    f1, r1 = compute_features(path, AS_OF, events_config=by_order)
    f2, r2 = compute_features(path, AS_OF, events_config=by_line)
    assert (f1["total_spend"].item(), r1["report"]["duplicate_events"]) == (4.0, 2)
    assert (f2["total_spend"].item(), r2["report"]["duplicate_events"]) == (10.0, 1)


def test_without_an_event_id_distinct_rows_are_all_kept(tmp_path):
    """Two items rated in the same second differ only in an unmapped column: both count."""
    rows = [
        {"customer_id": 1, "ts": T, "event_type": "view", "item_id": "i1"},
        {"customer_id": 1, "ts": T, "event_type": "view", "item_id": "i2"},
        {"customer_id": 1, "ts": T, "event_type": "view", "item_id": "i3"},
    ]
    feats, facts = compute_features(_write(tmp_path, rows), T.date())
    rep = facts["report"]
    assert rep["dedupe"] == "none"
    assert rep["duplicate_events"] == 0 and rep["identical_rows"] == 0
    assert rep["warnings"] == []
    assert feats["views_per_week"].item() == 3.0
    # --dedupe exact never drops rows that differ in any column
    _, facts = compute_features(
        _write(tmp_path, rows, "b.parquet"), AS_OF, events_config=EventsConfig(dedupe="exact")
    )
    assert facts["report"]["duplicate_events"] == 0


def test_identical_rows_are_kept_and_warned_about_or_dropped_on_request(tmp_path, caplog):
    rows = [
        {"customer_id": 1, "ts": T, "event_type": "purchase", "amount": 10.0, "note": "x"},
        {"customer_id": 1, "ts": T, "event_type": "purchase", "amount": 10.0, "note": "x"},
        {"customer_id": 1, "ts": T, "event_type": "purchase", "amount": 10.0, "note": "y"},
        {"customer_id": 2, "ts": T, "event_type": "purchase", "amount": 10.0, "note": "x"},
    ]
    path = _write(tmp_path, rows)
    with caplog.at_level("WARNING"):
        feats, facts = compute_features(path, AS_OF)
    rep = facts["report"]
    assert rep["identical_rows"] == 1 and rep["duplicate_events"] == 0
    assert "1 rows are identical to an earlier row in every column" in caplog.text
    assert "--dedupe exact" in rep["warnings"][0]
    assert feats.sort("customer_id")["total_spend"].to_list() == [30.0, 10.0]
    feats, facts = compute_features(path, AS_OF, events_config=EventsConfig(dedupe="exact"))
    assert facts["report"]["duplicate_events"] == 1
    assert feats.sort("customer_id")["total_spend"].to_list() == [20.0, 10.0]
    feats, facts = compute_features(path, AS_OF, events_config=EventsConfig(dedupe="none"))
    assert feats.sort("customer_id")["total_spend"].to_list() == [30.0, 10.0]


def test_same_canonical_values_from_different_source_text_are_not_identical(tmp_path):
    """The same instant written two ways is not an identical row (every column compared)."""
    pl.DataFrame(
        {
            "customer_id": ["a", "a"],
            "ts": ["2026-03-10T12:00:00Z", "2026-03-10T13:00:00+01:00"],
            "event_type": ["purchase", "purchase"],
            "amount": ["5", "5"],
        }
    ).write_csv(tmp_path / "e.csv")
    _, facts = compute_features(
        tmp_path / "e.csv", AS_OF, events_config=EventsConfig(dedupe="exact")
    )
    assert facts["report"]["duplicate_events"] == 0


def test_partitioned_build_counts_the_same(tmp_path):
    from archetype.features import FeatureConfig

    rng = random.Random(3)
    rows = []
    for _ in range(3000):
        c = rng.randrange(200)
        eid = f"e{rng.randrange(2500)}"  # many repeated ids, across customers too
        rows.append(
            {
                "customer_id": c,
                "ts": T + dt.timedelta(minutes=rng.randrange(5000)),
                "event_type": "purchase",
                "amount": float(rng.randrange(1, 50)),
                "event_id": eid,
            }
        )
    path = _write(tmp_path, rows)
    one, f1 = compute_features(path, AS_OF)
    many, f4 = compute_features(path, AS_OF, config=FeatureConfig(partition_rows=1000))
    assert f4["partitions"] == 3 and f1["report"] == f4["report"]
    assert f1["report"]["duplicate_events"] > 0
    from polars.testing import assert_frame_equal

    assert_frame_equal(one, many, rel_tol=1e-12, abs_tol=1e-12)


def test_event_id_rule_against_a_plain_reference():
    """Random ids with many repeats: the sorted-hash search equals dict bookkeeping."""
    rng = random.Random(11)
    rows = []
    for i in range(4000):
        rows.append(
            {
                "customer_id": rng.randrange(60),
                "ts": T + dt.timedelta(seconds=rng.randrange(300)),
                "event_type": rng.choice(["view", "purchase"]),
                "amount": float(i),  # unique: tells which row of a duplicate group was kept
                "quantity": 1,
                "discount": 0.0,
                "channel": None,
                "category": None,
                "event_id": None if rng.random() < 0.1 else f"id{rng.randrange(400)}",
            }
        )
    df = pl.DataFrame(rows, schema_overrides={"channel": pl.String, "category": pl.String})
    srt = sort_frame(df)  # the builder's order: customer, time, purchase-last
    kept = drop_duplicates(srt, "event_id")
    seen, want = set(), []
    for r in srt.iter_rows(named=True):
        key = (r["customer_id"], r["event_id"])
        if r["event_id"] is None or key not in seen:
            want.append(r["amount"])
        seen.add(key)
    assert kept["amount"].to_list() == want
    assert "event_id" not in kept.columns


def test_dedupe_event_id_requires_an_id(tmp_path):
    path = _write(tmp_path, [{"customer_id": 1, "ts": T}])
    with pytest.raises(UserError, match="needs an event id column.*--column event_id="):
        read_events(path, EventsConfig(dedupe="event-id"), as_of=AS_OF)
