"""The peer: the same raw features as :mod:`archetype.features`, in DuckDB SQL.

Reads canonical Parquet (``archetype synth`` layout: ``customer_id, ts, event_type, amount,
quantity, discount, channel, category``), applies the same as-of/window cut and duplicate
removal, and returns the same columns as ``build_features`` (same names, same order, same
conventions for customers without purchases).  Used by ``benchmarks/bench_features.py`` and
by the agreement test.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import polars as pl

from archetype.events.schema import EVENT_TYPES
from archetype.features.base import LEAD_LOOKBACK_DAYS, RECENT_DAYS
from archetype.features.build import feature_specs
from archetype.features.config import FeatureConfig
from archetype.features.context import FeatureContext, day_number, slug
from archetype.features.timing import LAST_MINUTE_HOURS


def _q(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def features_sql(source: str, ctx: FeatureContext, *, start: dt.date | None) -> str:
    """The SQL text computing every raw feature from ``source`` (a DuckDB table expression)."""
    a = ctx.as_of_day
    end = (ctx.as_of + dt.timedelta(days=1)).isoformat()
    cut = f"ts < TIMESTAMP '{end}'"
    if start is not None:
        cut += f" AND ts >= TIMESTAMP '{start.isoformat()}'"
    types = ", ".join(_q(t) for t in EVENT_TYPES)
    md = "(month(ts) * 100 + day(ts))"
    occ = []
    for name, (lo, hi) in ctx.occasions.items():
        cond = f"{md} BETWEEN {lo} AND {hi}" if lo <= hi else f"({md} >= {lo} OR {md} <= {hi})"
        occ.append(f"count(*) FILTER (WHERE is_p AND {cond})::DOUBLE AS occ_{name}")
    chans = [
        f"count(*) FILTER (WHERE channel = {_q(c)})::DOUBLE AS ch_{slug(c)}" for c in ctx.channels
    ]
    extra_aggs = ",\n      ".join(occ + chans)
    extra_aggs = (",\n      " + extra_aggs) if extra_aggs else ""
    two_pi = 2.0 * math.pi
    weeks = "(greatest(b.tenure + 1.0, 7.0) / 7.0)"
    lm_lo, lm_hi = (repr(float(h)) for h in LAST_MINUTE_HOURS)

    def div(n: str, d: str) -> str:
        return f"(CASE WHEN ({d}) > 0 THEN ({n}) / ({d}) ELSE 0.0 END)"

    sel = {
        "frequency": "b.pdays",
        "recency_days": f"coalesce(({a} - b.last_pday)::DOUBLE, {float(ctx.horizon_days)})",
        "monetary": div("b.spend", "b.pdays"),
        "total_spend": "b.spend",
        "tenure_days": "b.tenure",
        "active_days_per_week": f"b.active_days / {weeks}",
        "sessions_per_week": f"b.sessions / {weeks}",
        "views_per_week": f"b.views / {weeks}",
        "carts_per_week": f"b.carts / {weeks}",
        "activity_trend": "b.a30 / 30.0 - b.a90 / 90.0",
        "days_since_last_event": f"{a} - b.last_day",
        "recent_activity_share": div("b.arecent", "b.active_days"),
        "purchases": "b.npur",
        "avg_order_value": div("b.spend", "b.npur"),
        "cart_abandonment_rate": div("greatest(b.carts - b.npur, 0.0)", "b.carts"),
        "view_to_purchase": div("least(b.npur, b.views)", "b.views"),
        "discount_share": div("b.disc", "b.npur"),
        "return_rate": div("b.nret", "b.npur + b.nret"),
        "lead_time_hours": "coalesce(l.lead, 0.0)",
        "lead_24_48h_share": div("coalesce(l.nlastmin, 0.0)", "coalesce(l.nlead, 0.0)"),
        "interpurchase_mean_days": f"coalesce(g.gmean, {float(ctx.horizon_days)})",
        "interpurchase_cv": (
            "CASE WHEN g.gmean IS NULL THEN 1.0 WHEN g.gmean > 0 THEN g.gstd / g.gmean ELSE 1.0 END"
        ),
        "weekend_share": div("b.weekend", "b.npur"),
        "hour_sin": div("b.hsin", "b.n"),
        "hour_cos": div("b.hcos", "b.n"),
        "referrals": "b.referrals",
        "repeat_purchase_rate": div("b.pdays - 1.0", "b.pdays"),
        "email_opens_per_week": f"b.opens / {weeks}",
        "email_click_rate": div("least(b.clicks, b.opens)", "b.opens"),
        "ad_clicks_per_week": f"b.ads / {weeks}",
        "category_entropy": "greatest(coalesce(c.ent, 0.0), 0.0) + 0.0",
        "top_category_share": "coalesce(c.top, 0.0)",
    }
    for name in ctx.occasions:
        sel[f"occasion_share_{name}"] = div(f"b.occ_{name}", "b.npur")
    for ch in ctx.channels:
        sel[f"channel_share_{slug(ch)}"] = div(f"b.ch_{slug(ch)}", "b.chn")
    names = [s.name for s in feature_specs(ctx)]
    cols = ",\n  ".join(f"({sel[n]})::DOUBLE AS {n}" for n in names)
    return f"""
