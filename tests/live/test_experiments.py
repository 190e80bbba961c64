"""Experiments: sticky bucketing, splits within sampling error, attribution, Thompson sampling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from archetype.live.automation import Automation, AutomationConfig
from archetype.live.experiments import (
    HOLDOUT,
    ExperimentRunner,
    bucket,
    parse_experiments,
    prob_best,
    read_exposures,
)
from archetype.live.memkv import MemoryKV
from archetype.live.triggers import LiveEvent

H = 3_600_000_000
D = 24 * H


def runner(**exp):
    return ExperimentRunner(parse_experiments({"e": {"variants": {"a": 1, "b": 1}, **exp}}))


def assign_all(kv, r, ids, name="e"):
    with kv.transaction() as tx:
        return [r.variant_for(tx, name, c) for c in ids]


def test_bucket_is_a_pure_uniform_function():
    ids = range(100_000)
    b = np.array([bucket(c, "salt") for c in ids])
    assert b.min() >= 0 and b.max() < 10_000
    assert np.array_equal(b[:50], [bucket(c, "salt") for c in range(50)])
    assert bucket(np.int64(7), "salt") == bucket(7, "salt")  # NumPy ints are ints
    counts = np.bincount(b // 100, minlength=100)
    assert stats.chisquare(counts).pvalue > 1e-3
    # a new salt re-draws independently
    b2 = np.array([bucket(c, "salt2") for c in range(20_000)])
    assert abs(np.corrcoef(b[:20_000], b2)[0, 1]) < 0.03


def test_fixed_split_within_sampling_error():
    r = runner(holdout=0.1, variants={"a": 1, "b": 3})
    got = assign_all(MemoryKV(), r, range(40_000))
    n = len(got)
    for v, p in ((HOLDOUT, 0.1), ("a", 0.225), ("b", 0.675)):
        k = got.count(v)
        assert stats.binomtest(k, n, p).pvalue > 1e-4, (v, k / n)


def test_sticky_under_restart_and_allocation_change():
    kv = MemoryKV()
    first = assign_all(kv, runner(holdout=0.1), range(5000))
    # restart: a new runner over the same store, and a new store (pure hash) agree
    assert assign_all(kv, runner(holdout=0.1), range(5000)) == first
    assert assign_all(MemoryKV(), runner(holdout=0.1), range(5000)) == first
    # allocation change: everyone already assigned keeps their variant ...
    changed = runner(holdout=0.3, variants={"a": 1, "b": 9})
    assert assign_all(kv, changed, range(5000)) == first
    # ... and new customers follow the new split
    new = assign_all(kv, changed, range(5000, 35_000))
    for v, p in ((HOLDOUT, 0.3), ("a", 0.07), ("b", 0.63)):
        assert stats.binomtest(new.count(v), len(new), p).pvalue > 1e-4
    # a variant removed from the config is re-drawn among the remaining ones
    only_b = runner(holdout=0.1, variants={"b": 1})
    again = assign_all(kv, only_b, range(5000))
    assert all(v == "b" for v, old in zip(again, first, strict=True) if old == "a")
    assert all(v == old for v, old in zip(again, first, strict=True) if old != "a")


def cart_rule(**kw):
    return {
        "name": "cart",
        "kind": "absence",
        "on": "add_to_cart",
        "absent": "purchase",
        "within": "1h",
        **kw,
    }


def test_conversion_attributed_per_exposure():
    cfg = AutomationConfig.from_dict(
        {
            "triggers": {"lateness": "0s", "rule": [cart_rule(experiment="e")]},
            "experiments": {
                "e": {
                    "holdout": 0.01,
                    "variants": {"a": 1},
                    "conversion": {
                        "event": "purchase",
                        "within": "7d",
                        "where": {"min_amount": 10},
                    },
                }
            },
        }
    )
    auto = Automation(cfg)
    kv = MemoryKV()
    evs = [
        LiveEvent(1, 0, "add_to_cart"),
        LiveEvent(1, D, "purchase", amount=50.0),  # converts
        LiveEvent(2, 0, "add_to_cart"),
        LiveEvent(2, 8 * D, "purchase", amount=50.0),  # late
        LiveEvent(3, 0, "add_to_cart"),
        LiveEvent(3, D, "purchase", amount=5.0),  # too small
        LiveEvent(4, 0, "add_to_cart"),
        LiveEvent(4, 2 * D, "add_to_cart"),  # two exposures
        LiveEvent(4, 3 * D, "purchase", amount=20.0),  # ... one purchase converts both
        LiveEvent(9, 20 * D, "view"),
    ]
    with kv.transaction() as tx:
        auto.triggers.apply_events(tx, evs)
        auto.on_watermark(tx, 5 * D)
        mid = {
            (e["customer_id"], e["ts_us"]): (e["status"], e["matured"]) for e in read_exposures(tx)
        }
        auto.on_watermark(tx, 20 * D)
        rows = read_exposures(tx)
        st = auto.experiments.stats(tx, "e")
    assert mid[(1, H)] == ("converted", False)  # converted, window still open
    assert mid[(2, H)] == ("open", False)
    got = {(e["customer_id"], e["ts_us"]): (e["status"], e["matured"], e["value"]) for e in rows}
    assert got == {
        (1, H): ("converted", True, 50.0),
        (2, H): ("not_converted", True, None),
        (3, H): ("not_converted", True, None),
        (4, H): ("converted", True, 20.0),
        (4, 2 * D + H): ("converted", True, 20.0),
    }
    for v, (n, succ, fail) in st.items():
        mine = [e for e in rows if e["variant"] == v]
        assert n == len(mine)
        assert succ == sum(e["status"] == "converted" for e in mine)
        assert fail == sum(e["status"] == "not_converted" for e in mine)
    assert sum(v[0] for v in st.values()) == 5


def simulate(p, *, n_customers, holdout=0.1, seed=0, allocation="thompson"):
    """Customers abandon carts day after day; each exposed one converts with p[variant]."""
    cfg = AutomationConfig.from_dict(
        {
            "triggers": {"lateness": "0s", "rule": [cart_rule(experiment="e")]},
            "experiments": {
                "e": {
                    "holdout": holdout,
                    "variants": dict.fromkeys(p, 1),
                    "allocation": allocation,
                    "conversion": {"event": "purchase", "within": "3d"},
                }
            },
        }
    )
    auto = Automation(cfg)
    kv = MemoryKV()
    rng = np.random.default_rng(seed)
    rate = {**p, HOLDOUT: 0.05}
    per_day = 100
    exposures = []
    for day in range(n_customers // per_day + 5):
        t = day * D
        cust = range(day * per_day, min((day + 1) * per_day, n_customers))
        with kv.transaction() as tx:
            auto.triggers.apply_events(
                tx,
                [LiveEvent(c, t + 1000 + c, "add_to_cart") for c in cust]
                + [LiveEvent(-1, t + 2 * H, "view")],
            )
            firings = auto.on_watermark(tx, t + 2 * H)
            buys = []
            for f in firings:
                exposures.append((f.ts_us, f.variant))
                if rng.random() < rate[f.variant]:
                    buys.append(
                        LiveEvent(
                            f.customer_id,
                            f.ts_us + int(rng.integers(1, 2 * D)),
                            "purchase",
                            amount=10.0,
                        )
                    )
            auto.triggers.apply_events(tx, buys)
    with kv.transaction() as tx:
        auto.on_watermark(tx, (day + 10) * D)
        return exposures, auto.experiments.stats(tx, "e")


def test_thompson_converges_and_keeps_the_holdout():
    p = {"a": 0.04, "b": 0.12, "c": 0.06}
    exposures, st = simulate(p, n_customers=6000)
    variants = [v for _, v in exposures]
    n = len(variants)
    assert n == 6000
    hold = variants.count(HOLDOUT)
    assert stats.binomtest(hold, n, 0.1).pvalue > 1e-4  # never starved, never grown
    late = [v for v in variants[n // 2 :] if v != HOLDOUT]
    assert late.count("b") / len(late) > 0.8
    pb = prob_best(st, list(p))
    assert pb["b"] > 0.95
    # every exposure of the run is counted, conversions and failures add up
    assert sum(v[0] for v in st.values()) == n
    assert all(v[1] + v[2] == v[0] for v in st.values())


def test_thompson_is_deterministic():
    p = {"a": 0.05, "b": 0.08}
    assert simulate(p, n_customers=1500, seed=3) == simulate(p, n_customers=1500, seed=3)


@pytest.mark.parametrize("allocation", ["fixed", "thompson"])
def test_holdout_share_is_bucket_based(allocation):
    exposures, _ = simulate(
        {"a": 0.01, "b": 0.2}, n_customers=3000, holdout=0.25, allocation=allocation
    )
    v = [x for _, x in exposures]
    assert stats.binomtest(v.count(HOLDOUT), len(v), 0.25).pvalue > 1e-4
