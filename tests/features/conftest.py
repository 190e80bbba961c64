"""Hand-made tiny event logs for the feature tests."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

AS_OF = dt.date(2026, 1, 10)

COLS = ["customer_id", "ts", "event_type", "amount", "discount", "channel", "category"]


def make_log(rows) -> pl.DataFrame:
    """Rows of (customer_id, ts, event_type, amount, discount, channel, category)."""
    df = pl.DataFrame(rows, schema=COLS, orient="row").with_columns(
        pl.col("customer_id").cast(pl.Int64),
        pl.col("ts").cast(pl.Datetime("us")),
        pl.col("amount").cast(pl.Float64),
        pl.col("discount").cast(pl.Float64),
        pl.lit(1, dtype=pl.Int32).alias("quantity"),
    )
    return df.select(
        "customer_id", "ts", "event_type", "amount", "quantity", "discount", "channel", "category"
    )


def lead_times_hours(rows: list[dict], buys: list[dict]) -> list[float]:
    """Reference lead times with loops: per purchase in ``buys``, hours since the first view
    since the previous purchase and within 14 days (purchases with no such view have none)."""
    seq = sorted(
        (r for r in rows if r["event_type"] == "view" or r in buys),
        key=lambda r: (r["ts"], r["event_type"] == "purchase"),
    )
    leads, cycle_views = [], []
    for r in seq:
        if r["event_type"] == "view":
            cycle_views.append(r["ts"])
        else:
            near = [v for v in cycle_views if v >= r["ts"] - dt.timedelta(days=14)]
            if near:
                leads.append((r["ts"] - near[0]).total_seconds() / 3600)
            cycle_views = []
    return leads


def T(day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 1, day, hour, minute)


@pytest.fixture
def tiny_log() -> pl.DataFrame:
    """Customer 1 buys (with a return), customer 2 only browses.  as-of 2026-01-10."""
    return make_log(
        [
            (1, T(1, 10), "view", 0.0, 0.0, "web", "a"),
            (1, T(1, 12), "purchase", 10.0, 0.1, "web", "a"),
            (1, T(3, 10), "session_start", 0.0, 0.0, None, None),
            (1, T(3, 10), "email_open", 0.0, 0.0, None, None),
            (1, T(3, 10, 5), "email_click", 0.0, 0.0, None, None),
            (1, T(4, 15), "referral", 0.0, 0.0, None, None),
            (1, T(5, 9), "add_to_cart", 0.0, 0.0, "app", "b"),
            (1, T(5, 9, 30), "purchase", 20.0, 0.0, "app", "b"),
            (1, T(5, 18), "purchase", 30.0, 0.0, "app", "b"),
            (1, T(9, 8), "purchase", -5.0, 0.0, None, None),
            (2, T(8, 20), "view", 0.0, 0.0, None, "c"),
            (2, T(8, 21), "view", 0.0, 0.0, None, "d"),
        ]
    )
