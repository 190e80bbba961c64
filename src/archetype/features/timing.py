"""Timing: lead time from first view to purchase, and inter-purchase regularity.

Both need event order: the per-row pieces (``_lead``, ``_gap``) come from the ordered pass
in :func:`archetype.features.base.sequence_columns`; here they are
summarized (median, mean) and named.
"""

from __future__ import annotations

import polars as pl

from archetype.features.base import LEAD_LOOKBACK_DAYS
from archetype.features.context import FeatureContext
from archetype.features.spec import FeatureSpec

FAMILY = "timing"


def specs(ctx: FeatureContext) -> list[FeatureSpec]:
    return [
        FeatureSpec(
            "lead_time_hours",
            FAMILY,
            "hours",
            "median over purchases of (purchase ts - first view ts since the previous "
            f"purchase and within the {LEAD_LOOKBACK_DAYS} days before it), over purchases "
            "with such a view; 0 when none",
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


def frames(seq: pl.LazyFrame) -> list[pl.LazyFrame]:
    """``_ci, _lead_hours``: the median lead time, aggregated on the purchase rows only."""
    lead = pl.col("_lead")
    return [seq.filter(lead.is_not_null()).group_by("_ci").agg(lead.median().alias("_lead_hours"))]


def exprs(ctx: FeatureContext) -> list[pl.Expr]:
    m = pl.col("_gap_mean")
    cv = pl.when(m > 0).then(pl.col("_gap_std") / m).otherwise(1.0)
    return [
        pl.col("_lead_hours").fill_null(0.0).alias("lead_time_hours"),
        m.fill_null(float(ctx.horizon_days)).alias("interpurchase_mean_days"),
        pl.when(m.is_null()).then(1.0).otherwise(cv).alias("interpurchase_cv"),
    ]
