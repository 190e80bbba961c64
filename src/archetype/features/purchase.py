"""Purchase behavior: basket completion, conversion, discounts, returns, order value."""

from __future__ import annotations

import polars as pl

from archetype.features.base import safe_div
from archetype.features.context import FeatureContext
from archetype.features.spec import FeatureSpec

FAMILY = "purchase"


def specs(ctx: FeatureContext) -> list[FeatureSpec]:
    return [
        FeatureSpec("purchases", FAMILY, "orders", "purchase events (amount >= 0)", True),
        FeatureSpec(
            "avg_order_value",
            FAMILY,
            "money/order",
            "total_spend / purchases; 0 without",
            True,
            "purchases > 0",
        ),
        FeatureSpec(
            "cart_abandonment_rate",
            FAMILY,
            "fraction",
            "max(add_to_cart - purchases, 0) / add_to_cart; 0 without cart additions",
            defined_when="carts_per_week > 0",
        ),
        FeatureSpec(
            "view_to_purchase",
            FAMILY,
            "fraction",
            "min(purchases / views, 1); 0 without views",
            defined_when="views_per_week > 0",
        ),
        FeatureSpec(
            "discount_share",
            FAMILY,
            "fraction",
            "purchases with discount > 0 / purchases; 0 without purchases",
            defined_when="purchases > 0",
        ),
        FeatureSpec(
            "return_rate",
            FAMILY,
            "fraction",
            "returns / (purchases + returns), a return = purchase with amount < 0; 0 without",
            defined_when="purchases > 0 or return_rate > 0",
        ),
    ]


def exprs(ctx: FeatureContext) -> list[pl.Expr]:
    p, c, v, r = (pl.col(x) for x in ("_purchases", "_carts", "_views", "_returns"))
    return [
        p.alias("purchases"),
        safe_div(pl.col("_spend"), p).alias("avg_order_value"),
        safe_div(pl.max_horizontal(c - p, pl.lit(0.0)), c).alias("cart_abandonment_rate"),
        safe_div(pl.min_horizontal(p, v), v).alias("view_to_purchase"),
        safe_div(pl.col("_disc_purchases"), p).alias("discount_share"),
        safe_div(r, p + r).alias("return_rate"),
    ]
