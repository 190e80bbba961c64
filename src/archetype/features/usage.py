"""Usage rate: how often a customer shows up, and whether that is rising or falling."""

from __future__ import annotations

import polars as pl

from archetype.features.base import RECENT_DAYS, safe_div, weeks
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
        FeatureSpec("carts_per_week", FAMILY, "additions/week", "add_to_cart events / weeks", True),
        FeatureSpec(
            "activity_trend",
            FAMILY,
            "active-day fraction",
            "active days in the last 30 days / 30 - active days in the 90 days before / 90",
        ),
        FeatureSpec(
            "days_since_last_event",
            FAMILY,
            "days",
            "as-of day - last event day (any type)",
            True,
        ),
        FeatureSpec(
            "recent_activity_share",
            FAMILY,
            "fraction",
            f"distinct active days in the last {RECENT_DAYS} days (as-of day included) / "
            "distinct active days; 0 when none",
        ),
    ]


def exprs(ctx: FeatureContext) -> list[pl.Expr]:
    w = weeks()
    return [
        (pl.col("_active_days") / w).alias("active_days_per_week"),
        (pl.col("_sessions") / w).alias("sessions_per_week"),
        (pl.col("_views") / w).alias("views_per_week"),
        (pl.col("_carts") / w).alias("carts_per_week"),
        (pl.col("_active_30") / 30.0 - pl.col("_active_prior90") / 90.0).alias("activity_trend"),
        (ctx.as_of_day - pl.col("_last_day")).cast(pl.Float64).alias("days_since_last_event"),
        safe_div(pl.col("_active_recent"), pl.col("_active_days")).alias("recent_activity_share"),
    ]
