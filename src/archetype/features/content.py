"""Content: how spread a customer's interest is over categories.

Counts view, add_to_cart and purchase events that carry a category.
"""

from __future__ import annotations

import polars as pl

from archetype.features.context import FeatureContext
from archetype.features.spec import FeatureSpec

FAMILY = "content"
_SHIFT = 2**32


def specs(ctx: FeatureContext) -> list[FeatureSpec]:
    return [
        FeatureSpec(
            "category_entropy",
            FAMILY,
            "nats",
            "-sum p_c ln p_c over categories c of view/add_to_cart/purchase events; 0 without",
            defined_when="top_category_share > 0",
        ),
        FeatureSpec(
            "top_category_share",
            FAMILY,
            "fraction",
            "max_c p_c; 0 without",
            defined_when="top_category_share > 0",
        ),
    ]


def frames(seq: pl.LazyFrame) -> list[pl.LazyFrame]:
    """``_ci, _cat_entropy, _cat_top`` from :func:`~archetype.features.base.sequence_columns`.

    Counts per (customer, category) are grouped on one integer key: customer index in the
    high 32 bits, the category's Categorical code in the low 32.
    """
    key = pl.col("_ci").cast(pl.UInt64) * _SHIFT + pl.col("category").to_physical().cast(pl.UInt64)
    counts = (
        seq.filter(
            pl.col("event_type").is_in(["view", "add_to_cart", "purchase"])
            & pl.col("category").is_not_null()
        )
        .group_by(key.alias("_key"))
        .agg(pl.len().cast(pl.Float64).alias("_n"))
    )
    share = pl.col("_n") / pl.col("_n").sum()
    return [
        counts.group_by((pl.col("_key") // _SHIFT).cast(pl.UInt32).alias("_ci")).agg(
            (-(share * share.log()).sum()).alias("_cat_entropy"),
            share.max().alias("_cat_top"),
        )
    ]


def exprs(ctx: FeatureContext) -> list[pl.Expr]:
    return [
        (pl.col("_cat_entropy").fill_null(0.0).clip(lower_bound=0.0) + 0.0).alias(
            "category_entropy"
        ),
        pl.col("_cat_top").fill_null(0.0).alias("top_category_share"),
    ]
