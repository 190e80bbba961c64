"""Usage rate: how often a customer shows up, and whether that is rising or falling."""

from __future__ import annotations

import polars as pl

from archetype.features.base import weeks
from archetype.features.context import FeatureContext
from archetype.features.spec import FeatureSpec

FAMILY = "usage"
WEEKS = "weeks = max(tenure_days + 1, 7) / 7"


def specs(ctx: FeatureContext) -> list[FeatureSpec]:
    return [
        FeatureSpec(
            "active_days_per_week",
            FAMILY,
            "days/week",
            f"distinct active days / weeks; {WEEKS}",
            True,
        ),
        FeatureSpec(
            "sessions_per_week", FAMILY, "sessions/week", "session_start events / weeks", True
        ),
        FeatureSpec("views_per_week", FAMILY, "views/week", "view events / weeks", True),
        FeatureSpec(
            "activity_trend",
            FAMILY,
            "active-day fraction",
            "active days in the last 30 days / 30 - active days in the 90 days before / 90",
        ),
    ]


def exprs(ctx: FeatureContext) -> list[pl.Expr]:
    w = weeks()
    return [
        (pl.col("_active_days") / w).alias("active_days_per_week"),
        (pl.col("_sessions") / w).alias("sessions_per_week"),
        (pl.col("_views") / w).alias("views_per_week"),
        (pl.col("_active_30") / 30.0 - pl.col("_active_prior90") / 90.0).alias("activity_trend"),
    ]
