"""The behavior rule table: relative contrasts with absolute floors, on defined values.

A rule names a behavior ("Deal hunters") by one or more *conditions* on a behavioral
*signal* (a list of candidate feature names, :data:`SIGNALS`; a signal whose feature is
absent never fires).  A condition holds for a segment when, over the customers for whom
the feature is defined (and they are at least ``min_defined_share`` of the segment):

- the standardized difference ``z = (segment mean − population mean) / population std`` is
  at least ``z`` in the rule's direction, and
- the segment mean itself is at least ``level`` (``+``) or at most ``level`` (``-``), when
  the condition has one: "most purchases discounted", not just "more than average".

Extra requirements per rule: ``habit`` (a habit needs repeat buyers: most of the segment
bought on 2+ days), ``buyers`` (most of the segment bought), ``vip`` (money in the log and
a revenue share of at least ``vip_revenue_ratio`` times the customer share).

Score = mean of the favourable ``z`` (each capped at :data:`Z_CAP`) + :data:`SPECIFICITY_BONUS`
per extra condition.  Thresholds are overridable per rule in ``[segments.naming.rules]``.
The table is documented in ``docs/segments.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from archetype.segments.profiles import SegmentProfiles

#: Cap on a single condition's z when scoring (one extreme feature must not dominate).
Z_CAP = 3.0
#: Score bonus per condition beyond the first.
SPECIFICITY_BONUS = 0.25

#: Behavioral signals: candidate raw-feature names, exact names first; ``re:`` marks a
#: regular expression searched in the feature names (first match in alphabetical order).
SIGNALS: dict[str, tuple[str, ...]] = {
    "frequency": ("frequency", "purchase_days"),
    "spend": ("total_spend",),
    "discount": ("discount_share", "discount_purchase_share", "re:discount"),
    "cart_abandon": ("cart_abandonment_rate", "cart_abandon_rate", "re:abandon"),
    "conversion": ("view_to_purchase", "view_to_purchase_rate", "conversion_rate", "re:conversion"),
    "views": ("views_per_week", "view_count", "re:^views?_", "re:_views?$"),
    "email_open": ("email_opens_per_week", "email_open_rate", "re:email_open"),
    "referrals": ("referrals", "referral_count", "re:referral"),
    "last_minute": ("lead_24_48h_share", "re:last_minute"),
    "weekend": ("weekend_share", "re:weekend"),
    "returns": ("return_rate", "re:return"),
}

#: Default occasion windows have their own names; any other ``occasion_share_<x>`` gets
#: "<X> shoppers".
OCCASION_NAMES: dict[str, tuple[str, str]] = {
    "holidays": ("Holiday shoppers", "holiday shoppers"),
    "back_to_school": ("Back-to-school shoppers", "back-to-school shoppers"),
    "black_friday_week": ("Black Friday shoppers", "Black Friday shoppers"),
}


@dataclass(frozen=True)
class Condition:
    """``signal`` is high (``+``) or low (``-``): by ``z`` sd, and beyond ``level``."""

    signal: str
    direction: str  # "+" or "-"
    z: float
    level: float | None = None

    def favourable(self, z: float) -> float:
        return z if self.direction == "+" else -z

    def level_ok(self, mean: float) -> bool:
        if self.level is None:
            return True
        return mean >= self.level if self.direction == "+" else mean <= self.level


@dataclass(frozen=True)
class Rule:
    """A behavior name and when it fires (see module docstring).

    ``noun`` is the name inside a lifecycle name ("Lapsed deal hunters");
    ``lapsed``/``non_buyers`` replace the composed name in those states when set.
    """

    name: str
    noun: str
    conditions: tuple[Condition, ...]
    habit: bool = False
    buyers: bool = False
    vip: bool = False
    lapsed: str | None = None
    lapsing: str | None = None
    non_buyers: str | None = None


def _c(signal: str, direction: str, z: float, level: float | None = None) -> Condition:
    return Condition(signal, direction, z, level)


#: The rule table (documented in docs/segments.md).  Order breaks score ties.
RULES: tuple[Rule, ...] = (
    Rule("VIP big spenders", "VIPs", (_c("spend", "+", 1.0),), buyers=True, vip=True),
    Rule(
        "Loyal advocates",
        "advocates",
        (_c("referrals", "+", 0.8, 0.5), _c("frequency", "+", 0.3)),
        habit=True,
        lapsed="Lapsed loyalists",
        lapsing="Lapsing loyalists",
    ),
    Rule("Deal hunters", "deal hunters", (_c("discount", "+", 0.8, 0.5),), habit=True),
    Rule("Cart abandoners", "cart abandoners", (_c("cart_abandon", "+", 0.8, 0.5),)),
    Rule(
        "Email fans",
        "email fans",
        (_c("email_open", "+", 0.8, 0.25),),
        non_buyers="Email fans (non-buyers)",
    ),
    Rule(
        "Last-minute buyers",
        "last-minute buyers",
        (_c("last_minute", "+", 0.8, 0.4),),
        habit=True,
    ),
    Rule(
        "Window shoppers",
        "window shoppers",
        (_c("views", "+", 0.5), _c("conversion", "-", 0.5, 0.1)),
        non_buyers="Window shoppers",
    ),
    Rule("Serial returners", "serial returners", (_c("returns", "+", 0.8, 0.2),), buyers=True),
    Rule("Weekend shoppers", "weekend shoppers", (_c("weekend", "+", 0.8, 0.5),), habit=True),
    Rule(
        "Frequent regulars",
        "regulars",
        (_c("frequency", "+", 0.8),),
        habit=True,
        lapsed="Lapsed loyalists",
        lapsing="Lapsing loyalists",
    ),
)


def occasion_rule(occasion: str) -> Rule:
    """The rule for an ``occasion_share_<occasion>`` feature (level: 30% of purchases)."""
    name, noun = OCCASION_NAMES.get(
        occasion,
        (f"{occasion.replace('_', ' ').capitalize()} shoppers",
         f"{occasion.replace('_', ' ')} shoppers"),
    )  # fmt: skip
    return Rule(name, noun, (_c(f"occasion:{occasion}", "+", 0.8, 0.3),), habit=True)


def rule_names() -> set[str]:
    """Every rule name a config may refer to (the table plus the default occasions)."""
    return {r.name for r in RULES} | {occasion_rule(o).name for o in OCCASION_NAMES}


def resolve_signals(feature_names: list[str]) -> dict[str, str]:
    """Map each signal to the feature that carries it (absent → omitted); occasion
    signals ``occasion:<x>`` for every ``occasion_share_<x>`` feature."""
    present = set(feature_names)
    ordered = sorted(feature_names)
    out: dict[str, str] = {}
    for signal, candidates in SIGNALS.items():
        for cand in candidates:
            if cand.startswith("re:"):
                pat = re.compile(cand[3:])
                hit = next((f for f in ordered if pat.search(f)), None)
                if hit is not None:
                    out[signal] = hit
                    break
            elif cand in present:
                out[signal] = cand
                break
    for f in ordered:
        if f.startswith("occasion_share_"):
            out[f"occasion:{f.removeprefix('occasion_share_')}"] = f
    return out


def active_rules(profiles: SegmentProfiles) -> list[Rule]:
    """The table plus one rule per occasion feature, with config overrides applied."""
    occ = [f.removeprefix("occasion_share_") for f in profiles.feature_names
           if f.startswith("occasion_share_")]  # fmt: skip
    rules = list(RULES[:5]) + [occasion_rule(o) for o in occ] + list(RULES[5:])
    over = profiles.config.naming.rules
    out = []
    for r in rules:
        o = over.get(r.name)
        if o is None:
            out.append(r)
        elif o.enabled:
            conds = tuple(
                replace(
                    c,
                    z=c.z if o.z is None else o.z,
                    level=c.level if (o.level is None or c.level is None) else o.level,
                )
                for c in r.conditions
            )
            out.append(replace(r, conditions=conds))
    return out


@dataclass(frozen=True)
class Firing:
    """A rule that fires for a segment: its score and one evidence line per condition."""

    rule: Rule
    score: float
    evidence: tuple[str, ...]
    features: tuple[str, ...]


def fire(profiles: SegmentProfiles, segment_id: int) -> list[Firing]:
    """Rules that fire for a segment, best first (ties: table order)."""
    from archetype.segments.evidence import condition_line, vip_line

    sig = resolve_signals(profiles.feature_names)
    cfg = profiles.config
    r = profiles.row(segment_id)
    life = profiles.lifecycle
    repeat_share = None if life is None else float(life.repeat_share[r])
    buyer_share = None if life is None else float(life.buyer_share[r])
    majority = cfg.lifecycle.majority
    out: list[tuple[float, int, Firing]] = []
    for order, rule in enumerate(active_rules(profiles)):
        if rule.habit and repeat_share is not None and repeat_share < majority:
            continue
        if rule.buyers and buyer_share is not None and buyer_share < majority:
            continue
        lines, feats, favs = [], [], []
        if rule.vip:
            if profiles.revenue_shares is None:
                continue
            rev, cust = float(profiles.revenue_shares[r]), float(profiles.shares[r])
            if rev < cfg.naming.vip_revenue_ratio * cust:
                continue
            lines.append(vip_line(profiles, segment_id))
        ok = True
        for cond in rule.conditions:
            f = sig.get(cond.signal)
            if f is None or not profiles.visible(f):
                ok = False
                break
            if profiles.defined_share(segment_id, f) < cfg.naming.min_defined_share:
                ok = False
                break
            j = profiles.feature(f)
            z, mean = float(profiles.std_diff[r, j]), float(profiles.means[r, j])
            if not (np.isfinite(z) and np.isfinite(mean)):
                ok = False
                break
            fav = cond.favourable(z)
            if fav < cond.z or not cond.level_ok(mean):
                ok = False
                break
            favs.append(min(fav, Z_CAP))
            feats.append(f)
            lines.append(condition_line(profiles, segment_id, f))
        if not ok:
            continue
        score = float(np.mean(favs)) + SPECIFICITY_BONUS * (len(favs) - 1)
        out.append((score, order, Firing(rule, score, tuple(lines), tuple(feats))))
    out.sort(key=lambda t: (-t[0], t[1]))
    return [f for _s, _o, f in out]
