"""Trigger rules on hand-built logs: the right customers, at the right event time."""

from __future__ import annotations

import datetime as dt

import pytest

from archetype.errors import UserError
from archetype.live.automation import Automation, AutomationConfig, SegmentChange
from archetype.live.backfill import replay
from archetype.live.memkv import MemoryKV
from archetype.live.triggers import LiveEvent, TriggerEngine, read_outbox

T0 = int(dt.datetime(2026, 11, 2, tzinfo=dt.UTC).timestamp()) * 1_000_000
M = 60_000_000
H = 60 * M
D = 24 * H


def ev(cid, t, etype, **kw):
    return LiveEvent(customer_id=cid, ts_us=T0 + t, event_type=etype, **kw)


def run(
    rules,
    events,
    *,
    changes=(),
    names=None,
    shuffle_seed=None,
    batch_size=1000,
    lateness="0s",
    flush_until=None,
    **top,
):
    cfg = AutomationConfig.from_dict({"triggers": {"lateness": lateness, "rule": rules, **top}})
    auto = Automation(cfg, segment_names=names, replay=True)
    res = replay(
        events,
        auto,
        changes=changes,
        shuffle_seed=shuffle_seed,
        batch_size=batch_size,
        flush_until=flush_until,
    )
    return res, auto


def fired(res):
    return sorted((f.rule, f.customer_id, f.ts_us - T0) for f in res.firings)


CART = {
    "name": "cart",
    "kind": "absence",
    "on": "add_to_cart",
    "absent": "purchase",
    "within": "1h",
}


def cart_log():
    return [
        ev(1, 10 * H, "add_to_cart", category="toys"),
        ev(1, 10 * H + M, "view", category="toys"),
        ev(2, 10 * H, "add_to_cart"),
        ev(2, 10 * H + 30 * M, "purchase", amount=20.0),
        ev(3, 10 * H, "add_to_cart"),
        ev(3, 11 * H, "purchase", amount=5.0),  # exactly +1h
        ev(4, 10 * H, "add_to_cart"),
        ev(4, 11 * H + 1, "purchase", amount=5.0),  # +1h+1us
        ev(5, 10 * H, "add_to_cart"),
        ev(5, 10 * H + 20 * M, "add_to_cart"),
        ev(6, 9 * H, "purchase", amount=3.0),
        ev(6, 10 * H, "add_to_cart"),
        ev(7, 23 * H + 30 * M, "add_to_cart"),
        ev(7, D + 10 * M, "purchase", amount=9.0),
        ev(8, 12 * H, "view"),
        ev(8, 13 * H, "session_start"),
        ev(9, 2 * D, "session_start"),  # moves event time past every window
    ]


def test_abandoned_carts_exact_customers_and_times():
    res, _ = run([{**CART, "cooldown": "1d"}], cart_log())
    assert fired(res) == [
        ("cart", 1, 11 * H),
        ("cart", 4, 11 * H),
        ("cart", 5, 11 * H),
        ("cart", 6, 11 * H),
    ]
    f1 = next(f for f in res.firings if f.customer_id == 1)
    assert (f1.anchor_ts_us, f1.anchor_event, f1.category) == (T0 + 10 * H, "add_to_cart", "toys")
    assert f1.status == "replay" and len({f.key for f in res.firings}) == 4


def test_without_cooldown_every_cart_fires():
    res, _ = run([CART], cart_log())
    assert ("cart", 5, 11 * H + 20 * M) in fired(res)
    assert len(res.firings) == 5


@pytest.mark.parametrize("batch_size", [1, 3, 1000])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_shuffled_within_lateness_same_firings(seed, batch_size):
    base, _ = run([{**CART, "cooldown": "1d"}], cart_log(), lateness="2h")
    res, _ = run(
        [{**CART, "cooldown": "1d"}],
        cart_log(),
        lateness="2h",
        shuffle_seed=seed,
        batch_size=batch_size,
    )
    assert res.late == 0
    assert [(f.key, f.ts_us) for f in res.firings] == [(f.key, f.ts_us) for f in base.firings]


def test_flush_stops_at_last_event_time():
    log = [ev(1, 0, "add_to_cart"), ev(2, 30 * M, "view")]
    res, _ = run([CART], log)
    assert res.firings == []  # the hour has not passed in event time
    res, _ = run([CART], log, flush_until=T0 + H)
    assert fired(res) == [("cart", 1, H)]


def test_late_event_is_counted_and_ignored():
    cfg = AutomationConfig.from_dict({"triggers": {"lateness": "0s", "rule": [CART]}})
    eng = Automation(cfg).triggers
    kv = MemoryKV()
    with kv.transaction() as tx:
        eng.apply_events(tx, [ev(1, 0, "add_to_cart"), ev(2, 2 * H, "view")])
        out = eng.advance(tx, T0 + 2 * H)
    assert [f.customer_id for f in out] == [1]
    with kv.transaction() as tx:  # the purchase arrives after the decision: too late
        assert eng.apply_events(tx, [ev(1, 30 * M, "purchase", amount=1.0)]) == 1
        assert eng.advance(tx, T0 + 3 * H) == []
    assert eng.stats["late"] == 1


