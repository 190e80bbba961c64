"""Naming on feature tables: rules, composition, uniqueness, overrides, sticky names,
config, triggers and the words used."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from archetype.errors import UserError
from archetype.segments.config import SegmentsConfig
from archetype.segments.display import hour_from_circle, money, time_of_day, value
from archetype.segments.evidence import describe_segment
from archetype.segments.lifecycle import STATES
from archetype.segments.naming import compose, explain_names, name_segments
from archetype.segments.profiles import profile_segments
from archetype.segments.rules import RULES, SIGNALS, active_rules, occasion_rule
from archetype.segments.triggers import (
    OCCASION_TRIGGERS,
    STATE_TRIGGERS,
    TRIGGERS,
    suggest_triggers,
)

# active repeat buyers with average behavior
BASE = {
    "frequency": 5.0, "purchases": 5.0, "recency_days": 20.0, "monetary": 50.0,
    "total_spend": 250.0, "tenure_days": 300.0, "interpurchase_mean_days": 50.0,
    "discount_share": 0.1, "cart_abandonment_rate": 0.2, "carts_per_week": 0.1,
    "email_opens_per_week": 0.1, "referrals": 0.2, "weekend_share": 0.28,
    "views_per_week": 0.3, "view_to_purchase": 0.3,
}  # fmt: skip

PLANTED = {
    0: {},
    1: {"discount_share": 0.8},
    2: {"cart_abandonment_rate": 0.9, "carts_per_week": 0.5},
    3: {
        "email_opens_per_week": 0.6,
        "frequency": 0.0,
        "purchases": 0.0,
        "total_spend": 0.0,
        "monetary": 0.0,
        "recency_days": 365.0,
    },  # fmt: skip
    4: {"total_spend": 3000.0, "monetary": 400.0},
    5: {"recency_days": 250.0},
}


def make(planted, rng, per=40, drop=(), base=None):
    rows, seg = [], []
    for sid, diff in planted.items():
        for _ in range(per):
            values = {**(base or BASE), **diff}
            rows.append({k: v * float(rng.uniform(0.9, 1.1)) for k, v in values.items()})
            seg.append(sid)
    df = pl.DataFrame(rows).drop(list(drop))
    return df, np.array(seg)


def prof(df, seg, **kw):
    return profile_segments(df, seg, horizon_days=365, **kw)


def test_planted_behaviors_get_their_names(rng):
    df, seg = make(PLANTED, rng)
    names = name_segments(prof(df, seg))
    assert names[1] == "Deal hunters"
    assert names[2] == "Cart abandoners"
    assert names[3] == "Email fans (non-buyers)"
    assert names[4] == "VIP big spenders"
    assert names[5] == "Lapsed customers"
    assert names[0] == "Active repeat buyers"
    assert len(set(names.values())) == len(names)


def test_names_unique_when_two_segments_share_a_rule(rng):
    planted = {0: {}, 1: {"discount_share": 0.8}, 2: {"discount_share": 0.95, "referrals": 0.05},
               3: {}, 4: {}, 5: {}}  # fmt: skip
    df, seg = make(planted, rng)
    p = prof(df, seg)
    res = explain_names(p)
    assert len({n.name for n in res.values()}) == 6
    # the stronger deal hunter keeps the plain name, the other gets a qualifier + evidence
    assert res[2].name == "Deal hunters"
    assert res[1].name.startswith("Deal hunters · ")
    assert len(res[1].evidence) == len(res[2].evidence) + 1


def test_compose_lifecycle_and_behavior():
    deal = next(r for r in RULES if r.name == "Deal hunters")
    loyal = next(r for r in RULES if r.name == "Loyal advocates")
    email = next(r for r in RULES if r.name == "Email fans")
    assert compose("active", deal) == "Deal hunters"
    assert compose(None, deal) == "Deal hunters"
    assert compose("lapsed", deal) == "Lapsed deal hunters"
    assert compose("lapsed", loyal) == "Lapsed loyalists"
    assert compose("lapsing", loyal) == "Lapsing loyalists"
    assert compose("non_buyer", email) == "Email fans (non-buyers)"
    assert compose("new", deal) == "New deal hunters"
    assert compose("one_time_lapsed", None) == "Lapsed one-time buyers"
    assert compose(None, None) is None


def test_behavior_joins_the_lifecycle_word(rng):
    planted = {0: {}, 1: {"recency_days": 250.0, "discount_share": 0.9}}
    df, seg = make(planted, rng)
    res = explain_names(prof(df, seg))
    assert res[1].name == "Lapsed deal hunters"
    assert res[1].state == "lapsed" and res[1].rule == "Deal hunters"
    assert res[1].evidence[0].startswith("100% lapsed")


def test_habits_need_repeat_buyers(rng):
    # one purchase on a weekend is no habit: one-time buyers are not "Weekend shoppers"
    one = {"frequency": 1.0, "purchases": 1.0, "weekend_share": 1.0, "recency_days": 30.0}
    df, seg = make({0: {}, 1: one}, rng)
    res = explain_names(prof(df, seg))
    assert res[1].name == "One-time buyers"


def test_absolute_floor_blocks_a_weak_contrast(rng):
    # far above average, but only 20% of purchases discounted: not "Deal hunters"
    base = {**BASE, "discount_share": 0.02}
    df, seg = make({0: {}, 1: {"discount_share": 0.2}}, rng, base=base)
    p = prof(df, seg)
    assert p.std_diff[p.row(1), p.feature("discount_share")] > 0.8
    assert "Deal hunters" not in name_segments(p).values()


def test_deterministic_and_order_independent(rng):
    df, seg = make(PLANTED, rng)
    a = name_segments(prof(df, seg))
    perm = rng.permutation(df.height)
    b = name_segments(prof(df[perm], seg[perm]))
    assert a == b


def test_missing_feature_fails_soft(rng):
    df, seg = make(PLANTED, rng, drop=("discount_share",))
    names = name_segments(prof(df, seg))
    assert "Deal hunters" not in names.values()
    assert names[2] == "Cart abandoners"
    assert len(set(names.values())) == len(names)


def test_overrides_and_sticky(rng):
    df, seg = make(PLANTED, rng)
    p = prof(df, seg)
    res = explain_names(p, overrides={1: "Bargain fans"},
                        sticky={2: "Cart abandoners", 9: "x"})  # fmt: skip
    assert res[1].name == "Bargain fans" and res[1].source == "override"
    assert res[1].automatic == "Deal hunters" and res[1].evidence  # the rules' reading
    assert res[2].name == "Cart abandoners" and res[2].source == "sticky"
    assert 9 not in res
    # a sticky name its evidence no longer supports is not kept
    res = explain_names(p, sticky={0: "Deal hunters"})
    assert res[0].name != "Deal hunters" and res[0].source == "rules"
    assert res[1].name == "Deal hunters"
    # a sticky name that clashes with an override is not reused
    names = name_segments(p, overrides={1: "Cart abandoners"}, sticky={2: "Cart abandoners"})
    assert names[1] == "Cart abandoners" and names[2] != "Cart abandoners"


def test_rule_overrides_from_config(rng):
    df, seg = make(PLANTED, rng)
    off = {"naming": {"rules": {"Deal hunters": {"enabled": False}}}}
    assert "Deal hunters" not in name_segments(prof(df, seg, config=off)).values()
    strict = {"naming": {"rules": {"Deal hunters": {"level": 0.95}}}}
    assert "Deal hunters" not in name_segments(prof(df, seg, config=strict)).values()
    loose = {"naming": {"rules": {"Cart abandoners": {"z": 0.1, "level": 0.1}}}}
    rules = {r.name: r for r in active_rules(prof(df, seg, config=loose))}
    assert rules["Cart abandoners"].conditions[0].z == 0.1
    assert rules["Cart abandoners"].conditions[0].level == 0.1


def test_config_errors_name_the_key():
    with pytest.raises(UserError, match=r"\[segments\] naming.*unknown rule"):
        SegmentsConfig.from_dict({"naming": {"rules": {"Bargain fans": {"z": 1}}}})
    with pytest.raises(UserError, match=r"\[segments\] lifecycle.lapsed_days"):
        SegmentsConfig.from_dict({"lifecycle": {"lapsed_days": "soon"}})
    with pytest.raises(UserError, match="lapsed_days=60 should be > lapsing_days=90"):
        SegmentsConfig.from_dict({"lifecycle": {"lapsed_days": 60}})
    with pytest.raises(UserError, match=r"\[segments\] colour"):
        SegmentsConfig.from_dict({"colour": "red"})
    cfg = SegmentsConfig.from_dict({"currency": "€", "names": {"3": "Bargain fans"}})
    assert cfg.names == {3: "Bargain fans"} and cfg.currency == "€"


def test_every_rule_and_state_has_triggers_and_declared_signals():
    for rule in RULES:
        for c in rule.conditions:
            assert c.signal in SIGNALS
        assert rule.name in TRIGGERS
    for st in STATES:
        if st in ("one_time", "one_time_lapsed", "new", "non_buyer", "active", "lapsing"):
            assert st in STATE_TRIGGERS
    assert occasion_rule("valentines").name == "Valentines shoppers"


def test_triggers_follow_state_and_rule(rng):
    df, seg = make(PLANTED, rng)
    p = prof(df, seg)
    trig = suggest_triggers(p)
    assert trig[2][0] == TRIGGERS["Cart abandoners"][0]
    assert trig[5][0] == STATE_TRIGGERS["lapsed"][0]
    assert trig[3][0] == STATE_TRIGGERS["non_buyer"][0]
    assert TRIGGERS["Email fans"][0] in trig[3]
    assert all(trig[s] for s in PLANTED)
    base = {**BASE, "occasion_share_valentines": 0.05}
    df, seg = make({0: {}, 1: {"occasion_share_valentines": 0.9}}, rng, base=base)
    p = prof(df, seg)
    assert name_segments(p)[1] == "Valentines shoppers"
    assert suggest_triggers(p)[1] == list(OCCASION_TRIGGERS)


def test_describe_segment_words_and_counts(rng):
    df, seg = make(PLANTED, rng)
    p = prof(df, seg)
    lines = describe_segment(p, 1, n=1)
    assert lines[0].startswith("share of purchases on discount: 80% vs")
    assert "x the average" in lines[0] and "over 40 buyers, 100% of the segment" in lines[0]
    # non-buyers: purchase features are not defined for them, so never "what sets them apart"
    assert not any("discount" in s for s in describe_segment(p, 3, n=10))


def test_money_and_values_in_words():
    assert money(1234.5, "€") == "€1,234" and money(12.5, "EUR") == "12.50 EUR"
    assert money(-3.0, "$") == "-$3.00" and money(7.0) == "7.00"
    assert value(0.42, "fraction") == "42%" and value(36.0, "hours") == "36 h"
    assert value(2.5, "views/week") == "2.5/week" and value(12.0, "days") == "12 days"


def test_time_of_day_from_sin_cos():
    for h in (0.0, 8.0, 13.5, 23.0):
        a = 2 * math.pi * h / 24
        hour, r = hour_from_circle(math.sin(a), math.cos(a))
        assert hour == pytest.approx(h % 24, abs=1e-9) and r == pytest.approx(1.0)
    assert time_of_day(23.1, 0.9) == "mostly late evening (around 23:00)"
    assert time_of_day(11.6, 0.9) == "mostly midday (around 12:00)"
    assert time_of_day(3.0, 0.05) == "spread through the day"