WITH ev AS (
  SELECT DISTINCT customer_id, ts, event_type, amount, quantity, discount, channel, category
  FROM {source}
  WHERE {cut} AND customer_id IS NOT NULL AND event_type IN ({types})
), p AS (
  SELECT *, (CAST(ts AS DATE) - DATE '1970-01-01')::INTEGER AS d,
         (event_type = 'purchase' AND amount >= 0) AS is_p,
         (event_type = 'purchase' AND amount < 0) AS is_r,
         (hour(ts) + minute(ts) / 60.0 + second(ts) / 3600.0) * {two_pi} / 24.0 AS ang
  FROM ev
), b AS (
  SELECT customer_id,
      count(*)::DOUBLE AS n,
      ({a} - min(d))::DOUBLE AS tenure,
      max(d) AS last_day,
      count(DISTINCT d)::DOUBLE AS active_days,
      count(DISTINCT d) FILTER (WHERE d > {a} - {RECENT_DAYS})::DOUBLE AS arecent,
      count(DISTINCT d) FILTER (WHERE d > {a} - 30)::DOUBLE AS a30,
      count(DISTINCT d) FILTER (WHERE d <= {a} - 30 AND d > {a} - 120)::DOUBLE AS a90,
      count(DISTINCT d) FILTER (WHERE is_p)::DOUBLE AS pdays,
      max(d) FILTER (WHERE is_p) AS last_pday,
      count(*) FILTER (WHERE is_p)::DOUBLE AS npur,
      coalesce(sum(amount) FILTER (WHERE is_p), 0.0) AS spend,
      count(*) FILTER (WHERE is_r)::DOUBLE AS nret,
      count(*) FILTER (WHERE is_p AND discount > 0)::DOUBLE AS disc,
      count(*) FILTER (WHERE is_p AND isodow(ts) >= 6)::DOUBLE AS weekend,
      count(*) FILTER (WHERE event_type = 'view')::DOUBLE AS views,
      count(*) FILTER (WHERE event_type = 'add_to_cart')::DOUBLE AS carts,
      count(*) FILTER (WHERE event_type = 'session_start')::DOUBLE AS sessions,
      count(*) FILTER (WHERE event_type = 'email_open')::DOUBLE AS opens,
      count(*) FILTER (WHERE event_type = 'email_click')::DOUBLE AS clicks,
      count(*) FILTER (WHERE event_type = 'ad_click')::DOUBLE AS ads,
      count(*) FILTER (WHERE event_type = 'referral')::DOUBLE AS referrals,
      sum(sin(ang)) AS hsin, sum(cos(ang)) AS hcos,
      count(channel)::DOUBLE AS chn{extra_aggs}
  FROM p GROUP BY customer_id
), vp AS (
  SELECT customer_id, ts, is_p,
         coalesce(sum(is_p::INTEGER) OVER (PARTITION BY customer_id ORDER BY ts, is_p
                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS cyc
  FROM p WHERE is_p OR event_type = 'view'
), vpt AS (
  SELECT *, max(ts) FILTER (WHERE is_p) OVER (PARTITION BY customer_id, cyc) AS pts FROM vp
), cycles AS (
  SELECT customer_id,
         (epoch_us(min(ts) FILTER (WHERE is_p))
          - epoch_us(min(ts) FILTER (WHERE NOT is_p
                                     AND ts >= pts - INTERVAL {LEAD_LOOKBACK_DAYS} DAY)))
           / 3600000000.0 AS lead
  FROM vpt GROUP BY customer_id, cyc
), l AS (
  SELECT customer_id, median(lead) AS lead, count(*)::DOUBLE AS nlead,
         count(*) FILTER (WHERE lead BETWEEN {lm_lo} AND {lm_hi})::DOUBLE AS nlastmin
  FROM cycles WHERE lead IS NOT NULL
  GROUP BY customer_id
), pd AS (
  SELECT customer_id, (d - lag(d) OVER (PARTITION BY customer_id ORDER BY d))::DOUBLE AS gap
  FROM (SELECT DISTINCT customer_id, d FROM p WHERE is_p)
), g AS (
  SELECT customer_id, avg(gap) AS gmean, stddev_pop(gap) AS gstd
  FROM pd WHERE gap IS NOT NULL GROUP BY customer_id
), cc AS (
  SELECT customer_id, count(*)::DOUBLE AS k,
         sum(count(*)) OVER (PARTITION BY customer_id)::DOUBLE AS tot
  FROM p
  WHERE event_type IN ('view', 'add_to_cart', 'purchase') AND category IS NOT NULL
  GROUP BY customer_id, category
), c AS (
  SELECT customer_id, -sum(k / tot * ln(k / tot)) AS ent, max(k / tot) AS top
  FROM cc GROUP BY customer_id
)
SELECT b.customer_id,
  {cols}
FROM b LEFT JOIN l USING (customer_id) LEFT JOIN g USING (customer_id)
       LEFT JOIN c USING (customer_id)
ORDER BY b.customer_id
"""


def duckdb_features(
    path: str | Path,
    as_of: dt.date,
    *,
    channels: list[str],
    config: FeatureConfig | None = None,
    window_days: int | None = None,
    horizon_days: int | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> pl.DataFrame:
    """Compute the raw features with DuckDB; returns the same frame as ``build_features``.

    ``path`` is a Parquet file, glob, or hive folder (``**/*.parquet`` is read under it).
    ``horizon_days`` defaults to ``window_days`` or the span from the first kept event.
    """
    import duckdb

    cfg = config or FeatureConfig()
    p = Path(path)
    pattern = str(p / "**" / "*.parquet") if p.is_dir() else str(path)
    hive = "true" if p.is_dir() and any(True for _ in p.rglob("*=*")) else "false"
    source = f"read_parquet({_q(pattern)}, hive_partitioning = {hive}, union_by_name = true)"
    con = duckdb.connect()
    try:
        if threads is not None:
            con.execute(f"SET threads = {int(threads)}")
        if memory_limit is not None:
            con.execute(f"SET memory_limit = {_q(memory_limit)}")
        start = None if window_days is None else as_of - dt.timedelta(days=window_days - 1)
        if horizon_days is None:
            if window_days is not None:
                horizon_days = window_days
            else:
                end = (as_of + dt.timedelta(days=1)).isoformat()
                first = con.sql(
                    f"SELECT min(ts) FROM {source} WHERE ts < TIMESTAMP '{end}'"
                ).fetchall()[0][0]
                horizon_days = day_number(as_of) - day_number(first.date()) + 1
        ctx = FeatureContext.make(as_of, horizon_days, cfg, channels)
        return con.sql(features_sql(source, ctx, start=start)).pl()
    finally:
        con.close()