def test_repeat_views_calendar_day_and_rolling():
    views = [
        ev(1, 10 * H, "view", category="electronics"),
        ev(1, 15 * H, "view", category="electronics"),
        ev(1, 16 * H, "view", category="electronics"),  # third: no second firing
        ev(2, 23 * H, "view", category="electronics"),
        ev(2, D + H, "view", category="electronics"),  # next calendar day
        ev(3, 10 * H, "view", category="electronics"),
        ev(3, 11 * H, "view", category="books"),
        ev(9, 3 * D, "session_start"),
    ]
    day = {
        "name": "twice",
        "kind": "repeat",
        "on": "view",
        "count": 2,
        "calendar_day": True,
        "where": {"category": "electronics"},
    }
    res, _ = run([day], views)
    assert fired(res) == [("twice", 1, 15 * H)]
    rolling = {**day, "calendar_day": False, "within": "24h"}
    res, _ = run([rolling], views)
    assert fired(res) == [("twice", 1, 15 * H), ("twice", 2, D + H)]
    any_cat = {"name": "any2", "kind": "repeat", "on": "view", "count": 2, "within": "1d"}
    res, _ = run([any_cat], views)  # per category: customer 3 saw two categories once each
    assert [c for _, c, _ in fired(res)] == [1, 2]
    res, _ = run([{**any_cat, "per_category": False}], views)
    assert [c for _, c, _ in fired(res)] == [1, 2, 3]


def test_email_open_without_click():
    log = [
        ev(1, 10 * H, "email_open"),
        ev(1, D, "email_click", category="toys"),
        ev(2, 10 * H, "email_open"),
        ev(3, 10 * H, "email_open"),
        ev(3, 2 * D + 10 * H + 1, "email_click"),
        ev(9, 5 * D, "session_start"),
    ]
    rule = {
        "name": "open_no_click",
        "kind": "absence",
        "on": "email_open",
        "absent": "email_click",
        "within": "2d",
    }
    res, _ = run([rule], log)
    assert fired(res) == [
        ("open_no_click", 2, 2 * D + 10 * H),
        ("open_no_click", 3, 2 * D + 10 * H),
    ]


def test_transitions_filters_and_names():
    names = {1: "Loyal", 2: "Lapsing", 3: "VIP"}
    changes = [
        SegmentChange(1, T0, None, 1),  # first assignment: no "entered"
        SegmentChange(1, T0 + D, 1, 2),
        SegmentChange(2, T0, None, 3),
        SegmentChange(2, T0 + 2 * H, 3, 1),
        SegmentChange(3, T0, None, 2),
    ]
    log = [ev(c, 5 * H, "add_to_cart") for c in (1, 2, 3)] + [ev(9, 3 * D, "view")]
    rules = [
        {"name": "win_back", "kind": "transition", "entered": "Lapsing"},
        {"name": "vip_lost", "kind": "transition", "left": 3},
        {"name": "vip_to_loyal", "kind": "transition", "left": "VIP", "entered": "Loyal"},
        {**CART, "segments": ["Lapsing", "VIP"], "exclude_segments": [3]},
    ]
    res, _ = run(rules, log, changes=changes, names=names)
    assert fired(res) == [
        ("cart", 3, 6 * H),  # customer 1 was Loyal, 2 was Loyal by 6h (and VIP excluded)
        ("vip_lost", 2, 2 * H),
        ("vip_to_loyal", 2, 2 * H),
        ("win_back", 1, D),
    ]
    w = next(f for f in res.firings if f.rule == "win_back")
    assert w.detail == {"from": 1, "to": 2} and w.segment_id == 2
    with pytest.raises(UserError, match="no segment is named 'Lost'"):
        run([{"name": "x", "kind": "transition", "entered": "Lost"}], log, names=names)


def test_cooldown_is_per_rule_and_customer():
    log = [
        ev(1, 0, "add_to_cart"),
        ev(1, 2 * H, "add_to_cart"),
        ev(1, 25 * H, "add_to_cart"),
        ev(2, 0, "add_to_cart"),
        ev(9, 3 * D, "view"),
    ]
    res, _ = run([{**CART, "cooldown": "1d"}], log)
    assert fired(res) == [("cart", 1, H), ("cart", 1, 26 * H), ("cart", 2, H)]


def test_outbox_rows_and_statuses():
    cfg = AutomationConfig.from_dict(
        {"triggers": {"lateness": "0s", "webhook": "http://127.0.0.1:9/h", "rule": [CART]}}
    )
    kv = MemoryKV()
    eng = TriggerEngine(cfg.triggers)
    with kv.transaction() as tx:
        eng.apply_events(tx, cart_log())
        live = eng.advance(tx, T0 + 3 * D)
    assert {f.status for f in live} == {"pending"}
    with kv.transaction() as tx:
        rows = read_outbox(tx)
    assert [f.key for f in rows] == [f.key for f in sorted(live, key=lambda f: (f.ts_us, f.key))]
    assert len(kv.namespace("trg.pending")) == len(live)
    # the same log replayed gives the same keys, recorded as replay (never delivered)
    res, _ = run([CART], cart_log(), webhook="http://127.0.0.1:9/h")
    assert sorted(f.key for f in res.firings) == sorted(f.key for f in live)
    assert {f.status for f in res.firings} == {"replay"}
    assert res.kv.namespace("trg.pending") == {}


def test_unknown_experiment_is_a_user_error():
    with pytest.raises(UserError, match="experiment 'nope' is not defined"):
        run([{**CART, "experiment": "nope"}], cart_log())
