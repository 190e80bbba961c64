"""Timing: lead time from first view to purchase, and inter-purchase regularity.

Both need event order, so this family builds its own per-customer frames (sorted within
the partition) that are joined on ``customer_id``.
"""

from __future__ import annotations

import polars as pl

from archetype.features.context import FeatureContext
from archetype.features.spec import FeatureSpec

FAMILY = "timing"
US_PER_HOUR = 3_600_000_000.0


def specs(ctx: FeatureContext) -> list[FeatureSpec]:
    return [
        FeatureSpec(
            "lead_time_hours",
            FAMILY,
            "hours",
            "mean over purchases of (purchase ts - first view ts since the previous purchase), "
            "over purchases preceded by such a view; 0 when none",
            True,
        ),
        FeatureSpec(
            "interpurchase_mean_days",
            FAMILY,
            "days",
            "mean gap between consecutive distinct purchase days; fewer than 2: horizon_days",
            True,
        ),
        FeatureSpec(
            "interpurchase_cv",
            FAMILY,
            "ratio",
            "std (ddof=0) / mean of those gaps; fewer than 2 purchase days: 1 (Poisson-neutral)",
        ),
    ]


def lead_time_frame(prepared: pl.LazyFrame) -> pl.LazyFrame:
    """``customer_id, _lead_hours``: mean view-to-purchase lead time per customer."""
    vp = (
        prepared.filter(pl.col("_p") | (pl.col("event_type") == "view"))
        .select("customer_id", "ts", "_p")
        .sort("customer_id", "ts", "_p")
    )
    # Exclusive running count of purchases: a purchase closes the cycle of views before it.
    cyc = pl.col("_p").cast(pl.Int64)
    vp = vp.with_columns((cyc.cum_sum() - cyc).alias("_cycle"))
    cycles = vp.group_by("customer_id", "_cycle").agg(
        pl.col("ts").filter(~pl.col("_p")).min().alias("_first_view"),
        pl.col("ts").filter(pl.col("_p")).min().alias("_pts"),
    )
    lead = (pl.col("_pts") - pl.col("_first_view")).dt.total_microseconds() / US_PER_HOUR
    return (
        cycles.filter(pl.col("_first_view").is_not_null() & pl.col("_pts").is_not_null())
        .group_by("customer_id")
        .agg(lead.mean().alias("_lead_hours"))
    )


def gap_frame(prepared: pl.LazyFrame) -> pl.LazyFrame:
    """``customer_id, _gap_mean, _gap_std``: gaps between distinct purchase days."""
    days = (
        prepared.filter(pl.col("_p")).select("customer_id", "d").unique().sort("customer_id", "d")
    )
    same = pl.col("customer_id") == pl.col("customer_id").shift(1)
    gap = pl.when(same).then(pl.col("d") - pl.col("d").shift(1)).cast(pl.Float64)
    return (
        days.with_columns(gap.alias("_gap"))
        .filter(pl.col("_gap").is_not_null())
        .group_by("customer_id")
        .agg(pl.col("_gap").mean().alias("_gap_mean"), pl.col("_gap").std(ddof=0).alias("_gap_std"))
    )


def frames(prepared: pl.LazyFrame) -> list[pl.LazyFrame]:
    return [lead_time_frame(prepared), gap_frame(prepared)]


def exprs(ctx: FeatureContext) -> list[pl.Expr]:
    m = pl.col("_gap_mean")
    cv = pl.when(m > 0).then(pl.col("_gap_std") / m).otherwise(1.0)
    return [
        pl.col("_lead_hours").fill_null(0.0).alias("lead_time_hours"),
        m.fill_null(float(ctx.horizon_days)).alias("interpurchase_mean_days"),
        pl.when(m.is_null()).then(1.0).otherwise(cv).alias("interpurchase_cv"),
    ]
