"""``archetype features`` end to end: outputs, maps, point-in-time, and each bad input."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from archetype.cli.main import app
from archetype.features.testing import random_events

runner = CliRunner()


@pytest.fixture
def log_path(tmp_path):
    p = tmp_path / "ev.parquet"
    random_events(3000, 150, seed=11, start=dt.date(2026, 1, 1), days=120).write_parquet(p)
    return p


def _run(*args):
    return runner.invoke(app, ["features", *map(str, args), "--no-progress"])


def test_writes_feature_dir_and_summary(tmp_path, log_path):
    out = tmp_path / "feat"
    r = _run("--events", log_path, "--as-of", "2026-04-30", "--out", out, "--window-days", 90)
    assert r.exit_code == 0, r.output
    emb = np.load(out / "embedding.npy")
    ids = pl.read_parquet(out / "ids.parquet")
    text = " ".join(r.output.split())
    assert f"{ids.height} customers x {emb.shape[1]} dims" in text
    assert "validation:" in text and "730 before window" in text
    assert emb.dtype == np.float32 and emb.shape[0] == ids.height and np.isfinite(emb).all()
    man = json.loads((out / "manifest.json").read_text())
    assert man["window_days"] == 90 and man["as_of"] == "2026-04-30"
    assert man["report"]["rows_used"] + man["report"]["before_window"] + man["report"][
        "after_as_of"
    ] == 3000


def test_point_in_time_future_event_changes_nothing(tmp_path, log_path):
    base = pl.read_parquet(log_path)
    future = base.head(5).with_columns(
        pl.lit(dt.datetime(2026, 5, 1, 0, 0), dtype=pl.Datetime("us")).alias("ts"),
        pl.lit("purchase").alias("event_type"),
        pl.lit(1000.0).alias("amount"),
    )
    pl.concat([base, future]).write_parquet(tmp_path / "with_future.parquet")
    a, b = tmp_path / "a", tmp_path / "b"
    assert _run("--events", log_path, "--as-of", "2026-04-30", "--out", a).exit_code == 0
    r = _run("--events", tmp_path / "with_future.parquet", "--as-of", "2026-04-30", "--out", b)
    assert r.exit_code == 0, r.output
    fa, fb = pl.read_parquet(a / "features.parquet"), pl.read_parquet(b / "features.parquet")
    from polars.testing import assert_frame_equal

    assert_frame_equal(fa, fb, rel_tol=1e-12, abs_tol=1e-12)


def test_column_and_event_type_flags(tmp_path):
    pl.DataFrame(
        {
            "user_id": [1, 1, 2],
            "when": ["2026-03-01 10:00:00", "2026-03-02 10:00:00", "2026-03-02 11:00:00"],
            "action": ["pdp_view", "checkout_completed", "checkout_completed"],
            "value": [0.0, 20.0, 5.0],
        }
    ).write_csv(tmp_path / "e.csv")
    out = tmp_path / "f"
    r = _run(
        "--events", tmp_path / "e.csv", "--as-of", "2026-03-02", "--out", out,
        "--column", "customer_id=user_id", "--column", "ts=when", "--column", "event_type=action",
        "--column", "amount=value", "--event-type", "checkout_completed=purchase",
        "--event-type", "pdp_view=view",
    )
    assert r.exit_code == 0, r.output
    f = pl.read_parquet(out / "features.parquet").sort("customer_id")
    assert f["total_spend"].to_list() == [20.0, 5.0]
    assert f["lead_time_hours"].to_list() == [24.0, 0.0]


def test_config_file_maps(tmp_path):
    pl.DataFrame(
        {"buyer": ["x", "y"], "at": ["2026-03-01", "2026-03-02"], "total": [3.0, 4.0]}
    ).write_csv(tmp_path / "orders.csv")
    (tmp_path / "c.toml").write_text(
        '[events]\ntimestamp_format = "%Y-%m-%d"\n'
        '[events.columns]\ncustomer_id = "buyer"\nts = "at"\namount = "total"\n'
        "[features]\nwinsorize = false\n"
    )
    out = tmp_path / "f"
    r = _run("--events", tmp_path / "orders.csv", "--as-of", "2026-03-02", "--out", out,
             "--config", tmp_path / "c.toml")
    assert r.exit_code == 0, r.output
    assert "transaction-only" in r.output
    assert pl.read_parquet(out / "features.parquet")["frequency"].to_list() == [1.0, 1.0]


def _bad(tmp_path, events, expect, *extra):
    out = tmp_path / "never"
    r = _run("--events", events, "--as-of", "2026-03-10", "--out", out, *extra)
    assert r.exit_code == 2, r.output
    msg = r.output.strip()
    assert len(msg.splitlines()) == 1, msg
    assert expect in msg, msg
    assert not out.exists()
    assert not list(tmp_path.glob(".tmp-never*"))


def test_missing_column(tmp_path):
    m = tmp_path / "m.parquet"
    pl.DataFrame({"uid": [1], "ts": [dt.datetime(2026, 3, 1)]}).write_parquet(m)
    _bad(tmp_path, tmp_path / "m.parquet", "missing column 'customer_id'")
    _bad(tmp_path, tmp_path / "m.parquet", "m.parquet")


def test_unparseable_timestamps(tmp_path):
    pl.DataFrame({"customer_id": [1, 2, 3], "ts": ["2026-03-01", "31/02/2026", "x"]}).write_csv(
        tmp_path / "t.csv"
    )
    _bad(tmp_path, tmp_path / "t.csv", "2 unparseable timestamps, first bad value '31/02/2026'",
         "--timestamp-format", "%Y-%m-%d")


def test_empty_after_filtering(tmp_path):
    pl.DataFrame({"customer_id": [1], "ts": [dt.datetime(2026, 4, 1)]}).write_parquet(
        tmp_path / "late.parquet"
    )
    _bad(tmp_path, tmp_path / "late.parquet", "no events left after filtering")


def test_corrupt_file(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    pl.DataFrame({"customer_id": [1], "ts": [dt.datetime(2026, 3, 1)]}).write_parquet(
        d / "a.parquet"
    )
    (d / "b.parquet").write_bytes(b"PAR1 garbage, truncated")
    _bad(tmp_path, d, "b.parquet")
    _bad(tmp_path, d, "corrupt")


def test_missing_path_and_bad_flags(tmp_path):
    _bad(tmp_path, tmp_path / "nothing.parquet", "no such file")
    pl.DataFrame({"customer_id": [1], "ts": [dt.datetime(2026, 3, 1)]}).write_parquet(
        tmp_path / "ok.parquet"
    )
    _bad(tmp_path, tmp_path / "ok.parquet", "--column", "--column", "customer_id")
    _bad(tmp_path, tmp_path / "ok.parquet", "a = 'b': expected one of 'view'",
         "--event-type", "a=b")
