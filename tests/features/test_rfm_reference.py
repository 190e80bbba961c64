"""RFM on a transaction table equals pymc-marketing's ``rfm_summary`` definitions, computed
independently with pandas, including same-day repeat purchases of equal price.

pymc-marketing ``rfm_summary(include_first_transaction=True, time_unit="D")`` (from lifetimes):
transactions after the observation end are dropped; a customer's transactions of one day
are summed into one period; ``frequency`` = number of periods with a purchase; ``recency`` =
``T`` - (last - first) = observation end - last purchase day; ``monetary_value`` = mean of
the per-day sums.  Here ``frequency``, ``recency_days``, ``monetary`` and ``tenure_days``
(= ``T`` for a log of purchases only) must equal those.
"""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest

from archetype.events import EventsConfig
from archetype.features import compute_features

pd = pytest.importorskip("pandas")

AS_OF = dt.date(2025, 12, 31)


def _orders() -> pl.DataFrame:
    """A CD-store-like order table: many customers buy twice the same day at the same price
    (separate orders), some buy after the observation end."""
    rng = random.Random(7)
    rows, oid = [], 0
    for c in range(1, 121):
        first = dt.datetime(2025, 1, 1) + dt.timedelta(days=rng.randrange(300), hours=9)
        for _ in range(rng.randrange(1, 7)):
            day = first + dt.timedelta(days=rng.randrange(0, 90), minutes=rng.randrange(600))
            price = rng.choice([9.99, 12.49, 15.0, 20.5])
            for _ in range(1 + (rng.random() < 0.4)):  # same-day, same-price repeat order
                oid += 1
                rows.append((f"{c:05d}", day, price, oid))
    return pl.DataFrame(
        rows, schema=["cust", "order_date", "total", "order_id"], orient="row"
    ).with_columns(pl.col("order_date").cast(pl.Datetime("us")))


def _pandas_rfm_summary(orders: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """The rfm_summary(include_first_transaction=True) definitions, in plain pandas."""
    t = orders[orders["order_date"].dt.floor("D") <= end].copy()
    t["day"] = t["order_date"].dt.floor("D")
    per_day = t.groupby(["cust", "day"], as_index=False)["total"].sum()
    g = per_day.groupby("cust")
    out = pd.DataFrame(
        {
            "frequency": g["day"].count().astype(float),
            "first": g["day"].min(),
            "last": g["day"].max(),
            "monetary_value": g["total"].mean(),
        }
    )
    out["T"] = (end - out["first"]).dt.days.astype(float)
    out["recency"] = out["T"] - (out["last"] - out["first"]).dt.days.astype(float)
    return out


@pytest.mark.parametrize("with_order_id", [True, False])
def test_rfm_matches_rfm_summary_definitions(tmp_path, with_order_id):
    orders = _orders()
    assert (
        orders.group_by("cust", pl.col("order_date").dt.date(), "total").len()["len"].max() >= 2
    )  # same-day equal-price repeats are there
    orders.with_columns(pl.col("order_date").dt.strftime("%Y-%m-%d %H:%M:%S")).write_csv(
        tmp_path / "orders.csv"
    )
    cols = {"customer_id": "cust", "ts": "order_date", "amount": "total"}
    if with_order_id:
        cols["event_id"] = "order_id"
    feats, facts = compute_features(
        tmp_path / "orders.csv", AS_OF, events_config=EventsConfig(columns=cols)
    )
    rep = facts["report"]
    assert rep["transaction_only"] and rep["duplicate_events"] == 0
    assert rep["identical_rows"] in (None, 0)  # distinct orders are never "identical rows"
    ref = _pandas_rfm_summary(orders.to_pandas(), pd.Timestamp(AS_OF))
    got = feats.to_pandas().set_index("customer_id").loc[ref.index]
    assert (got["frequency"].to_numpy() == ref["frequency"].to_numpy()).all()
    assert (got["recency_days"].to_numpy() == ref["recency"].to_numpy()).all()
    assert (got["tenure_days"].to_numpy() == ref["T"].to_numpy()).all()
    assert got["monetary"].to_numpy() == pytest.approx(ref["monetary_value"].to_numpy(), 1e-12)
    assert got["total_spend"].to_numpy() == pytest.approx(
        (ref["monetary_value"] * ref["frequency"]).to_numpy(), 1e-12
    )
    assert set(feats["customer_id"]) == set(ref.index)  # customers after as-of only: none
