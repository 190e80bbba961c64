"""Replays of a synthetic log: equal to an independent Polars computation, deterministic
under shuffled arrival, and exactly-once across a crash and restart."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from archetype.events.schema import CONTENT_COLUMNS
from archetype.live.automation import Automation, AutomationConfig
from archetype.live.backfill import replay
from archetype.live.experiments import read_exposures
from archetype.live.memkv import MemoryKV
from archetype.live.triggers import events_from_frame, read_outbox
from archetype.synth import generate

H = 3_600_000_000
D = 24 * H
CONTENT = list(CONTENT_COLUMNS)

RULES = [
    {"name": "cart", "kind": "absence", "on": "add_to_cart", "absent": "purchase", "within": "1h"},
    {"name": "twice", "kind": "repeat", "on": "view", "count": 2, "calendar_day": True},
    {
        "name": "open_no_click",
        "kind": "absence",
        "on": "email_open",
        "absent": "email_click",
        "within": "2d",
    },
    {
        "name": "cart_test",
        "kind": "absence",
        "on": "add_to_cart",
        "absent": "purchase",
        "within": "2h",
        "cooldown": "3d",
        "experiment": "reminder",
    },
]
EXPERIMENTS = {
    "reminder": {
        "holdout": 0.2,
        "variants": {"a": 1, "b": 1},
        "allocation": "thompson",
        "conversion": {"event": "purchase", "within": "7d"},
    }
}


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> pl.DataFrame:
    out = tmp_path_factory.mktemp("synth")
    generate(out, customers=600, days=70, seed=5)
    df = pl.read_parquet(str(out / "events" / "*" / "*.parquet"), hive_partitioning=False)
    return (
        df.select(CONTENT)
        .with_columns(pl.col("ts").dt.cast_time_unit("us").cast(pl.Int64).alias("t"))
        .sort("t", "customer_id")
    )


def automation(lateness: str = "30m") -> Automation:
    cfg = AutomationConfig.from_dict(
        {"triggers": {"lateness": lateness, "rule": RULES}, "experiments": EXPERIMENTS}
    )
    return Automation(cfg, replay=True)


def summary(res):
    return (
        [(f.key, f.rule, f.customer_id, f.ts_us, f.variant) for f in res.firings],
        [
            (e["key"], e["variant"], e["status"], e["matured"], e["conversion_ts_us"])
            for e in res.exposures
        ],
    )


def test_matches_independent_polars_reference(log):
    res = replay(events_from_frame(log), automation(), batch_size=700)
    end = int(log["t"].max())
    got = {
        r: sorted((f.customer_id, f.ts_us) for f in res.firings if f.rule == r)
        for r in ("cart", "twice", "open_no_click")
    }
    uniq = log.unique(CONTENT)  # identical events without an id are one event

    def absence(on, absent, within):
        a = uniq.filter(pl.col("event_type") == on).select("customer_id", "t")
        b = uniq.filter(pl.col("event_type") == absent).select(
            "customer_id", pl.col("t").alias("tb")
        )
        hit = (
            a.join(b, on="customer_id")
            .filter((pl.col("tb") >= pl.col("t")) & (pl.col("tb") <= pl.col("t") + within))
            .select("customer_id", "t")
            .unique()
        )
        fire = (
            a.unique()
            .join(hit, on=["customer_id", "t"], how="anti")
            .with_columns((pl.col("t") + within).alias("f"))
            .filter(pl.col("f") <= end)
        )
        return sorted(zip(fire["customer_id"].to_list(), fire["f"].to_list(), strict=True))

    views = (
        uniq.filter(pl.col("event_type") == "view")
        .with_columns((pl.col("t") // D).alias("day"))
        .sort("t")
        .with_columns(pl.int_range(pl.len()).over("customer_id", "category", "day").alias("rank"))
        .filter(pl.col("rank") == 1)
    )
    twice = sorted(zip(views["customer_id"].to_list(), views["t"].to_list(), strict=True))

    assert got["cart"] == absence("add_to_cart", "purchase", H)
    assert got["open_no_click"] == absence("email_open", "email_click", 2 * D)
    assert got["twice"] == twice
    assert len(got["cart"]) > 50 and len(got["twice"]) > 100 and len(got["open_no_click"]) > 50


def test_replay_twice_and_shuffled_gives_same_firings(log):
    events = events_from_frame(log)
    base = summary(replay(events, automation(), batch_size=500))
    assert len(base[0]) > 300 and len(base[1]) > 20
    assert summary(replay(events, automation(), batch_size=500)) == base
    for seed, bs in ((1, 97), (2, 1000), (3, 1)):
        res = replay(events, automation(), batch_size=bs, shuffle_seed=seed)
        assert res.late == 0
        assert summary(res) == base, f"seed={seed} batch={bs}"


def test_duplicate_deliveries_of_events_change_nothing(log):
    """Events without ids delivered twice (an upstream retry) are collapsed by content."""
    events = events_from_frame(log)
    base = summary(replay(events, automation(), batch_size=500))
    rng = np.random.default_rng(0)
    dup = [events[i] for i in rng.choice(len(events), len(events) // 20, replace=False)]
    res = replay(events + dup, automation(), batch_size=500, shuffle_seed=4)
    assert summary(res) == base


class Crash(RuntimeError):
    pass


def ingest(kv, auto, batches, crash_at=None):
    """A service-like loop: state, watermark and ingest offset commit in one transaction."""
    with kv.transaction() as tx:
        raw = tx.get("ingest", "offset")
    start = 0 if raw is None else int(raw)
    for i in range(start, len(batches)):
        with kv.transaction() as tx:
            auto.triggers.apply_events(tx, batches[i])
            seen = max(int(tx.get("ingest", "seen") or 0), max(e.ts_us for e in batches[i]))
            auto.on_watermark(tx, seen)
            tx.put("ingest", "offset", str(i + 1).encode())
            tx.put("ingest", "seen", str(seen).encode())
            if i == crash_at:
                raise Crash(i)


@pytest.mark.parametrize("crash_points", [(3,), (0, 7, 8), (5, 11, 17, 19)])
def test_killed_service_resumes_without_losing_or_duplicating(log, crash_points):
    events = events_from_frame(log)
    order = np.argsort(np.array([e.ts_us for e in events]), kind="stable")
    batches = [[events[i] for i in order[lo : lo + 300]] for lo in range(0, len(order), 300)]
    ref_kv = MemoryKV()
    ingest(ref_kv, automation(), batches)
    kv = MemoryKV()
    for c in crash_points:
        with pytest.raises(Crash):
            ingest(kv, automation(), batches, crash_at=c)  # a fresh process each time
    ingest(kv, automation(), batches)
    with ref_kv.transaction() as a, kv.transaction() as b:
        ref, got = read_outbox(a), read_outbox(b)
        assert [f.encode() for f in got] == [f.encode() for f in ref]
        assert read_exposures(a) == read_exposures(b)
    assert len({f.key for f in got}) == len(got) > 300
