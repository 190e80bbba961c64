"""Sentences about a segment: one per feature contrast, the time of day, the revenue.

Every sentence states the segment's value and everyone's, in the feature's unit (currency,
percent, days ...), the index only where it means something (else the difference in
natural units), the standardized difference, and — for features that are only defined for
some customers — how many customers the value is over.  Names cite these sentences as
their evidence; "what sets it apart" lists the strongest ones.
"""

from __future__ import annotations

import numpy as np

from archetype.segments.display import difference, label, time_of_day, value
from archetype.segments.profiles import SegmentProfiles


def relative(profiles: SegmentProfiles, segment_id: int, feature: str) -> str:
    """``"3.2x the average"``, ``"45% of the average"`` or ``"+12 pts"``."""
    r, j = profiles.row(segment_id), profiles.feature(feature)
    idx = profiles.index[r, j]
    if np.isfinite(idx):
        if idx >= 100:
            return f"{idx / 100:.1f}x the average"
        return f"{idx:.0f}% of the average"
    d = profiles.means[r, j] - profiles.pop_mean[j]
    return difference(d, profiles.unit(feature), profiles.config.currency)


def feature_line(profiles: SegmentProfiles, segment_id: int, feature: str) -> str:
    """``"share of purchases on discount: 92% vs 21% overall (4.4x the average, +2.1 sd;
    over 3,201 buyers, 97% of the segment)"``."""
    r, j = profiles.row(segment_id), profiles.feature(feature)
    unit, cur = profiles.unit(feature), profiles.config.currency
    m, p, z = profiles.means[r, j], profiles.pop_mean[j], profiles.std_diff[r, j]
    head = f"{label(feature)}: {value(m, unit, cur)} vs {value(p, unit, cur)} overall"
    tail = f"{relative(profiles, segment_id, feature)}, {z:+.1f} sd"
    who = profiles.defined_for.get(feature, "customers")
    if who != "customers" and profiles.n_defined is not None:
        n = int(profiles.n_defined[r, j])
        share = 100 * n / max(int(profiles.sizes[r]), 1)
        tail += f"; over {n:,} {who}, {share:.0f}% of the segment"
    return f"{head} ({tail})"


#: Feature pairs that say the same thing; "what sets it apart" shows only the first.
TWINS: dict[str, str] = {
    "purchases": "frequency",
    "avg_order_value": "monetary",
    "repeat_purchase_rate": "frequency",
    "category_entropy": "top_category_share",
}


def describe_segment(
    profiles: SegmentProfiles, segment_id: int, n: int = 3, *, exclude: tuple[str, ...] = ()
) -> list[str]:
    """What sets a segment apart: :func:`feature_line` for its top ``n`` contrasts.

    Only visible features (no sin/cos, no constants, no money on a log without money)
    defined for enough of the segment; of two twin features (:data:`TWINS`, or two with the
    same segment and population means) only the first is shown.
    """
    out: list[str] = []
    shown: set[str] = set()
    seen: list[tuple[float, float]] = []
    r = profiles.row(segment_id)
    for f, _d in profiles.top_features(segment_id, len(profiles.feature_names), exclude=exclude):
        if TWINS.get(f) in shown or any(TWINS.get(s) == f for s in shown):
            continue
        j = profiles.feature(f)
        pair = (float(profiles.means[r, j]), float(profiles.pop_mean[j]))
        if any(np.allclose(pair, q, rtol=1e-9, atol=1e-12) for q in seen):
            continue  # the same numbers under another name (e.g. a transaction-only log)
        out.append(feature_line(profiles, segment_id, f))
        shown.add(f)
        seen.append(pair)
        if len(out) == n:
            break
    return out


def time_of_day_line(profiles: SegmentProfiles, segment_id: int) -> str | None:
    """``"active mostly late evening (around 23:00); everyone: mostly afternoon ..."``."""
    if profiles.hour is None or profiles.hour_resultant is None or profiles.pop_hour is None:
        return None
    r = profiles.row(segment_id)
    seg = time_of_day(float(profiles.hour[r]), float(profiles.hour_resultant[r]))
    pop = time_of_day(*profiles.pop_hour)
    return f"time of day: {seg}; everyone: {pop}"


def vip_line(profiles: SegmentProfiles, segment_id: int) -> str:
    """``"5.1% of customers bring 48.3% of revenue (9.5x their share)"``."""
    r = profiles.row(segment_id)
    assert profiles.revenue_shares is not None
    rev, cust = float(profiles.revenue_shares[r]), float(profiles.shares[r])
    return (
        f"{100 * cust:.1f}% of customers bring {100 * rev:.1f}% of revenue "
        f"({rev / cust:.1f}x their share)"
    )


def condition_line(profiles: SegmentProfiles, segment_id: int, feature: str) -> str:
    """Evidence for one rule condition (the same sentence as "what sets it apart")."""
    return feature_line(profiles, segment_id, feature)
