"""Compose the feature families into one per-customer frame.

``build_lazy`` is the whole plan (events -> named features) as one LazyFrame:
sort once (:func:`~archetype.features.base.sort_events`), derive order-based flags, one
``group_by`` over customers (:func:`aggregate_lazy`), then the family formulas
(:func:`finalize_lazy`).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from archetype.features import (
    content,
    engagement,
    loyalty,
    occasions,
    purchase,
    rfm,
    timing,
    usage,
)
from archetype.features.base import aggregations, sequence_columns, sort_events, sort_frame
from archetype.features.config import FeatureConfig
from archetype.features.context import FeatureContext, day_number
from archetype.features.spec import FeatureSpec

# Order matters: later families may use earlier columns (weeks() needs tenure_days).
FAMILY_MODULES = (rfm, usage, purchase, timing, occasions, loyalty, engagement, content)


def feature_specs(ctx: FeatureContext) -> list[FeatureSpec]:
    """Every raw feature, in output column order."""
    return [s for m in FAMILY_MODULES for s in m.specs(ctx)]


def aggregate_lazy(sorted_events: pl.LazyFrame, ctx: FeatureContext) -> pl.LazyFrame:
    """Events sorted by :func:`~archetype.features.base.sort_events` -> intermediates.

    One row per customer: ``customer_id`` and the ``_``-prefixed sums every family reads
    (``_events`` included; ``_identical`` too when the events carry the ``_ident`` flag of
    :func:`~archetype.features.base.drop_duplicates`).  Partitions of customers can be
    aggregated separately and concatenated before :func:`finalize_lazy`.
    """
    seq = sequence_columns(sorted_events)
    aggs = aggregations(ctx)
    if "_ident" in sorted_events.collect_schema():
        aggs.append(pl.col("_ident").sum().alias("_identical"))
    out = seq.group_by("_ci").agg(aggs)
    for m in FAMILY_MODULES:
        for frame in getattr(m, "frames", lambda _s: [])(seq):
            out = out.join(frame, on="_ci", how="left")
    return out.drop("_ci")


def finalize_lazy(
    intermediates: pl.LazyFrame, ctx: FeatureContext, *, keep_event_counts: bool = False
) -> pl.LazyFrame:
    """Intermediates -> ``customer_id`` + raw features (Float64), sorted by customer_id.

    ``keep_event_counts`` keeps ``_events`` (and ``_identical`` when present) as last
    columns.
    """
    out = intermediates
    for m in FAMILY_MODULES:
        out = out.with_columns(m.exprs(ctx))
    names = [s.name for s in feature_specs(ctx)]
    cols = [pl.col(n).cast(pl.Float64) for n in names]
    if keep_event_counts:
        cols.append(pl.col("_events"))
        if "_identical" in intermediates.collect_schema():
            cols.append(pl.col("_identical"))
    return out.select("customer_id", *cols).sort("customer_id")


def build_lazy(
    events: pl.LazyFrame,
    ctx: FeatureContext,
    *,
    keep_event_counts: bool = False,
    presorted: bool = False,
) -> pl.LazyFrame:
    """Canonical events (duplicates removed) -> ``customer_id`` + raw features, lazily.

    With ``keep_event_counts`` a last column ``_events`` (events per customer) is kept.
    ``presorted`` says ``events`` already went through
    :func:`~archetype.features.base.sort_events` (the sort is then not repeated).
    """
    srt = events if presorted else sort_events(events)
    return finalize_lazy(aggregate_lazy(srt, ctx), ctx, keep_event_counts=keep_event_counts)


def discover_channels(events: pl.LazyFrame, max_channels: int) -> list[str]:
    """The ``max_channels`` most frequent channel values (ties by name), sorted by name."""
    if max_channels == 0:
        return []
    top = (
        events.filter(pl.col("channel").is_not_null())
        .group_by("channel")
        .len()
        .sort(["len", "channel"], descending=[True, False])
        .head(max_channels)
        .collect(engine="streaming")
    )
    return sorted(top["channel"].to_list())


def horizon_of(events: pl.LazyFrame, as_of: dt.date, window_days: int | None) -> int:
    """Window length, or days from the first event to ``as_of`` inclusive."""
    if window_days is not None:
        return int(window_days)
    first = events.select(pl.col("ts").min()).collect(engine="streaming").item()
    return 1 if first is None else day_number(as_of) - day_number(first.date()) + 1


def build_features(
    lazy: pl.LazyFrame,
    as_of: dt.date,
    config: FeatureConfig | None = None,
    *,
    horizon_days: int | None = None,
    channels: list[str] | None = None,
) -> pl.DataFrame:
    """Raw behavioral features per customer.

    Parameters
    ----------
    lazy : pl.LazyFrame
        Canonical events already cut at ``as_of`` (``read_events(...).lazy``).
    as_of : date
        The as-of day (recency/tenure are measured to it).
    config : FeatureConfig, optional
        Occasion windows and channels; defaults.
    horizon_days : int, optional
        "Never" value of day-valued features; default ``config.window_days`` or the span
        from the first event to ``as_of``.
    channels : list of str, optional
        Channels with a share feature; default ``config.channels`` or discovered.

    Returns
    -------
    pl.DataFrame
        ``customer_id`` + Float64 features (see ``docs/features.md``), sorted by customer_id.
    """
    cfg = config or FeatureConfig()
    # Materialize the events once (streaming), so the horizon and channel look-ups do not
    # re-run the whole input plan; then the same in-memory sort as compute_features.
    events = lazy.collect(engine="streaming")
    if horizon_days is None:
        horizon_days = horizon_of(events.lazy(), as_of, cfg.window_days)
    if channels is None:
        channels = (
            cfg.channels
            if cfg.channels is not None
            else discover_channels(events.lazy(), cfg.max_channels)
        )
    ctx = FeatureContext.make(as_of, horizon_days, cfg, channels)
    srt = sort_frame(events)
    del events
    return build_lazy(srt.lazy(), ctx, presorted=True).collect()
