"""Trigger/experiment/learning TOML tables parse into typed models; mistakes are one line."""

from __future__ import annotations

import pytest

from archetype.errors import UserError
from archetype.live.automation import AutomationConfig, load_config
from archetype.live.triggers.config import (
    AbsenceRule,
    RepeatRule,
    TransitionRule,
    TriggersConfig,
    format_duration,
    parse_duration,
)

TOML = """
[triggers]
lateness = "5m"
webhook = "http://127.0.0.1:9/hook"

[[triggers.rule]]
name = "abandoned_cart"
kind = "absence"
on = "add_to_cart"
absent = "purchase"
within = "1h"
cooldown = "1d"
segments = ["Cart abandoners", 3]
experiment = "cart_reminder"

[[triggers.rule]]
name = "electronics_twice"
kind = "repeat"
on = "view"
where = { category = "electronics" }
count = 2
calendar_day = true

[[triggers.rule]]
name = "win_back"
kind = "transition"
entered = "Lapsing"

[experiments.cart_reminder]
holdout = 0.2
variants = { email = 1, push = 3 }
allocation = "thompson"
conversion = { event = "purchase", within = "7d" }

[learning]
half_life = "14d"
max_move = 0.1
"""


def test_parse_duration():
    assert parse_duration("1h") == 3_600_000_000
    assert parse_duration("1h30m") == 5_400_000_000
    assert parse_duration("2d") == 2 * 86_400_000_000
    assert parse_duration("250ms") == 250_000
    assert parse_duration(90) == 90_000_000
    for bad in ("1x", "h", "", "1.5h", -1, True, None, "1h 2"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    for s in ("1w2d", "3h", "1m1s", "0s", "7us"):
        assert format_duration(parse_duration(s)) == s


def test_full_config(tmp_path):
    p = tmp_path / "live.toml"
    p.write_text(TOML)
    cfg = load_config(p)
    assert isinstance(cfg, AutomationConfig)
    rules = cfg.triggers.rules
    assert [type(r) for r in rules] == [AbsenceRule, RepeatRule, TransitionRule]
    assert rules[0].within == 3_600_000_000 and rules[0].cooldown == 86_400_000_000
    assert rules[0].segments == ["Cart abandoners", 3]
    assert rules[1].where.categories() == frozenset({"electronics"})
    assert rules[1].lookback == 86_400_000_000
    exp = cfg.experiments["cart_reminder"]
    assert exp.salt == "cart_reminder" and exp.holdout_buckets == 2000
    assert list(exp.variants) == ["email", "push"]
    assert cfg.learning.half_life == 14 * 86_400_000_000
    assert cfg.triggers.lateness == 300_000_000


@pytest.mark.parametrize(
    ("rule", "needle"),
    [
        (
            {
                "name": "x",
                "kind": "absence",
                "on": "add_to_cart",
                "absent": "purchase",
                "within": "1 hour",
            },
            "within",
        ),
        (
            {
                "name": "x",
                "kind": "absence",
                "on": "add_to_kart",
                "absent": "purchase",
                "within": "1h",
            },
            "on",
        ),
        ({"name": "x", "kind": "absence", "on": "view", "absent": "purchase"}, "within"),
        ({"name": "x", "kind": "repeat", "on": "view", "count": 2}, "calendar_day"),
        ({"name": "x", "kind": "repeat", "on": "view", "count": 1, "within": "1d"}, "count"),
        ({"name": "x", "kind": "transition"}, "entered"),
        ({"name": "x", "kind": "sometimes"}, "kind"),
        ({"name": "x y", "kind": "transition", "entered": 1}, "name"),
        ({"name": "x", "kind": "transition", "entered": 1, "colour": "red"}, "colour"),
    ],
)
def test_bad_rule_is_one_line(rule, needle):
    with pytest.raises(UserError) as e:
        TriggersConfig.from_dict({"rule": [rule]})
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("[triggers]: rule[0]")
    assert needle in msg


def test_duplicate_names_and_bad_experiment():
    r = {"name": "x", "kind": "transition", "entered": 1}
    with pytest.raises(UserError, match="two rules are named 'x'"):
        TriggersConfig.from_dict({"rule": [r, r]})
    with pytest.raises(UserError, match="holdout"):
        AutomationConfig.from_dict({"experiments": {"e": {"variants": {"a": 1}, "holdout": 0}}})
    with pytest.raises(UserError, match="reserved"):
        AutomationConfig.from_dict({"experiments": {"e": {"variants": {"holdout": 1}}}})
    with pytest.raises(UserError, match="max_move"):
        AutomationConfig.from_dict({"learning": {"max_move": -1}})


def test_missing_and_bad_toml(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[triggers\n")
    with pytest.raises(UserError, match="not valid TOML"):
        load_config(bad)
