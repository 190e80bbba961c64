"""Timing: lead time from first view to purchase, and inter-purchase regularity.

Both need event order: the per-row pieces (``_lead``, ``_gap``) come from the ordered pass
in :func:`archetype.features.base.sequence_columns`; here they are summarized (median,
mean, counts) and named.

``lead_24_48h_share`` is the last-minute signal: of the purchases that have a lead time,
the share whose first view came 24 to 48 hours (inclusive) before the purchase, "browsed
yesterday, bought today".  A count over a count, so the live service can keep it exactly
per event; the median lead time alone puts such customers between the impulse buyers
(minutes) and the planners (days), where the scaling cannot tell them apart.
"""

from __future__ import annotations

import polars as pl

from archetype.features.base import LEAD_LOOKBACK_DAYS, safe_div
from archetype.features.context import FeatureContext
from archetype.features.spec import FeatureSpec

FAMILY = "timing"
#: Inclusive lead-time window (hours) of ``lead_24_48h_share``.
LAST_MINUTE_HOURS: tuple[float, float] = (24.0, 48.0)
#: Purchase days an inter-purchase statistic needs to be defined (2 gaps).
MIN_PURCHASE_DAYS_FOR_GAPS = 3
_LEAD_DEFINED = "purchases > 0 and views_per_week > 0"
_GAPS_DEFINED = f"frequency >= {MIN_PURCHASE_DAYS_FOR_GAPS}"


def specs(ctx: FeatureContext) -> list[FeatureSpec]:
    lo, hi = LAST_MINUTE_HOURS
    return [
        FeatureSpec(
            "lead_time_hours",
            FAMILY,
            "hours",
            "median over purchases of (purchase ts - first view ts since the previous "
            f"purchase and within the {LEAD_LOOKBACK_DAYS} days before it), over purchases "
            "with such a view; 0 when none",
            True,
            _LEAD_DEFINED,
        ),
        FeatureSpec(
            "lead_24_48h_share",
            FAMILY,
            "fraction",
            f"purchases whose lead time is {lo:g}..{hi:g} h (inclusive) / purchases with a "
            "lead time; 0 when none",
            defined_when=_LEAD_DEFINED,
        ),
        FeatureSpec(
            "interpurchase_mean_days",
            FAMILY,
            "days",
            "mean gap between consecutive distinct purchase days; fewer than 2: horizon_days",
            True,
            _GAPS_DEFINED,
        ),
        FeatureSpec(
            "interpurchase_cv",
            FAMILY,
            "ratio",
            "std (ddof=0) / mean of those gaps; fewer than 2 purchase days: 1 (Poisson-neutral)",
            defined_when=_GAPS_DEFINED,
        ),
    ]


def frames(seq: pl.LazyFrame) -> list[pl.LazyFrame]:
    """``_ci, _lead_hours, _lead_n, _lead_lastmin``, aggregated on the purchase rows only:
    the median lead time, the purchases with a lead time, those in the last-minute window."""
    lead = pl.col("_lead")
    lo, hi = LAST_MINUTE_HOURS
    return [
        seq.filter(lead.is_not_null())
        .group_by("_ci")
        .agg(
            lead.median().alias("_lead_hours"),
            pl.len().cast(pl.Float64).alias("_lead_n"),
            lead.is_between(lo, hi).sum().cast(pl.Float64).alias("_lead_lastmin"),
        )
    ]


def exprs(ctx: FeatureContext) -> list[pl.Expr]:
    m = pl.col("_gap_mean")
    cv = pl.when(m > 0).then(pl.col("_gap_std") / m).otherwise(1.0)
    return [
        pl.col("_lead_hours").fill_null(0.0).alias("lead_time_hours"),
        safe_div(pl.col("_lead_lastmin"), pl.col("_lead_n")).alias("lead_24_48h_share"),
        m.fill_null(float(ctx.horizon_days)).alias("interpurchase_mean_days"),
        pl.when(m.is_null()).then(1.0).otherwise(cv).alias("interpurchase_cv"),
    ]
