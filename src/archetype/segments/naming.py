"""Plain-words segment names from a documented rule table.

A segment's name comes from how its raw features differ from the population, measured as
the standardized difference ``z = (segment mean − population mean) / population std``
(:mod:`archetype.segments.profiles`).

Each rule in :data:`RULES` is a name and one or more *conditions*.  A condition names a
behavioral *signal* (a list of candidate feature names, see :data:`SIGNALS`), a direction
(``+`` high, ``-`` low) and a threshold in standard deviations.  A signal is matched to the
first candidate feature present in the data (exact name first, then regular expression), so
naming fails soft when a feature is missing: a rule whose signal is absent never fires.

A rule fires for a segment when every condition holds.  Its score is the mean of the
favourable ``z`` values (each capped at :data:`Z_CAP`) plus :data:`SPECIFICITY_BONUS` per
extra condition, so a specific two-condition match beats a vague one.

Names are unique within a model and assigned deterministically:

1. names given in ``overrides`` (config ``{segment_id: name}``) win;
2. then ``sticky`` names (the previous model's names for the same stable ids) are kept;
3. remaining segments take rules greedily, highest score first (ties: lower segment id,
   then table order), each name used once; a segment whose firing rules are all taken keeps
   its best rule's name plus a qualifier from its most distinctive other feature; a segment
   no rule fits is named from its most distinctive feature ("High weekend share");
4. any name still repeated gets `` #<segment_id>``.

The table is documented, with its thresholds, in ``docs/segments.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from archetype.segments.profiles import SegmentProfiles

#: Cap on a single condition's z when scoring (one extreme feature must not dominate).
Z_CAP = 3.0
#: Score bonus per condition beyond the first.
SPECIFICITY_BONUS = 0.25

#: Behavioral signals: candidate raw-feature names, exact names first; a name that starts
#: with ``re:`` is a regular expression searched in the feature names (first match in
#: alphabetical order).
SIGNALS: dict[str, tuple[str, ...]] = {
    "frequency": ("frequency", "purchase_days"),
    "recency": ("recency_days",),
    "inactivity": ("days_since_last_event", "re:days_since_last_(event|activity)"),
    "recent_share": ("recent_activity_share", "re:recent_activity"),
    "monetary": ("monetary", "avg_order_value", "re:^aov"),
    "spend": ("total_spend",),
    "tenure": ("tenure_days",),
    "activity": ("active_days_per_week", "sessions_per_week", "re:^active_days"),
    "trend": ("activity_trend", "re:trend"),
    "discount": ("discount_share", "discount_purchase_share", "re:discount"),
    "cart_abandon": ("cart_abandonment_rate", "cart_abandon_rate", "re:abandon"),
    "conversion": ("view_to_purchase", "view_to_purchase_rate", "conversion_rate", "re:conversion"),
    "views": ("views_per_week", "view_count", "re:^views?_", "re:_views?$"),
    "email_open": ("email_open_rate", "email_opens_per_week", "re:email_open"),
    "email_click": ("email_click_rate", "re:email_click"),
    "referrals": ("referrals", "referral_count", "re:referral"),
    "repeat": ("repeat_purchase_rate", "re:repeat"),
    "holidays": ("occasion_share_holidays", "share_holidays", "re:holiday"),
    "black_friday": ("occasion_share_black_friday_week", "re:black_friday"),
    "back_to_school": ("occasion_share_back_to_school", "re:back_to_school"),
    "lead_time": ("lead_time_days", "lead_time_hours", "re:lead_time"),
    "weekend": ("weekend_share", "re:weekend"),
    "returns": ("return_rate", "re:return"),
}


@dataclass(frozen=True)
class Condition:
    """``signal`` is high (``+``) or low (``-``) by at least ``z`` population std devs."""

    signal: str
    direction: str  # "+" or "-"
    z: float

    def favourable(self, z: float) -> float:
        return z if self.direction == "+" else -z


@dataclass(frozen=True)
class Rule:
    name: str
    conditions: tuple[Condition, ...]


def _c(signal: str, direction: str, z: float) -> Condition:
    return Condition(signal, direction, z)


#: The rule table (documented in docs/segments.md).  Order breaks score ties.
RULES: tuple[Rule, ...] = (
    Rule("VIP big spenders", (_c("spend", "+", 1.0), _c("monetary", "+", 0.5))),
    Rule("Loyal advocates", (_c("referrals", "+", 0.8), _c("frequency", "+", 0.3))),
    Rule("Deal hunters", (_c("discount", "+", 0.8),)),
    Rule("Cart abandoners", (_c("cart_abandon", "+", 0.8),)),
    Rule("Email fans (non-buyers)", (_c("email_open", "+", 0.8), _c("frequency", "-", 0.3))),
    Rule("Holiday shoppers", (_c("holidays", "+", 0.8),)),
    Rule("Back-to-school shoppers", (_c("back_to_school", "+", 0.8),)),
    Rule("Black Friday shoppers", (_c("black_friday", "+", 0.8),)),
    Rule("Last-minute buyers", (_c("lead_time", "-", 0.5), _c("frequency", "+", -0.5))),
    Rule("Window shoppers", (_c("views", "+", 0.5), _c("conversion", "-", 0.5))),
    Rule("Window shoppers", (_c("conversion", "-", 0.8), _c("cart_abandon", "-", 0.0))),
    Rule(
        "Lapsed loyalists",
        (_c("inactivity", "+", 1.0), _c("recent_share", "-", 0.8), _c("frequency", "+", 0.0)),
    ),
    Rule(
        "Lapsed customers",
        (_c("inactivity", "+", 1.0), _c("recent_share", "-", 0.8), _c("frequency", "-", 0.0)),
    ),
    Rule("Lapsing loyalists", (_c("recency", "+", 0.8), _c("frequency", "+", 0.0))),
    Rule("Lapsing customers", (_c("recency", "+", 0.8), _c("frequency", "+", -0.3))),
    Rule("Fading regulars", (_c("trend", "-", 0.8), _c("frequency", "+", 0.0))),
    Rule("Weekend browsers", (_c("weekend", "+", 0.8), _c("conversion", "-", 0.3))),
    Rule("Weekend shoppers", (_c("weekend", "+", 0.8),)),
    Rule("Frequent regulars", (_c("frequency", "+", 0.8),)),
    Rule("Serial returners", (_c("returns", "+", 0.8),)),
    Rule("Newcomers", (_c("tenure", "-", 0.8),)),
    Rule("Occasional low spenders", (_c("frequency", "-", 0.5), _c("spend", "-", 0.3))),
)

#: Plain-words labels of features for descriptions and fallback names.
LABELS: dict[str, str] = {
    "frequency": "purchase days",
    "recency_days": "days since last purchase",
    "monetary": "spend per purchase day",
    "total_spend": "total spend",
    "tenure_days": "days as a customer",
    "discount_share": "share of purchases on discount",
    "cart_abandonment_rate": "cart abandonment",
    "view_to_purchase_rate": "view-to-purchase conversion",
    "conversion_rate": "conversion",
    "email_open_rate": "email open rate",
    "email_click_rate": "email click rate",
    "referrals": "referrals",
    "weekend_share": "weekend share",
    "avg_order_value": "average order value",
    "return_rate": "return rate",
    "repeat_purchase_rate": "repeat-purchase rate",
    "activity_trend": "recent activity trend",
    "days_since_last_event": "days since last activity",
    "recent_activity_share": "share of active days in the last 90 days",
    "lead_time_hours": "hours from first view to purchase",
}


def label(feature: str) -> str:
    """Plain-words label of a feature (its name with spaces when not in :data:`LABELS`)."""
    return LABELS.get(feature, feature.replace("_", " "))


def resolve_signals(feature_names: list[str]) -> dict[str, str]:
    """Map each signal of :data:`SIGNALS` to the feature that carries it (absent → omitted)."""
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
    return out


def rule_scores(profiles: SegmentProfiles) -> dict[int, list[tuple[float, int]]]:
    """Firing rules per segment: ``{segment_id: [(score, rule_index), ...]}``, best first."""
    sig = resolve_signals(profiles.feature_names)
    col = {s: profiles.feature(f) for s, f in sig.items()}
    out: dict[int, list[tuple[float, int]]] = {}
    for r, sid in enumerate(profiles.segment_ids):
        z = profiles.std_diff[r]
        fired: list[tuple[float, int]] = []
        for i, rule in enumerate(RULES):
            vals = []
            for cond in rule.conditions:
                if cond.signal not in col:
                    break
                v = z[col[cond.signal]]
                if not np.isfinite(v):
                    break
                fav = cond.favourable(float(v))
                if fav < cond.z:
                    break
                vals.append(min(fav, Z_CAP))
            else:
                score = float(np.mean(vals)) + SPECIFICITY_BONUS * (len(vals) - 1)
                fired.append((score, i))
        fired.sort(key=lambda t: (-t[0], t[1]))
        out[int(sid)] = fired
    return out


def _fallback_name(profiles: SegmentProfiles, sid: int, exclude: tuple[str, ...] = ()) -> str:
    top = profiles.top_features(sid, 1, exclude=exclude)
    if not top or top[0][1] == 0:
        return "Typical customers"
    f, d = top[0]
    word = "High" if d > 0 else "Low"
    return f"{word} {label(f)}"


def name_segments(
    profiles: SegmentProfiles,
    *,
    overrides: Mapping[int, str] | None = None,
    sticky: Mapping[int, str] | None = None,
) -> dict[int, str]:
    """Name every segment: unique, deterministic, plain words.

    Parameters
    ----------
    profiles : SegmentProfiles
    overrides : mapping of segment id to name, optional
        Names fixed by the user (config); always used as given.
    sticky : mapping of segment id to name, optional
        Names from the previous model; kept for the same stable ids (unless they clash
        with an override).

    Returns
    -------
    dict of int to str
        ``{segment_id: name}`` for every segment of ``profiles``.
    """
    ids = [int(s) for s in profiles.segment_ids]
    names: dict[int, str] = {}
    for sid, nm in (overrides or {}).items():
        if int(sid) in ids:
            names[int(sid)] = str(nm)
    used = set(names.values())
    for sid, nm in (sticky or {}).items():
        sid = int(sid)
        if sid in ids and sid not in names and nm and nm not in used:
            names[sid] = str(nm)
            used.add(nm)

    scores = rule_scores(profiles)
    cands = sorted(
        (-score, sid, i) for sid in ids if sid not in names for score, i in scores[sid]
    )
    for _neg, sid, i in cands:
        nm = RULES[i].name
        if sid not in names and nm not in used:
            names[sid] = nm
            used.add(nm)

    sig = resolve_signals(profiles.feature_names)
    for sid in ids:
        if sid in names:
            continue
        if scores[sid]:
            rule = RULES[scores[sid][0][1]]
            own = tuple(sig[c.signal] for c in rule.conditions if c.signal in sig)
            nm = f"{rule.name} · {_fallback_name(profiles, sid, exclude=own).lower()}"
        else:
            nm = _fallback_name(profiles, sid)
        names[sid] = nm

    counts: dict[str, int] = {}
    for sid in ids:
        counts[names[sid]] = counts.get(names[sid], 0) + 1
    seen: set[str] = set()
    for sid in ids:
        nm = names[sid]
        if counts[nm] > 1 and nm in seen:
            names[sid] = f"{nm} #{sid}"
        seen.add(nm)
    profiles.names = dict(names)
    return names


def describe_segment(profiles: SegmentProfiles, segment_id: int, n: int = 3) -> list[str]:
    """Plain-words sentences on what sets a segment apart (its top ``n`` features).

    E.g. ``"share of purchases on discount: 3.2× the average (0.64 vs 0.20)"``.
    """
    r = profiles.row(segment_id)
    out = []
    for f, d in profiles.top_features(segment_id, n):
        j = profiles.feature(f)
        m, p = profiles.means[r, j], profiles.pop_mean[j]
        if p > 0 and m >= 0:
            ratio = m / p
            if ratio >= 1:
                rel = f"{ratio:.1f}× the average"
            else:
                rel = f"{100 * ratio:.0f}% of the average"
        else:
            rel = "above average" if d > 0 else "below average"
        out.append(f"{label(f)}: {rel} ({_fmt(m)} vs {_fmt(p)}; {d:+.1f} sd)")
    return out


def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return "n/a"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 1:
        return f"{v:.1f}"
    return f"{v:.2f}"
