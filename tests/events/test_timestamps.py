"""The same instants written every way real exports write them give identical features.

Naive, ``Z``, ``+01:00``, mixed offsets in one column, a ``%z`` format, a zoned Parquet
column, epoch seconds/milliseconds (text and integers), and for day-precision data
``YYYYMMDD`` (text and integers), ISO dates and a Date column.  Plus the zone rule: every
timestamp is converted to the configured zone before the day is taken.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from archetype.errors import DataError
from archetype.events import EventsConfig, read_events
from archetype.features import compute_features

UTC = dt.UTC
AS_OF = dt.date(2026, 3, 31)


def _instants() -> pl.DataFrame:
    """Events in UTC, some near midnight (so a wrong zone moves them to another day)."""
    rows = [
        ("c01", dt.datetime(2026, 3, 1, 9, 0, 0), "view", 0.0),
        ("c01", dt.datetime(2026, 3, 1, 23, 30, 0), "purchase", 20.0),
        ("c01", dt.datetime(2026, 3, 14, 0, 15, 30), "purchase", 35.5),
        ("c02", dt.datetime(2026, 3, 2, 12, 0, 0), "purchase", 12.0),
        ("c02", dt.datetime(2026, 3, 28, 22, 59, 59), "view", 0.0),
        ("c02", dt.datetime(2026, 3, 29, 1, 0, 0), "purchase", 7.25),  # EU DST day
        ("c03", dt.datetime(2026, 2, 27, 23, 0, 0), "add_to_cart", 0.0),
        ("c03", dt.datetime(2026, 3, 31, 23, 59, 59), "purchase", 99.0),  # last second
        ("c03", dt.datetime(2026, 4, 1, 0, 0, 0), "purchase", 1000.0),  # after as-of
    ]
    return pl.DataFrame(
        rows, schema=["customer_id", "ts", "event_type", "amount"], orient="row"
    ).with_columns(pl.col("ts").cast(pl.Datetime("us")))


def _offset_text(ts: pl.Expr, minutes: int) -> pl.Expr:
    """``ts`` (UTC) written as local time at a fixed offset, with the offset."""
    sign = "+" if minutes >= 0 else "-"
    off = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return (ts + pl.duration(minutes=minutes)).dt.strftime("%Y-%m-%dT%H:%M:%S") + pl.lit(off)


def _variants(tmp_path) -> dict[str, tuple[str, EventsConfig]]:
    df = _instants()
    ts = pl.col("ts")
    out: dict[str, tuple[str, EventsConfig]] = {}

    def put(name: str, frame: pl.DataFrame, cfg: EventsConfig | None = None, csv=True):
        p = tmp_path / (name + (".csv" if csv else ".parquet"))
        frame.write_csv(p) if csv else frame.write_parquet(p)
        out[name] = (str(p), cfg or EventsConfig())

    put("naive_parquet", df, csv=False)
    put(
        "zoned_parquet",
        df.with_columns(ts.dt.replace_time_zone("UTC").dt.convert_time_zone("Europe/Paris")),
        csv=False,
    )
    put("naive_text", df.with_columns(ts.dt.strftime("%Y-%m-%d %H:%M:%S")))
    put("z_text", df.with_columns(ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ")))
    put("plus_0100_text", df.with_columns(_offset_text(ts, 60)))
    mixed = (
        pl.when(pl.int_range(pl.len()) % 3 == 0)
        .then(ts.dt.strftime("%Y-%m-%dT%H:%M:%S.000000Z"))
        .when(pl.int_range(pl.len()) % 3 == 1)
        .then(_offset_text(ts, 60))
        .otherwise(_offset_text(ts, -330))  # -05:30
    )
    put("mixed_offsets_text", df.with_columns(mixed.alias("ts")))
    put(
        "percent_z_format",
        df.with_columns((ts + pl.duration(hours=2)).dt.strftime("%Y-%m-%d %H:%M:%S+0200")),
        EventsConfig(timestamp_format="%Y-%m-%d %H:%M:%S%z"),
    )
    put(
        "epoch_s_text",
        df.with_columns(ts.dt.epoch("s")),
        EventsConfig(timestamp_unit="s"),
    )
    put(
        "epoch_ms_text",
        df.with_columns(ts.dt.epoch("ms")),
        EventsConfig(timestamp_unit="ms"),
    )
    put(
        "epoch_ms_parquet",
        df.with_columns(ts.dt.epoch("ms")),
        EventsConfig(timestamp_unit="ms"),
        csv=False,
    )
    put(
        "epoch_ns_parquet",
        df.with_columns(ts.dt.epoch("ns")),
        EventsConfig(timestamp_unit="ns"),
        csv=False,
    )
    return out


def _same(got: pl.DataFrame, ref: pl.DataFrame, name: str) -> None:
    """Same customers and values (floats to 1e-12: a feature's last bit may depend on how
    Polars chunked the input, as in the other equality tests)."""
    assert got["customer_id"].to_list() == ref["customer_id"].to_list(), name
    assert_frame_equal(got, ref, rel_tol=1e-12, abs_tol=1e-12)


def _features(path: str, cfg: EventsConfig) -> tuple[pl.DataFrame, dict]:
    df, facts = compute_features(path, AS_OF, events_config=cfg)
    return df, facts["report"]


def test_same_instants_every_format_same_features(tmp_path):
    variants = _variants(tmp_path)
    ref, ref_report = _features(*variants.pop("naive_parquet"))
    assert ref_report["after_as_of"] == 1 and ref_report["rows_used"] == 8
    assert ref["customer_id"].dtype == pl.String
    for name, (path, cfg) in variants.items():
        got, report = _features(path, cfg)
        _same(got, ref, name)
        assert report["after_as_of"] == 1, name
        assert (report["first_day"], report["last_day"]) == ("2026-02-27", "2026-03-31"), name


def test_day_precision_formats_same_features(tmp_path):
    days = _instants().with_columns(pl.col("ts").dt.truncate("1d"))
    days.write_parquet(tmp_path / "midnight.parquet")
    ymd = pl.col("ts").dt.strftime("%Y%m%d")
    variants = {
        "yyyymmdd_text": (days.with_columns(ymd), True, EventsConfig(timestamp_format="%Y%m%d")),
        "yyyymmdd_int_parquet": (
            days.with_columns(ymd.cast(pl.Int64)),
            False,
            EventsConfig(timestamp_format="%Y%m%d"),
        ),
        "iso_date_text": (days.with_columns(pl.col("ts").dt.date()), True, EventsConfig()),
        "date_parquet": (days.with_columns(pl.col("ts").dt.date()), False, EventsConfig()),
    }
    ref, _ = _features(str(tmp_path / "midnight.parquet"), EventsConfig())
    for name, (frame, csv, cfg) in variants.items():
        p = tmp_path / (name + (".csv" if csv else ".parquet"))
        frame.write_csv(p) if csv else frame.write_parquet(p)
        got, _ = _features(str(p), cfg)
        _same(got, ref, name)


def test_integer_dates_need_a_unit_or_format(tmp_path):
    pl.DataFrame({"customer_id": ["a"], "ts": [19970101]}).write_csv(tmp_path / "d.csv")
    # CSV text of digits is not ISO: a clear message, not a dtype complaint
    with pytest.raises(Exception, match="1 unparseable timestamps, first bad value '19970101'"):
        read_events(tmp_path / "d.csv", as_of=dt.date(1997, 1, 2))
    ok = read_events(
        tmp_path / "d.csv", EventsConfig(timestamp_format="%Y%m%d"), as_of=dt.date(1997, 1, 2)
    )
    assert ok.lazy.collect()["ts"].to_list() == [dt.datetime(1997, 1, 1)]
    pl.DataFrame({"customer_id": ["a"], "ts": [19970101]}).write_parquet(tmp_path / "d.parquet")
    with pytest.raises(Exception, match="--timestamp-unit s|ms|us|ns .* --timestamp-format"):
        read_events(tmp_path / "d.parquet", as_of=dt.date(1997, 1, 2))


def test_zone_rule_converts_before_taking_the_day(tmp_path):
    """23:30Z on 2026-03-01 is 00:30 on 2026-03-02 in Paris: the day follows the zone."""
    df = _instants().filter(pl.col("customer_id") == "c01")
    df.with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).write_csv(tmp_path / "z.csv")
    paris = EventsConfig(timezone="Europe/Paris")
    got = read_events(tmp_path / "z.csv", paris, as_of=AS_OF).lazy.collect().sort("ts")
    assert got["ts"].to_list() == [
        dt.datetime(2026, 3, 1, 10, 0, 0),
        dt.datetime(2026, 3, 2, 0, 30, 0),
        dt.datetime(2026, 3, 14, 1, 15, 30),
    ]
    # as-of is a day of the configured zone: 2026-03-01 in Paris ends at 23:00Z
    s = read_events(tmp_path / "z.csv", paris, as_of=dt.date(2026, 3, 1))
    assert s.report.rows_used == 1 and s.report.after_as_of == 2
    s = read_events(tmp_path / "z.csv", as_of=dt.date(2026, 3, 1))  # UTC
    assert s.report.rows_used == 2


def test_naive_values_are_taken_in_the_configured_zone(tmp_path):
    df = pl.DataFrame({"customer_id": ["a"], "ts": [dt.datetime(2026, 3, 29, 2, 30)]})
    df.write_parquet(tmp_path / "n.parquet")  # a wall time that does not exist in Paris
    got = read_events(
        tmp_path / "n.parquet", EventsConfig(timezone="Europe/Paris"), as_of=AS_OF
    ).lazy.collect()
    assert got["ts"].to_list() == [dt.datetime(2026, 3, 29, 2, 30)]  # kept as written


def test_zoned_parquet_in_another_zone_converts(tmp_path):
    df = _instants().with_columns(
        pl.col("ts").dt.replace_time_zone("UTC").dt.convert_time_zone("America/New_York")
    )
    df.write_parquet(tmp_path / "ny.parquet")
    got = read_events(tmp_path / "ny.parquet", as_of=AS_OF).lazy.collect()
    want = _instants().filter(pl.col("ts") < dt.datetime(2026, 4, 1))
    assert sorted(got["ts"].to_list()) == sorted(want["ts"].to_list())


def test_hive_pruning_widens_by_a_day_when_zones_convert(tmp_path):
    """A UTC-dated folder can hold events of the next Paris day: it is still read."""
    root = tmp_path / "hive"
    d = root / "date=2026-03-31"
    d.mkdir(parents=True)
    pl.DataFrame(
        {"customer_id": ["a", "b"], "ts": ["2026-03-31T10:00:00Z", "2026-03-31T23:30:00Z"]}
    ).write_parquet(d / "p.parquet")
    s = read_events(root, EventsConfig(timezone="Europe/Paris"), as_of=dt.date(2026, 4, 1))
    assert s.report.rows_used == 2  # 23:30Z is 2026-04-01 in Paris
    with pytest.raises(DataError, match="2 rows scanned, 2 after as-of"):  # folder read
        read_events(root, EventsConfig(timezone="Europe/Paris"), as_of=dt.date(2026, 3, 30))
    with pytest.raises(DataError, match="folder holds no|0 rows scanned"):  # pruned
        read_events(root, EventsConfig(timezone="Europe/Paris"), as_of=dt.date(2026, 3, 29))
