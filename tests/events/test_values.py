"""Values never change silently: bad numbers stop the run (or are dropped / nulled on request,
and counted); money text with currency symbols, grouping and decimal commas parses exactly;
a coupon column reads as "discount used"."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest
from typer.testing import CliRunner

from archetype.cli.main import app
from archetype.errors import DataError, UserError
from archetype.events import EventsConfig, read_events
from archetype.features import compute_features

AS_OF = dt.date(2026, 3, 31)
runner = CliRunner()
ORDERS = EventsConfig(columns={"customer_id": "buyer", "ts": "at", "amount": "price"})


def _orders(tmp_path, prices, name="orders.csv", **extra) -> str:
    n = len(prices)
    df = pl.DataFrame(
        {
            "buyer": [f"b{i % 3}" for i in range(n)],
            "at": [f"2026-03-{1 + i:02d} 10:00:00" for i in range(n)],
            "price": prices,
            **extra,
        }
    )
    p = tmp_path / name
    df.write_csv(p)
    return str(p)


def _cli(*args):
    return runner.invoke(app, ["features", *map(str, args), "--no-progress"])


def test_bad_amount_exits_2_naming_file_column_value_row_and_writes_nothing(tmp_path):
    path = _orders(tmp_path, ["10.00", "74,92", "€5.00", "abc"])
    out = tmp_path / "feats"
    r = _cli(
        "--events",
        path,
        "--as-of",
        "2026-03-31",
        "--out",
        out,
        "--column",
        "customer_id=buyer",
        "--column",
        "ts=at",
        "--column",
        "amount=price",
    )
    assert r.exit_code == 2, r.output
    msg = " ".join(r.output.split())
    assert len(r.output.strip().splitlines()) <= 2  # one line (soft-wrapped at most)
    for part in (
        "orders.csv",
        "column 'price'",
        "2 amount values that are not finite numbers",
        "first bad value '74,92'",
        "row 2",
        "--decimal-comma",
        "--on-bad-value",
    ):
        assert part in msg, (part, msg)
    assert not out.exists() and not list(tmp_path.glob(".tmp*"))


def test_inf_and_minus_inf_are_treated_alike(tmp_path):
    for bad in ("inf", "-inf", "+inf", "NaN"):
        path = _orders(tmp_path, ["1.0", bad], name=f"o{bad}.csv")
        with pytest.raises(DataError, match=re.escape(f"first bad value '{bad}' at row 2")):
            read_events(path, ORDERS, as_of=AS_OF)
    df = pl.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "ts": [dt.datetime(2026, 3, 1)] * 3,
            "amount": [1.0, float("inf"), -float("inf")],
        }
    )
    df.write_parquet(tmp_path / "f.parquet")
    with pytest.raises(DataError, match="2 amount values that are not finite numbers"):
        read_events(tmp_path / "f.parquet", as_of=AS_OF)


def test_mixed_currencies_are_refused(tmp_path):
    with pytest.raises(DataError, match=r"several currencies \(\$, €\)"):
        read_events(_orders(tmp_path, ["€1", "$2"]), ORDERS, as_of=AS_OF)


def test_one_currency_and_grouping_parse(tmp_path):
    prices = ["€74.92", "€1,234.50", "€ 10", " 3 ", "-2.5", "1e2", ""]
    df = read_events(_orders(tmp_path, prices), ORDERS, as_of=AS_OF).lazy.collect().sort("ts")
    assert df["amount"].to_list() == [74.92, 1234.5, 10.0, 3.0, -2.5, 100.0, 0.0]
    codes = _orders(tmp_path, ["EUR 10", "10.5 EUR"], name="codes.csv")
    df = read_events(codes, ORDERS, as_of=AS_OF).lazy.collect().sort("ts")
    assert df["amount"].to_list() == [10.0, 10.5]


def test_decimal_comma(tmp_path):
    prices = ["74,92", "1.234,56", "1 234,5", "7", "-0,5"]
    cfg = ORDERS.merged(decimal_comma=True)
    df = read_events(_orders(tmp_path, prices), cfg, as_of=AS_OF).lazy.collect().sort("ts")
    assert df["amount"].to_list() == [74.92, 1234.56, 1234.5, 7.0, -0.5]
    # a decimal point is ambiguous under --decimal-comma: refused, not guessed
    with pytest.raises(DataError, match="first bad value '74.92'"):
        read_events(_orders(tmp_path, ["74.92"], name="p.csv"), cfg, as_of=AS_OF)


def test_drop_row_and_null_are_counted(tmp_path):
    path = _orders(tmp_path, ["10", "oops", "5", "n/a"], qty=["1", "2", "1.5", "1"])
    cfg = ORDERS.merged({"quantity": "qty"})
    with pytest.raises(DataError, match="first bad value 'oops' at row 2"):
        read_events(path, cfg, as_of=AS_OF)
    drop = read_events(path, cfg.merged(on_bad_value="drop-row"), as_of=AS_OF)
    r = drop.report
    assert r.bad_values == {"amount": 2, "quantity": 1}
    assert (r.bad_rows_dropped, r.values_nulled, r.rows_used) == (3, 0, 1)
    assert drop.lazy.collect()["amount"].to_list() == [10.0]
    assert any("did not parse" in w for w in r.warnings)
    null = read_events(path, cfg.merged(on_bad_value="null"), as_of=AS_OF)
    r = null.report
    assert (r.bad_rows_dropped, r.values_nulled, r.rows_used) == (0, 3, 4)
    got = null.lazy.collect().sort("ts")
    assert got["amount"].to_list() == [10.0, 0.0, 5.0, 0.0]
    assert got["quantity"].to_list() == [1, 2, 1, 1]


def test_bad_timestamps_under_each_policy(tmp_path):
    df = pl.DataFrame({"customer_id": ["a", "a", "b"], "ts": ["2026-03-01", "soon", "2026-03-02"]})
    df.write_csv(tmp_path / "t.csv")
    with pytest.raises(DataError, match="1 unparseable timestamps, first bad value 'soon' at row"):
        read_events(tmp_path / "t.csv", as_of=AS_OF)
    for policy in ("drop-row", "null"):  # a row without a time cannot be placed: dropped
        s = read_events(tmp_path / "t.csv", EventsConfig(on_bad_value=policy), as_of=AS_OF)
        assert (s.report.bad_values, s.report.bad_rows_dropped, s.report.rows_used) == (
            {"ts": 1},
            1,
            2,
        )


def test_bad_value_row_is_found_in_the_right_file(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    _orders(d, ["1", "2"], name="a.csv")
    _orders(d, ["3", "4", "x9"], name="b.csv")
    with pytest.raises(DataError, match=r"b\.csv: column 'price'.*'x9' at row 3"):
        read_events(d, ORDERS, as_of=AS_OF)


def test_coupon_column_reads_as_discount_used(tmp_path):
    path = _orders(tmp_path, ["10", "20", "30", "40"], coupon=["SPRING10", "", "no", "WELCOME"])
    cfg = ORDERS.merged({"discount": "coupon"})
    s = read_events(path, cfg, as_of=AS_OF)
    assert s.report.discount_as_flag
    assert s.lazy.collect().sort("ts")["discount"].to_list() == [1.0, 0.0, 0.0, 1.0]
    feats, _ = compute_features(path, AS_OF, events_config=cfg)
    assert feats.sort("customer_id")["discount_share"].to_list() == [1.0, 0.0, 0.0]
    # numbers (fractions or percent) stay numbers
    path2 = _orders(tmp_path, ["10", "20"], name="d.csv", disc=["0.2", "15%"])
    got = read_events(path2, ORDERS.merged({"discount": "disc"}), as_of=AS_OF)
    assert not got.report.discount_as_flag
    assert got.lazy.collect().sort("ts")["discount"].to_list() == [0.2, 0.15]


def test_boolean_discount_column(tmp_path):
    pl.DataFrame(
        {"customer_id": [1, 2], "ts": [dt.datetime(2026, 3, 1)] * 2, "discount": [True, None]}
    ).write_parquet(tmp_path / "b.parquet")
    got = read_events(tmp_path / "b.parquet", as_of=AS_OF).lazy.collect().sort("customer_id")
    assert got["discount"].to_list() == [1.0, 0.0]


def test_quantity_must_be_whole(tmp_path):
    pl.DataFrame(
        {"customer_id": [1, 2], "ts": [dt.datetime(2026, 3, 1)] * 2, "quantity": [2.0, 1.5]}
    ).write_parquet(tmp_path / "q.parquet")
    with pytest.raises(
        DataError, match="1 quantities that are not whole numbers, first bad value '1.5' at row 2"
    ):
        read_events(tmp_path / "q.parquet", as_of=AS_OF)


def test_text_amount_column_in_parquet_is_parsed_not_zeroed(tmp_path):
    """The old reader cast text to float and filled 0 (exit 0); now exit 2."""
    pl.DataFrame(
        {"customer_id": [1, 2], "ts": [dt.datetime(2026, 3, 1)] * 2, "amount": ["12.5", "n/a"]}
    ).write_parquet(tmp_path / "t.parquet")
    with pytest.raises(DataError, match="'n/a' at row 2"):
        read_events(tmp_path / "t.parquet", as_of=AS_OF)


def test_non_numeric_column_types_are_refused(tmp_path):
    pl.DataFrame(
        {"customer_id": [1], "ts": [dt.datetime(2026, 3, 1)], "amount": [True]}
    ).write_parquet(tmp_path / "b.parquet")
    with pytest.raises(UserError, match="column 'amount': has dtype Boolean; expected numbers"):
        read_events(tmp_path / "b.parquet", as_of=AS_OF)
