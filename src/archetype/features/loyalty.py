"""Loyalty & advocacy: referrals and coming back (tenure is ``tenure_days`` of RFM)."""

from __future__ import annotations

import polars as pl

from archetype.features.base import safe_div
from archetype.features.context import FeatureContext
from archetype.features.spec import FeatureSpec

FAMILY = "loyalty"


def specs(ctx: FeatureContext) -> list[FeatureSpec]:
    return [
        FeatureSpec("referrals", FAMILY, "events", "referral events", True),
        FeatureSpec(
            "repeat_purchase_rate",
            FAMILY,
            "fraction",
            "(frequency - 1) / frequency: share of purchase days after the first; 0 without",
            defined_when="frequency > 0",
        ),
    ]


def exprs(ctx: FeatureContext) -> list[pl.Expr]:
    f = pl.col("_purchase_days")
    return [
        pl.col("_referrals").alias("referrals"),
        safe_div(f - 1.0, f).alias("repeat_purchase_rate"),
    ]
