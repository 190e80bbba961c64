"""A small random canonical event log for tests and benchmarks (not a behavioral model:
``archetype.synth`` plants archetypes; this only exercises every code path)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from archetype.events.schema import EVENT_TYPES

_P = np.array([0.40, 0.10, 0.08, 0.12, 0.05, 0.05, 0.02, 0.18])


def random_events(
    n_events: int,
    n_customers: int,
    *,
    seed: int = 0,
    start: dt.date = dt.date(2026, 1, 1),
    days: int = 365,
    channels: tuple[str, ...] = ("web", "app", "email", "store"),
    categories: int = 12,
) -> pl.DataFrame:
    """``n_events`` canonical events (synth's columns) over ``days`` days from ``start``.

    Includes returns (negative purchase amounts), discounts, null channels/categories, and
    customer activity that is heavy-tailed (Zipf-like over customer ids).
    """
    rng = np.random.default_rng(seed)
    w = 1.0 / np.arange(1, n_customers + 1) ** 0.6
    cust = rng.choice(n_customers, size=n_events, p=w / w.sum()).astype(np.int64)
    base = np.datetime64(start.isoformat(), "us")
    offs = rng.integers(0, days * 86_400_000_000, n_events, dtype=np.int64)
    et = np.array(EVENT_TYPES)[rng.choice(len(EVENT_TYPES), size=n_events, p=_P)]
    is_p = et == "purchase"
    amount = np.where(is_p, np.round(rng.lognormal(3.0, 1.0, n_events), 2), 0.0)
    amount = np.where(is_p & (rng.random(n_events) < 0.05), -amount, amount)
    discount = np.where(is_p & (rng.random(n_events) < 0.3), 0.2, 0.0)
    ch = np.array(channels, dtype=object)[rng.integers(0, len(channels), n_events)]
    ch[rng.random(n_events) < 0.05] = None
    cat = np.array([f"cat{i:02d}" for i in range(categories)], dtype=object)[
        rng.integers(0, categories, n_events)
    ]
    cat[np.isin(et, ["email_open", "email_click", "referral", "session_start"])] = None
    return pl.DataFrame(
        {
            "customer_id": cust,
            "ts": base + offs.astype("timedelta64[us]"),
            "event_type": et,
            "amount": amount,
            "quantity": np.ones(n_events, dtype=np.int32),
            "discount": discount,
            "channel": pl.Series(ch.tolist(), dtype=pl.String),
            "category": pl.Series(cat.tolist(), dtype=pl.String),
        }
    )
