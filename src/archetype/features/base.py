"""One per-customer aggregation that feeds every family.

Events are prepared once (integer day, flags), then a single ``group_by(customer_id)``
computes the intermediate sums/counts (columns prefixed ``_``) that the family modules turn
into features.  Families that need event order (timing) or a second key (content) add their
own small frames, joined on ``customer_id``.
"""

from __future__ import annotations

import math

import polars as pl

from archetype.features.context import FeatureContext, slug

ET = pl.col("event_type")
IS_PURCHASE = (ET == "purchase") & (pl.col("amount") >= 0)
IS_RETURN = (ET == "purchase") & (pl.col("amount") < 0)


def prepare(events: pl.LazyFrame) -> pl.LazyFrame:
    """Add ``d`` (days since epoch), ``_p`` (a purchase, not a return) and ``_r`` (a return)."""
    return events.with_columns(
        pl.col("ts").dt.date().cast(pl.Int32).alias("d"),
        IS_PURCHASE.alias("_p"),
        IS_RETURN.alias("_r"),
    )


def _count(cond: pl.Expr) -> pl.Expr:
    return cond.sum().cast(pl.Float64)


def _in_window(lo: int, hi: int) -> pl.Expr:
    md = pl.col("ts").dt.month().cast(pl.Int32) * 100 + pl.col("ts").dt.day().cast(pl.Int32)
    return (md >= lo) & (md <= hi) if lo <= hi else (md >= lo) | (md <= hi)


def aggregations(ctx: FeatureContext) -> list[pl.Expr]:
    """Intermediate per-customer aggregations over prepared events."""
    p = pl.col("_p")
    d = pl.col("d")
    a = ctx.as_of_day
    hours = (
        pl.col("ts").dt.hour().cast(pl.Float64)
        + pl.col("ts").dt.minute().cast(pl.Float64) / 60.0
        + pl.col("ts").dt.second().cast(pl.Float64) / 3600.0
    )
    angle = hours * (2.0 * math.pi / 24.0)
    out = [
        pl.len().cast(pl.Float64).alias("_events"),
        d.min().alias("_first_day"),
        d.n_unique().cast(pl.Float64).alias("_active_days"),
        d.filter(d > a - 30).n_unique().cast(pl.Float64).alias("_active_30"),
        d.filter((d <= a - 30) & (d > a - 120))
        .n_unique()
        .cast(pl.Float64)
        .alias("_active_prior90"),
        d.filter(p).n_unique().cast(pl.Float64).alias("_purchase_days"),
        d.filter(p).max().alias("_last_pday"),
        d.filter(p).min().alias("_first_pday"),
        _count(p).alias("_purchases"),
        pl.col("amount").filter(p).sum().alias("_spend"),
        _count(pl.col("_r")).alias("_returns"),
        _count(p & (pl.col("discount") > 0)).alias("_disc_purchases"),
        _count(p & (pl.col("ts").dt.weekday() >= 6)).alias("_weekend_purchases"),
        _count(ET == "view").alias("_views"),
        _count(ET == "add_to_cart").alias("_carts"),
        _count(ET == "session_start").alias("_sessions"),
        _count(ET == "email_open").alias("_email_opens"),
        _count(ET == "email_click").alias("_email_clicks"),
        _count(ET == "ad_click").alias("_ad_clicks"),
        _count(ET == "referral").alias("_referrals"),
        angle.sin().sum().alias("_hour_sin"),
        angle.cos().sum().alias("_hour_cos"),
        _count(pl.col("channel").is_not_null()).alias("_channel_events"),
    ]
    for name, (lo, hi) in ctx.occasions.items():
        out.append(_count(p & _in_window(lo, hi)).alias(f"_occ_{name}"))
    for c in ctx.channels:
        out.append(_count(pl.col("channel") == c).alias(f"_ch_{slug(c)}"))
    return out


def safe_div(num: pl.Expr, den: pl.Expr, default: float = 0.0) -> pl.Expr:
    """``num / den``, or ``default`` where ``den`` is 0 or null."""
    return pl.when(den > 0).then(num / den).otherwise(pl.lit(default, dtype=pl.Float64))


def weeks() -> pl.Expr:
    """Weeks a customer was observable: max(tenure_days + 1, 7) / 7 (needs ``tenure_days``)."""
    return pl.max_horizontal(pl.col("tenure_days") + 1.0, pl.lit(7.0)) / 7.0
