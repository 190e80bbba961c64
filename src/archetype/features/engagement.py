"""Engagement & channel: email and ad responsiveness, where the customer comes from."""

from __future__ import annotations

import polars as pl

from archetype.features.base import safe_div, weeks
from archetype.features.context import FeatureContext, slug
from archetype.features.spec import FeatureSpec

FAMILY = "engagement"


def specs(ctx: FeatureContext) -> list[FeatureSpec]:
    out = [
        FeatureSpec(
            "email_opens_per_week", FAMILY, "opens/week", "email_open events / weeks", True
        ),
        FeatureSpec(
            "email_click_rate",
            FAMILY,
            "fraction",
            "min(email_click / email_open, 1); 0 without opens",
            defined_when="email_opens_per_week > 0",
        ),
        FeatureSpec("ad_clicks_per_week", FAMILY, "clicks/week", "ad_click events / weeks", True),
    ]
    out += [
        FeatureSpec(
            f"channel_share_{slug(c)}",
            FAMILY,
            "fraction",
            f"events with channel {c!r} / events with a channel; 0 without",
        )
        for c in ctx.channels
    ]
    return out


def exprs(ctx: FeatureContext) -> list[pl.Expr]:
    w = weeks()
    o, c = pl.col("_email_opens"), pl.col("_email_clicks")
    out = [
        (o / w).alias("email_opens_per_week"),
        safe_div(pl.min_horizontal(c, o), o).alias("email_click_rate"),
        (pl.col("_ad_clicks") / w).alias("ad_clicks_per_week"),
    ]
    out += [
        safe_div(pl.col(f"_ch_{slug(ch)}"), pl.col("_channel_events")).alias(
            f"channel_share_{slug(ch)}"
        )
        for ch in ctx.channels
    ]
    return out
