"""Polars features agree with the independent DuckDB SQL peer on the same Parquet."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from archetype.events import EventsConfig
from archetype.features import compute_features
from archetype.features.testing import random_events

duckdb = pytest.importorskip("duckdb")


@pytest.mark.parametrize("window_days", [None, 60])
def test_duckdb_agrees_with_polars(tmp_path, window_days):
    from archetype.bench.duckdb_features import duckdb_features

    log = random_events(8000, 400, seed=21, start=dt.date(2025, 7, 1), days=240)
    log = log.vstack(log.head(50))  # exact duplicates: both must drop them (--dedupe exact)
    log.write_parquet(tmp_path / "ev.parquet")
    as_of = dt.date(2026, 1, 31)
    ours, facts = compute_features(
        tmp_path / "ev.parquet", as_of, window_days=window_days,
        events_config=EventsConfig(dedupe="exact"),
    )
    peer = duckdb_features(
        tmp_path / "ev.parquet", as_of, channels=facts["channels"], window_days=window_days,
        dedupe="exact",
    )
    lo = (
        dt.datetime(2000, 1, 1)
        if window_days is None
        else dt.datetime(2026, 1, 31) - dt.timedelta(days=window_days - 1)
    )
    dups = log.head(50).filter(
        (log.head(50)["ts"] >= lo) & (log.head(50)["ts"] < dt.datetime(2026, 2, 1))
    )
    assert facts["report"]["duplicate_events"] == dups.height > 0
    assert peer.columns == ours.columns
    assert peer.height == ours.height
    assert peer["customer_id"].to_list() == ours["customer_id"].to_list()
    from polars.testing import assert_frame_equal

    assert_frame_equal(ours, peer, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("with_event_id", [False, True])
def test_duckdb_agrees_on_the_default_duplicate_rules(tmp_path, with_event_id):
    """No event id: every row counts (both sides); an event id: first row per id."""
    from polars.testing import assert_frame_equal

    from archetype.bench.duckdb_features import duckdb_features

    log = random_events(6000, 300, seed=5, start=dt.date(2025, 9, 1), days=150)
    if with_event_id:
        log = log.with_columns(pl.format("e{}", pl.int_range(pl.len())).alias("event_id"))
        retry = log.head(40).with_columns(pl.col("ts") + pl.duration(seconds=5))  # later copy
        log = pl.concat([log, retry])
    else:
        log = log.vstack(log.head(40))  # repeats: kept without an event id
    log.write_parquet(tmp_path / "ev.parquet")
    as_of = dt.date(2026, 1, 31)
    ours, facts = compute_features(tmp_path / "ev.parquet", as_of)
    peer = duckdb_features(tmp_path / "ev.parquet", as_of, channels=facts["channels"])
    rep = facts["report"]
    if with_event_id:
        assert rep["dedupe"] == "event_id" and rep["duplicate_events"] == 40
    else:
        assert rep["dedupe"] == "none" and rep["identical_rows"] == 40
        assert rep["duplicate_events"] == 0
    assert_frame_equal(ours, peer, rel_tol=1e-9, abs_tol=1e-9)
