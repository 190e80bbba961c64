"""Lifecycle states: absolute facts about each customer, from their own history.

Every customer is in exactly one state, decided in this order from the raw features
``frequency`` (purchase days), ``recency_days``, ``tenure_days`` and, for customers with 3+
purchase days, ``interpurchase_mean_days`` (their usual interval); thresholds from
:class:`~archetype.segments.config.LifecycleConfig`:

=================  ==========================================================================
``new``            first event within ``new_days`` of as-of (only when the log is longer)
``non_buyer``      no purchase in the log
``one_time``       purchases on one day only, less than ``lapsed_days`` ago
``one_time_lapsed``  purchases on one day only, ``lapsed_days`` or more ago
``lapsed``         2+ purchase days; no purchase for ``lapsed_days``, or for more than
                   ``lapsed_factor`` x their usual interval (and ``min_silence_days``)
``lapsing``        not lapsed; the same with ``lapsing_days`` / ``lapsing_factor``
``active``         every other repeat buyer
=================  ==========================================================================

A segment is named after a state when enough of its customers are in it
(``majority``, :func:`segment_state`): this compares customers with themselves and with
the calendar, never with the average customer, so a base where most customers have lapsed
still gets "Lapsed" names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from archetype.segments.config import LifecycleConfig

STATES: tuple[str, ...] = (
    "new",
    "non_buyer",
    "one_time",
    "one_time_lapsed",
    "active",
    "lapsing",
    "lapsed",
)
REQUIRED: tuple[str, ...] = ("frequency", "recency_days", "tenure_days")
_SEG = "__segment__"
_STATE = "__state__"

#: Segment-level name of each segment state (no behavior rule).
STATE_NAMES: dict[str, str] = {
    "new": "New customers",
    "non_buyer": "Non-buyers",
    "one_time": "One-time buyers",
    "one_time_lapsed": "Lapsed one-time buyers",
    "active": "Active repeat buyers",
    "lapsing": "Lapsing customers",
    "lapsed": "Lapsed customers",
}


def state_expr(cfg: LifecycleConfig, horizon_days: int, columns: list[str]) -> pl.Expr:
    """Per-customer state (String) from the raw feature columns (see module docstring)."""
    f, r, t = pl.col("frequency"), pl.col("recency_days"), pl.col("tenure_days")
    if "interpurchase_mean_days" in columns:
        u = pl.when(f >= 3).then(pl.col("interpurchase_mean_days"))
    else:
        u = pl.lit(None, dtype=pl.Float64)
    silence = r >= cfg.min_silence_days
    own_lapsed = (u.is_not_null() & (r > cfg.lapsed_factor * u) & silence).fill_null(False)
    own_lapsing = (u.is_not_null() & (r > cfg.lapsing_factor * u) & silence).fill_null(False)
    new = (t < cfg.new_days) & pl.lit(horizon_days > cfg.new_days)
    return (
        pl.when(new)
        .then(pl.lit("new"))
        .when(f <= 0)
        .then(pl.lit("non_buyer"))
        .when((f < 2) & (r >= cfg.lapsed_days))
        .then(pl.lit("one_time_lapsed"))
        .when(f < 2)
        .then(pl.lit("one_time"))
        .when((r >= cfg.lapsed_days) | own_lapsed)
        .then(pl.lit("lapsed"))
        .when((r >= cfg.lapsing_days) | own_lapsing)
        .then(pl.lit("lapsing"))
        .otherwise(pl.lit("active"))
    )


def customer_states(
    features: pl.DataFrame, cfg: LifecycleConfig, horizon_days: int
) -> pl.Series | None:
    """State of every row of ``features``; ``None`` when a required column is missing."""
    if not all(c in features.columns for c in REQUIRED):
        return None
    return features.select(state_expr(cfg, horizon_days, features.columns).alias(_STATE))[_STATE]


#: Groups of states a segment can be named after, with the states each covers.
GROUPS: dict[str, tuple[str, ...]] = {
    "new": ("new",),
    "non_buyer": ("non_buyer",),
    "one_time_lapsed": ("one_time_lapsed",),
    "one_time": ("one_time", "one_time_lapsed"),
    "lapsed": ("lapsed", "one_time_lapsed"),
    "lapsing": ("lapsing", "lapsed"),
    "active": ("active",),
}


@dataclass
class LifecycleStats:
    """State shares per segment (rows in the order of ``segment_ids``).

    Attributes
    ----------
    counts, shares : ndarray of shape (k, len(STATES))
    pop_shares : ndarray of shape (len(STATES),)
    median_recency, median_tenure : dict of group -> ndarray of shape (k,)
        Medians of ``recency_days`` / ``tenure_days`` over each segment's customers in
        each group of :data:`GROUPS` (NaN where none).
    repeat_share, buyer_share : ndarray of shape (k,)
        Share of customers with 2+ / 1+ purchase days.
    """

    counts: np.ndarray
    shares: np.ndarray
    pop_shares: np.ndarray
    median_recency: dict[str, np.ndarray]
    median_tenure: dict[str, np.ndarray]
    repeat_share: np.ndarray
    buyer_share: np.ndarray
    horizon_days: int
    config: LifecycleConfig

    def share(self, row: int, *states: str) -> float:
        return float(sum(self.shares[row, STATES.index(s)] for s in states))

    def to_dict(self, segment_ids: np.ndarray) -> dict:
        return {
            "horizon_days": self.horizon_days,
            "config": self.config.model_dump(),
            "population": dict(zip(STATES, map(float, self.pop_shares), strict=True)),
            "segments": {
                str(int(s)): dict(zip(STATES, map(float, self.shares[i]), strict=True))
                for i, s in enumerate(segment_ids)
            },
        }


def lifecycle_stats(
    features: pl.DataFrame,
    seg: np.ndarray,
    segment_ids: np.ndarray,
    cfg: LifecycleConfig,
    horizon_days: int,
) -> LifecycleStats | None:
    """Shares of each state per segment; ``None`` without the required columns."""
    states = customer_states(features, cfg, horizon_days)
    if states is None:
        return None
    df = pl.DataFrame(
        {
            _SEG: seg,
            _STATE: states,
            "r": features["recency_days"].cast(pl.Float64),
            "t": features["tenure_days"].cast(pl.Float64),
            "rep": (features["frequency"] >= 2),
            "buy": (features["frequency"] > 0),
        }
    )
    k, s = len(segment_ids), len(STATES)
    row = {int(v): i for i, v in enumerate(segment_ids)}
    counts = np.zeros((k, s))
    for sid, st, n in df.group_by(_SEG, _STATE).len().iter_rows():
        counts[row[int(sid)], STATES.index(st)] = n
    med_r: dict[str, np.ndarray] = {}
    med_t: dict[str, np.ndarray] = {}
    for g, members in GROUPS.items():
        med_r[g], med_t[g] = np.full(k, np.nan), np.full(k, np.nan)
        sub = df.filter(pl.col(_STATE).is_in(list(members)))
        agg = sub.group_by(_SEG).agg(pl.col("r").median(), pl.col("t").median())
        for sid, mr, mt in agg.iter_rows():
            med_r[g][row[int(sid)]] = mr
            med_t[g][row[int(sid)]] = mt
    sizes = counts.sum(axis=1, keepdims=True)
    repeat, buyer = np.zeros(k), np.zeros(k)
    for sid, m, b in df.group_by(_SEG).agg(pl.col("rep").mean(), pl.col("buy").mean()).iter_rows():
        repeat[row[int(sid)]] = m
        buyer[row[int(sid)]] = b
    return LifecycleStats(
        counts=counts,
        shares=counts / np.maximum(sizes, 1),
        pop_shares=counts.sum(axis=0) / max(float(counts.sum()), 1.0),
        median_recency=med_r,
        median_tenure=med_t,
        repeat_share=repeat,
        buyer_share=buyer,
        horizon_days=int(horizon_days),
        config=cfg,
    )


def segment_state(stats: LifecycleStats, row: int) -> tuple[str | None, str]:
    """The state a segment is named after (or ``None``) and the sentence that proves it.

    Checked in the order of :data:`GROUPS`; the first whose share of the segment reaches
    ``majority`` wins (a lapsed group needs its lapsed repeat buyers, or all its lapsed
    customers, to reach it).
    """
    c = stats.config
    m = c.majority

    def pct(v: float) -> str:
        return f"{100 * v:.0f}%"

    def med(group: str, which: str = "r") -> str:
        v = (stats.median_recency if which == "r" else stats.median_tenure)[group][row]
        return "n/a" if not np.isfinite(v) else f"{v:,.0f}"

    def share(group: str) -> float:
        return stats.share(row, *GROUPS[group])

    if share("new") >= m:
        return "new", (
            f"{pct(share('new'))} new: first seen in the last {c.new_days} days "
            f"(median {med('new', 't')} days ago)"
        )
    if share("non_buyer") >= m:
        return "non_buyer", (
            f"{pct(share('non_buyer'))} never bought in the {stats.horizon_days:,} days of the log"
        )
    if share("one_time_lapsed") >= m:
        return "one_time_lapsed", (
            f"{pct(share('one_time_lapsed'))} bought on one day only, {c.lapsed_days}+ days "
            f"ago (median {med('one_time_lapsed')} days since that purchase)"
        )
    if share("one_time") >= m:
        return "one_time", (
            f"{pct(share('one_time'))} bought on one day only (median {med('one_time')} days ago)"
        )
    if stats.share(row, "lapsed") >= m or share("lapsed") >= m:
        return "lapsed", (
            f"{pct(share('lapsed'))} lapsed: no purchase for {c.lapsed_days}+ days or for "
            f"over {c.lapsed_factor:g}x their usual interval (median {med('lapsed')} days "
            "since the last purchase)"
        )
    if share("lapsing") >= m:
        return "lapsing", (
            f"{pct(share('lapsing'))} lapsing or lapsed: no purchase for {c.lapsing_days}+ "
            f"days or for over {c.lapsing_factor:g}x their usual interval "
            f"({pct(stats.share(row, 'lapsed'))} already lapsed; median {med('lapsing')} days "
            "since the last purchase)"
        )
    if share("active") >= m:
        return "active", (
            f"{pct(share('active'))} active repeat buyers: 2+ purchase days, the last within "
            f"{c.lapsing_days} days and within {c.lapsing_factor:g}x their usual interval"
        )
    return None, ""
