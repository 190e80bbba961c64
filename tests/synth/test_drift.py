"""The drift scenario: the base log, deal hunters lapsing over weeks, a new behavior mid-log,
ground truth per day."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from typer.testing import CliRunner

from archetype.cli.main import app
from archetype.errors import UserError
from archetype.events.schema import CONTENT_COLUMNS
from archetype.synth import generate
from archetype.synth.drift import LAPSED, NEW_SPEC, generate_drift, truth_on

END = dt.date(2026, 12, 31)
DAYS = 120
START = END - dt.timedelta(days=DAYS - 1)


def events(out) -> pl.DataFrame:
    files = str(out / "events" / "*" / "*.parquet")
    return pl.read_parquet(files, hive_partitioning=False).select(CONTENT_COLUMNS)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("drift")
    generate_drift(root / "drift", customers=2500, days=DAYS, seed=3, block_size=1000)
    generate(root / "base", customers=2500, days=DAYS, seed=3)
    return root


def test_same_arguments_same_files_whatever_the_block_size(world, tmp_path):
    generate_drift(tmp_path / "b", customers=2500, days=DAYS, seed=3, block_size=333)
    a, b = events(world / "drift"), events(tmp_path / "b")
    key = ["customer_id", "ts", "event_type", "amount", "channel", "category"]
    assert a.sort(key, nulls_last=True).equals(b.sort(key, nulls_last=True))
    assert pl.read_parquet(world / "drift" / "truth_history.parquet").equals(
        pl.read_parquet(tmp_path / "b" / "truth_history.parquet")
    )


def test_base_customers_are_the_base_log_minus_lapsed_tails(world):
    drift, base = events(world / "drift"), events(world / "base")
    hist = pl.read_parquet(world / "drift" / "truth_history.parquet")
    stops = hist.filter(pl.col("archetype") == LAPSED).select(
        "customer_id", pl.col("start_date").alias("stop")
    )
    assert stops.height > 100
    expected = (
        base.join(stops, on="customer_id", how="left")
        .filter(pl.col("stop").is_null() | (pl.col("ts").dt.date() < pl.col("stop")))
        .drop("stop")
    )
    mine = drift.filter(pl.col("customer_id") <= 2500)
    key = ["customer_id", "ts", "event_type", "amount", "channel", "category"]
    assert mine.sort(key, nulls_last=True).equals(expected.sort(key, nulls_last=True))
    # every lapsing customer was a deal hunter, stopping inside the lapse window
    truth0 = truth_on(hist, START)
    lapsers = truth0.join(stops, on="customer_id")
    assert set(lapsers["archetype"]) == {"deal_hunter"}
    lo = START + dt.timedelta(days=int(0.45 * DAYS))
    assert lapsers["stop"].min() >= lo and lapsers["stop"].max() < lo + dt.timedelta(weeks=6)
    share = lapsers.height / truth0.filter(pl.col("archetype") == "deal_hunter").height
    assert 0.5 < share < 0.7  # lapse_share = 0.6


def test_newcomers_and_truth_per_day(world):
    drift = events(world / "drift")
    hist = pl.read_parquet(world / "drift" / "truth_history.parquet")
    new = drift.filter(pl.col("customer_id") > 2500)
    day0 = START + dt.timedelta(days=int(0.55 * DAYS))
    assert new["customer_id"].n_unique() > 250
    assert new["ts"].min().date() >= day0

    # the new behavior's signature: many social ad clicks, mostly social shopping
    def per_customer(df):
        return df.group_by("customer_id").agg(
            ads=(pl.col("event_type") == "ad_click").sum(),
            social=(pl.col("channel") == "social").mean(),
        )

    per = per_customer(new)
    old = per_customer(
        drift.filter((pl.col("customer_id") <= 2500) & (pl.col("ts").dt.date() >= day0))
    )
    assert per["ads"].mean() > 4 * old["ads"].mean()
    assert per["social"].mean() > 0.5 > old["social"].mean()
    # truth per day: one row per existing customer, newcomers only after their start
    for day in (START, day0 - dt.timedelta(days=1), day0, END):
        t = truth_on(hist, day)
        assert t["customer_id"].is_unique().all()
        assert (NEW_SPEC.name in set(t["archetype"])) == (day >= day0)
    end = truth_on(world / "drift", END)
    assert end.equals(pl.read_parquet(world / "drift" / "truth.parquet"))
    assert end.height == 2500 + round(0.12 * 2500)
    manifest = json.loads((world / "drift" / "manifest.json").read_text())
    assert manifest["scenario"] == "drift" and manifest["newcomers"] == 300


def test_bad_arguments(tmp_path):
    with pytest.raises(UserError, match="lapse_share"):
        generate_drift(tmp_path / "x", customers=10, days=30, seed=1, lapse_share=2.0)
    with pytest.raises(UserError, match="days=5"):
        generate_drift(tmp_path / "x", customers=10, days=5, seed=1)


def test_cli_scenario(tmp_path):
    runner = CliRunner()
    out = tmp_path / "w"
    res = runner.invoke(
        app,
        [
            "synth",
            "--customers",
            "300",
            "--days",
            "60",
            "--seed",
            "2",
            "--scenario",
            "drift",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (out / "truth_history.parquet").is_file()
    assert "social_impulse_buyer" in res.output
    res = runner.invoke(
        app,
        [
            "synth",
            "--customers",
            "3",
            "--days",
            "60",
            "--seed",
            "2",
            "--scenario",
            "chaos",
            "--out",
            str(tmp_path / "z"),
        ],
    )
    assert res.exit_code == 2 and "'chaos' is not one of 'base', 'drift'" in res.output
    assert not (tmp_path / "z").exists()
