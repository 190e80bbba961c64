"""Readers, maps, as-of cut, window and the validation report."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest

from archetype.errors import DataError, UserError
from archetype.events import EVENT_TYPES, EventsConfig, read_events
from archetype.events.schema import CANONICAL_COLUMNS

AS_OF = dt.date(2026, 3, 10)


def _log() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [1, 1, 2, 2, 3, 3],
            "ts": [
                dt.datetime(2026, 3, 1, 9),
                dt.datetime(2026, 3, 10, 23, 59),  # last second-ish of the as-of day: kept
                dt.datetime(2026, 3, 2, 12),
                dt.datetime(2026, 3, 11, 0, 0),  # after as-of: ignored
                dt.datetime(2026, 2, 1, 8),
                dt.datetime(2026, 3, 5, 8),
            ],
            "event_type": ["view", "purchase", "purchase", "purchase", "view", "email_open"],
            "amount": [0.0, 12.5, 3.0, 99.0, 0.0, 0.0],
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("us")))


def _hive(root, df):
    for (day,), part in df.group_by(pl.col("ts").dt.date()):
        d = root / f"date={day.isoformat()}"
        d.mkdir(parents=True)
        part.write_parquet(d / "part-00000.parquet")
    return root


def test_event_types_are_the_documented_contract():
    """The types (and their order) are those docs/CONTRACTS.md promises."""
    doc = (Path(__file__).parents[2] / "docs" / "CONTRACTS.md").read_text(encoding="utf-8")
    listed = re.search(r"`EVENT_TYPES`: canonical types `([^`]+)`", doc)
    assert listed is not None
    assert tuple(t.strip() for t in listed.group(1).split(",")) == EVENT_TYPES


def test_as_of_includes_whole_day_and_ignores_later(tmp_path):
    _log().write_parquet(tmp_path / "e.parquet")
    s = read_events(tmp_path / "e.parquet", as_of=AS_OF)
    df = s.lazy.collect()
    assert df.height == 5
    assert df["ts"].max() == dt.datetime(2026, 3, 10, 23, 59)
    assert s.report.after_as_of == 1 and s.report.rows_used == 5
    assert set(df.columns) == set(CANONICAL_COLUMNS)


def test_window_days_bounds_lookback(tmp_path):
    _log().write_parquet(tmp_path / "e.parquet")
    s = read_events(tmp_path / "e.parquet", as_of=AS_OF, window_days=10)  # Mar 1..Mar 10
    assert s.lazy.collect()["ts"].min() == dt.datetime(2026, 3, 1, 9)
    assert s.report.before_window == 1


def test_file_glob_hive_and_csv_read_the_same(tmp_path):
    df = _log()
    df.write_parquet(tmp_path / "one.parquet")
    (tmp_path / "g").mkdir()
    df.head(3).write_parquet(tmp_path / "g" / "a.parquet")
    df.tail(3).write_parquet(tmp_path / "g" / "b.parquet")
    _hive(tmp_path / "hive", df)
    df.with_columns(pl.col("ts").dt.strftime("%Y-%m-%d %H:%M:%S")).write_csv(tmp_path / "e.csv")
    srcs = [
        tmp_path / "one.parquet",
        str(tmp_path / "g" / "*.parquet"),
        tmp_path / "hive",
        tmp_path / "e.csv",
    ]
    frames = [read_events(p, as_of=AS_OF).lazy.collect().sort("customer_id", "ts") for p in srcs]
    for f in frames[1:3]:
        assert f.equals(frames[0])
    # CSV ids are text unless the user says otherwise
    assert frames[3]["customer_id"].dtype == pl.String
    as_int = read_events(tmp_path / "e.csv", EventsConfig(id_dtype="int"), as_of=AS_OF)
    assert as_int.lazy.collect().sort("customer_id", "ts").equals(frames[0])
    assert frames[3].with_columns(pl.col("customer_id").cast(pl.Int64)).equals(frames[0])


def test_hive_partitions_after_as_of_are_pruned(tmp_path):
    root = _hive(tmp_path / "hive", _log())
    # a corrupt file in a partition after as-of is never opened
    (root / "date=2026-03-11" / "part-00001.parquet").write_bytes(b"not parquet at all")
    s = read_events(root, as_of=AS_OF)
    assert s.report.rows_scanned == 5  # the 2026-03-11 partition was pruned
    with pytest.raises(DataError, match="part-00001.parquet"):
        read_events(root, as_of=dt.date(2026, 3, 11))


def test_column_and_event_type_maps(tmp_path):
    df = _log().rename({"customer_id": "user_id", "ts": "when", "event_type": "action"})
    df = df.with_columns(
        pl.col("action").replace({"purchase": "checkout_completed", "view": "pdp_view"})
    )
    df.write_parquet(tmp_path / "e.parquet")
    cfg = EventsConfig.from_dict(
        {
            "columns": {"customer_id": "user_id", "ts": "when", "event_type": "action"},
            "event_types": {"checkout_completed": "purchase", "pdp_view": "view"},
        }
    )
    got = read_events(tmp_path / "e.parquet", cfg, as_of=AS_OF).lazy.collect()
    _log().write_parquet(tmp_path / "ref.parquet")
    ref = read_events(tmp_path / "ref.parquet", as_of=AS_OF).lazy.collect()
    assert got.sort("customer_id", "ts").equals(ref.sort("customer_id", "ts"))


def test_transaction_only_log(tmp_path):
    pl.DataFrame(
        {
            "order_id": [10, 11, 12],
            "buyer": ["a", "b", "a"],
            "ordered_at": ["2026-03-01 10:00:00", "2026-03-02 11:00:00", "2026-03-03 12:00:00"],
            "total": [5.0, -2.0, 7.5],
            "items": [1, 2, 3],
        }
    ).write_csv(tmp_path / "orders.csv")
    cfg = EventsConfig(
        columns={"customer_id": "buyer", "ts": "ordered_at", "amount": "total", "quantity": "items"}
    )
    s = read_events(tmp_path / "orders.csv", cfg, as_of=AS_OF)
    df = s.lazy.collect().sort("ts")
    assert df["event_type"].to_list() == ["purchase"] * 3
    assert df["amount"].to_list() == [5.0, -2.0, 7.5]
    assert df["quantity"].to_list() == [1, 2, 3]
    assert df["customer_id"].dtype == pl.String
    assert s.report.transaction_only and s.report.returns == 1


def test_recoverable_issues_are_counted(tmp_path):
    df = pl.DataFrame(
        {
            "customer_id": [1, 1, None, 2, 2, 3],
            "ts": [dt.datetime(2026, 3, 1)] * 6,
            "event_type": ["view", "view", "view", "purchase", "wishlist", "wishlist"],
            "amount": [0.0, 0.0, 0.0, -4.0, 0.0, 0.0],
        }
    )
    df.write_parquet(tmp_path / "e.parquet")
    s = read_events(tmp_path / "e.parquet", as_of=AS_OF)
    r = s.report
    assert (r.null_customer_ids, r.unknown_event_types, r.returns) == (1, 2, 1)
    assert r.unknown_event_values == ["wishlist"]
    assert r.rows_used == 3
    # no event id: identical rows are kept (counted by the feature builder) ...
    assert s.report.dedupe == "none" and s.lazy.collect().height == 3
    # ... unless --dedupe exact
    exact = read_events(tmp_path / "e.parquet", EventsConfig(dedupe="exact"), as_of=AS_OF)
    assert exact.lazy.collect().height == 2
    assert r.to_dict()["null_customer_ids"] == 1


def test_bad_inputs_raise_user_errors(tmp_path):
    _log().drop("ts").write_parquet(tmp_path / "nots.parquet")
    with pytest.raises(UserError, match=r"nots.parquet.*missing column 'ts'"):
        read_events(tmp_path / "nots.parquet", as_of=AS_OF)
    pl.DataFrame({"customer_id": [1, 2, 3], "ts": ["2026-03-01", "yesterday", "soon"]}).write_csv(
        tmp_path / "bad.csv"
    )
    with pytest.raises(DataError, match=r"2 unparseable timestamps, first bad value 'yesterday'"):
        read_events(tmp_path / "bad.csv", EventsConfig(timestamp_format="%Y-%m-%d"), as_of=AS_OF)
    _log().write_parquet(tmp_path / "e.parquet")
    with pytest.raises(DataError, match="no events left after filtering"):
        read_events(tmp_path / "e.parquet", as_of=dt.date(2020, 1, 1))
    with pytest.raises(UserError, match="no such file"):
        read_events(tmp_path / "missing.parquet", as_of=AS_OF)
    with pytest.raises(UserError, match=r"\[events.columns\] key 'user' is not allowed"):
        EventsConfig.from_dict({"columns": {"user": "x"}})
    with pytest.raises(UserError, match=r"\[events.event_types\] buy = 'purchased': expected"):
        EventsConfig.from_dict({"event_types": {"buy": "purchased"}})


def test_as_of_before_every_date_folder_names_the_folders_range(tmp_path):
    """A hive log whose date= folders all lie after the as-of: the error says where they
    are (the counts alone read 0 rows scanned, since the folders were pruned unread)."""
    log = _log().with_columns(pl.col("ts").dt.date().alias("date"))
    for (day,), part in log.group_by("date"):
        d = tmp_path / "ev" / f"date={day.isoformat()}"
        d.mkdir(parents=True)
        part.drop("date").write_parquet(d / "part-0.parquet")
    with pytest.raises(DataError, match=r"they run from 2026-02-01 to 2026-03-11 \(pick an as-of"):
        read_events(tmp_path / "ev", as_of=dt.date(2026, 1, 15))
    with pytest.raises(DataError, match="no date= folder is in range"):  # window after them
        read_events(tmp_path / "ev", as_of=dt.date(2026, 3, 20), window_days=1)
    with pytest.raises(DataError, match="no events left") as e:  # a flat file: no hint
        read_events(tmp_path / "ev" / "date=2026-03-11" / "part-0.parquet", as_of=AS_OF)
    assert "date= folder" not in str(e.value)
