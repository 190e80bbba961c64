"""RFM, daily periods (as pymc-marketing ``rfm_summary(include_first_transaction=True)``).

A purchase is a ``purchase`` event with amount >= 0 (negative amounts are returns).
"""

from __future__ import annotations

import polars as pl

from archetype.features.base import safe_div
from archetype.features.context import FeatureContext
from archetype.features.spec import FeatureSpec

FAMILY = "rfm"


def specs(ctx: FeatureContext) -> list[FeatureSpec]:
    return [
        FeatureSpec("frequency", FAMILY, "days", "number of distinct purchase days", True),
        FeatureSpec(
            "recency_days",
            FAMILY,
            "days",
            "as-of day - last purchase day; no purchase: horizon_days",
            True,
            "frequency > 0",
        ),
        FeatureSpec(
            "monetary",
            FAMILY,
            "money/day",
            "total_spend / frequency (mean spend per purchase day); no purchase: 0",
            True,
            "frequency > 0",
        ),
        FeatureSpec("total_spend", FAMILY, "money", "sum of purchase amounts", True),
        FeatureSpec("tenure_days", FAMILY, "days", "as-of day - first event day (any type)", True),
    ]


def exprs(ctx: FeatureContext) -> list[pl.Expr]:
    a = ctx.as_of_day
    return [
        pl.col("_purchase_days").alias("frequency"),
        (a - pl.col("_last_pday"))
        .cast(pl.Float64)
        .fill_null(float(ctx.horizon_days))
        .alias("recency_days"),
        safe_div(pl.col("_spend"), pl.col("_purchase_days")).alias("monetary"),
        pl.col("_spend").fill_null(0.0).alias("total_spend"),
        (a - pl.col("_first_day")).cast(pl.Float64).alias("tenure_days"),
    ]
