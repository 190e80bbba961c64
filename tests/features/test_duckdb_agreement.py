"""Polars features agree with the independent DuckDB SQL peer on the same Parquet."""

from __future__ import annotations

import datetime as dt

import pytest

from archetype.features import compute_features
from archetype.features.testing import random_events

duckdb = pytest.importorskip("duckdb")


@pytest.mark.parametrize("window_days", [None, 60])
def test_duckdb_agrees_with_polars(tmp_path, window_days):
    from archetype.bench.duckdb_features import duckdb_features

    log = random_events(8000, 400, seed=21, start=dt.date(2025, 7, 1), days=240)
    log = log.vstack(log.head(50))  # exact duplicates: both must drop them
    log.write_parquet(tmp_path / "ev.parquet")
    as_of = dt.date(2026, 1, 31)
    ours, facts = compute_features(tmp_path / "ev.parquet", as_of, window_days=window_days)
    peer = duckdb_features(
        tmp_path / "ev.parquet", as_of, channels=facts["channels"], window_days=window_days
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
