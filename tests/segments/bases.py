"""Hand-built customer bases: event logs where the right segment name is unambiguous.

Each base is a list of groups; a group is ``n`` customers who all follow one script
(purchase days counted back from the as-of day, optional views, email opens, discounts).
The group index is the segment id, so profiles and names are checked without clustering.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

AS_OF = dt.date(2026, 12, 31)
_COLS = ("customer_id", "ts", "event_type", "amount", "quantity", "discount", "channel",
         "category")  # fmt: skip


@dataclass
class Group:
    """``n`` customers; day lists are days before as-of (0 = the as-of day)."""

    n: int
    purchase_days: list[list[int]] | None = None  # per customer (cycled) or one script
    views_before: int = 0  # views this many days before each purchase (0: none)
    browse_days: list[int] = field(default_factory=list)  # view-only days
    email_days: list[int] = field(default_factory=list)  # email_open days
    discount: float = 0.0  # fraction off on every purchase
    amount: float = 40.0  # per purchase (0: a log without money)
    hour: int = 14
    weekend: bool = False  # move every purchase to the Saturday before


def _ts(days_before: int, hour: int, minute: int = 0) -> dt.datetime:
    d = AS_OF - dt.timedelta(days=days_before)
    return dt.datetime(d.year, d.month, d.day, hour, minute)


def _saturday_before(days_before: int) -> int:
    d = AS_OF - dt.timedelta(days=days_before)
    back = (d.weekday() - 5) % 7
    return days_before + back


def make_log(groups: list[Group], *, seed: int = 0, first_day: int | None = None) -> tuple[
    pl.DataFrame, np.ndarray
]:  # fmt: skip
    """The events of every group and the segment id (group index) of each customer id.

    ``first_day``: days before as-of of one extra event by an extra customer (sets the
    log's horizon); that customer belongs to no group and is dropped by :func:`features`.
    """
    rng = np.random.default_rng(seed)
    rows = []
    seg = []
    cid = 0
    for g_idx, g in enumerate(groups):
        scripts = g.purchase_days or [[]]
        for i in range(g.n):
            days = scripts[i % len(scripts)]
            jitter = int(rng.integers(0, 3))
            for d in days:
                d = max(d + jitter - 1, 0)
                if g.weekend:
                    d = _saturday_before(d)
                rows.append((cid, _ts(d, g.hour, int(rng.integers(0, 59))), "purchase",
                             g.amount * float(rng.uniform(0.8, 1.2)), 1, g.discount, "web",
                             "a"))  # fmt: skip
                if g.views_before:
                    rows.append((cid, _ts(d + g.views_before, g.hour), "view", 0.0, 0, 0.0,
                                 "web", "a"))  # fmt: skip
            for d in g.browse_days:
                rows.append((cid, _ts(d, g.hour, 30), "view", 0.0, 0, 0.0, "web", "b"))
            for d in g.email_days:
                rows.append((cid, _ts(d, 10), "email_open", 0.0, 0, 0.0, "email", None))
            seg.append(g_idx)
            cid += 1
    if first_day is not None:
        rows.append((cid, _ts(first_day, 12), "view", 0.0, 0, 0.0, "web", "a"))
    df = pl.DataFrame(rows, schema=list(_COLS), orient="row").with_columns(
        pl.col("customer_id").cast(pl.Int64),
        pl.col("ts").cast(pl.Datetime("us")),
        pl.col("amount").cast(pl.Float64),
        pl.col("quantity").cast(pl.Int32),
        pl.col("discount").cast(pl.Float64),
    )
    return df, np.array(seg, dtype=np.int64)


def features(log: pl.DataFrame, seg: np.ndarray, *, drop_types: bool = False) -> tuple[
    pl.DataFrame, np.ndarray, int
]:  # fmt: skip
    """Raw features of the grouped customers, their segment ids and the log's horizon."""
    from archetype.features import build_features
    from archetype.features.build import horizon_of

    if drop_types:  # a transaction-only export: no event type, every row a purchase
        log = log.filter(pl.col("event_type") == "purchase")
    horizon = horizon_of(log.lazy(), AS_OF, None)
    feats = build_features(log.lazy(), AS_OF)
    feats = feats.filter(pl.col("customer_id") < len(seg)).sort("customer_id")
    return feats, seg[feats["customer_id"].to_numpy()], horizon
