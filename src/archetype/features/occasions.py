"""Occasions: when purchases happen in the year, the week and the day."""

from __future__ import annotations

import polars as pl

from archetype.features.base import safe_div
from archetype.features.context import FeatureContext
from archetype.features.spec import FeatureSpec

FAMILY = "occasions"


def _md(v: int) -> str:
    return f"{v // 100:02d}-{v % 100:02d}"


def specs(ctx: FeatureContext) -> list[FeatureSpec]:
    out = [
        FeatureSpec(
            f"occasion_share_{name}",
            FAMILY,
            "fraction",
            f"purchases dated {_md(lo)}..{_md(hi)} (inclusive) / purchases; 0 without purchases",
            defined_when="purchases > 0",
        )
        for name, (lo, hi) in ctx.occasions.items()
    ]
    out += [
        FeatureSpec(
            "weekend_share",
            FAMILY,
            "fraction",
            "purchases on Sat/Sun / purchases; 0 without",
            defined_when="purchases > 0",
        ),
        FeatureSpec(
            "hour_sin",
            FAMILY,
            "unit circle",
            "mean over all events of sin(2*pi*h/24), h = hour + min/60 + s/3600",
        ),
        FeatureSpec("hour_cos", FAMILY, "unit circle", "mean over all events of cos(2*pi*h/24)"),
    ]
    return out


def exprs(ctx: FeatureContext) -> list[pl.Expr]:
    p = pl.col("_purchases")
    out = [
        safe_div(pl.col(f"_occ_{name}"), p).alias(f"occasion_share_{name}")
        for name in ctx.occasions
    ]
    out += [
        safe_div(pl.col("_weekend_purchases"), p).alias("weekend_share"),
        safe_div(pl.col("_hour_sin"), pl.col("_events")).alias("hour_sin"),
        safe_div(pl.col("_hour_cos"), pl.col("_events")).alias("hour_cos"),
    ]
    return out
