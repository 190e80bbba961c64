"""Record layouts and keys: round trips, key order, event identities."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from archetype.live.records import (
    CustomerRecord,
    SegRecord,
    customer_id,
    customer_key,
    event_key,
    event_keys,
    shard_of,
)


def test_customer_keys_round_trip_and_sort_numerically():
    ints = [-(2**63), -5, 0, 3, 10, 2**40, 2**63 - 1]
    keys = [customer_key(i) for i in ints]
    assert [customer_id(k) for k in keys] == ints
    assert sorted(keys) == keys
    for s in ("a", "ü-ñ", "0042", "e" * 64):
        assert customer_id(customer_key(s)) == s
    assert customer_key(42) != customer_key("42")
    assert {shard_of(customer_key(i), 4) for i in range(200)} == {0, 1, 2, 3}


def _strs(a) -> list:
    return [None if x is None else str(x) for x in a]


def test_vectorized_event_keys_equal_the_definition():
    rng = np.random.default_rng(0)
    n = 400
    df = pl.DataFrame(
        {
            "customer_id": rng.integers(0, 9, n),
            "ts": [
                dt.datetime(2026, 1, 1) + dt.timedelta(microseconds=int(x))
                for x in rng.integers(0, 10**12, n)
            ],
            "event_type": _strs(rng.choice(["view", "purchase", "add_to_cart"], n)),
            "amount": rng.choice([0.0, -0.0, 1.5, -3.25, np.nan, 1e300], n),
            "quantity": rng.integers(-2, 5, n).astype(np.int32),
            "discount": rng.choice([0.0, 0.1, 0.5], n),
            "channel": _strs(rng.choice(["web", "app", None], n)),
            "category": _strs(rng.choice(["books", "", None], n)),
            "event_id": _strs(rng.choice(["e1", "e2", None, None, None], n)),
        }
    )
    got = event_keys(df)
    want = [
        event_key(
            r["event_id"],
            int(r["ts"].timestamp() * 0) + _us(r["ts"]),
            r["event_type"],
            r["amount"],
            r["quantity"],
            r["discount"],
            r["channel"],
            r["category"],
        )
        for r in df.iter_rows(named=True)
    ]
    assert got == want
    # same fields, same key; any field differs, another key; an id decides alone
    base = ("e", 1, "view", 1.0, 1, 0.0, "web", "x")
    k = event_key(None, *base[1:])
    assert event_key(None, *base[1:]) == k
    for i in range(1, 8):
        changed = list(base[1:])
        changed[i - 1] = {1: 2, 2: "purchase", 3: 1.5, 4: 2, 5: 0.5, 6: None, 7: None}[i]
        assert event_key(None, *changed) != k
    assert event_key("id", *base[1:]) == event_key("id", 99, "purchase", 5.0, 3, 0.1, None, None)
    assert event_key(None, *base[1:6], "", "x") != event_key(None, *base[1:6], None, "x")


def _us(t: dt.datetime) -> int:
    return (t - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)


def test_records_round_trip():
    rec = CustomerRecord(np.array([1, 2**64 - 1], "<u8"), np.array([5, 6], "<i4"), b"state")
    back = CustomerRecord.decode(rec.encode())
    assert back.event_keys.tolist() == [1, 2**64 - 1] and back.state == b"state"
    back.prune(6)
    assert back.event_keys.tolist() == [2**64 - 1]
    s = SegRecord(3, None, 1.5, None, 123, 20000, 30, "2026-12-31", np.array([1, 2], np.float32))
    t = SegRecord.decode(s.encode())
    assert (
        t.segment_id,
        t.previous_segment_id,
        t.distance,
        t.margin,
        t.moved_at_us,
        t.as_of_day,
        t.horizon,
        t.model_version,
    ) == (3, None, 1.5, None, 123, 20000, 30, "2026-12-31")
    assert t.vector.tolist() == [1.0, 2.0]
    none = SegRecord.decode(SegRecord(None, 4, None, None, None, 1, 1, "v", None).encode())
    assert none.segment_id is None and none.previous_segment_id == 4 and none.vector is None
