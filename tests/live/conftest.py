"""Helpers for the live-state tests: logs as LiveEvents, batch features of the same log."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from archetype.features import FeatureConfig, build_features

DAY = dt.timedelta(days=1)


def cut(log: pl.DataFrame, as_of: dt.date, window_days: int | None) -> pl.DataFrame:
    """The batch reader's cut: ``[as_of - window + 1, as_of]`` (whole days)."""
    end = dt.datetime.combine(as_of + DAY, dt.time())
    out = log.filter(pl.col("ts") < end)
    if window_days is not None:
        start = dt.datetime.combine(as_of - (window_days - 1) * DAY, dt.time())
        out = out.filter(pl.col("ts") >= start)
    return out


def batch_features(
    log: pl.DataFrame, as_of: dt.date, channels: list[str], window_days: int | None = None
) -> tuple[pl.DataFrame, int]:
    """``build_features`` of the cut log and the horizon it used."""
    c = cut(log, as_of, window_days)
    horizon = window_days or (as_of - c["ts"].min().date()).days + 1
    cfg = FeatureConfig(window_days=window_days)
    return build_features(c.lazy(), as_of, cfg, channels=channels), horizon


def mismatches(batch: pl.DataFrame, live: pl.DataFrame, names) -> dict[str, int]:
    """Per feature, customers whose values differ beyond rtol 1e-9 / atol 1e-12.

    Requires the same customers in the same order (asserted).
    """
    assert batch["customer_id"].to_list() == live["customer_id"].to_list()
    out = {}
    for n in names:
        x, y = batch[n].to_numpy(), live[n].to_numpy()
        bad = int((~np.isclose(x, y, rtol=1e-9, atol=1e-12)).sum())
        if bad:
            out[n] = bad
    return out
