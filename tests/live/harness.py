"""Replay a log through the live path the way a stream delivers it, against the batch.

Arrival order: every event arrives some jitter after it happened; a share of events is
late (up to ``max_late_days`` after later events); a share is delivered twice with the
same ``event_id`` (the second delivery up to ``max_late_days`` later, possibly in a later
phase); or, with ``shuffle="full"``, a random permutation of all of it.  Phases end at the
as-of days: before comparing at an as-of, every event dated up to it has arrived.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from archetype.cluster import assign
from archetype.features import FeatureConfig, FeatureTransform
from archetype.features.context import day_number
from archetype.live.definition import FeatureDefinition
from archetype.live.replay import Replay, events_from_frame

US_DAY = 86_400_000_000
US_HOUR = 3_600_000_000


def with_event_ids(log: pl.DataFrame) -> pl.DataFrame:
    """The log with an ``event_id`` column (synthesized ``e<row>`` when it has none)."""
    if "event_id" in log.columns:
        return log
    return log.with_columns(pl.format("e{}", pl.int_range(pl.len())).alias("event_id"))


def arrivals(
    log: pl.DataFrame,
    as_ofs: list[dt.date],
    rng: np.random.Generator,
    *,
    dup_frac: float = 0.05,
    late_frac: float = 0.05,
    max_late_days: int = 30,
    shuffle: str = "stream",
) -> list[pl.DataFrame]:
    """Events (with ids and duplicates) per phase, in arrival order; see module doc."""
    log = with_event_ids(log)
    n = log.height
    ts = log["ts"].dt.epoch("us").to_numpy()
    key = ts + rng.integers(0, 6 * US_HOUR, n)
    late = rng.random(n) < late_frac
    key[late] += rng.integers(US_HOUR, max_late_days * US_DAY, int(late.sum()))
    dup = rng.choice(n, int(dup_frac * n), replace=False)
    dup_key = ts[dup] + rng.integers(0, max_late_days * US_DAY, len(dup))
    ends = np.array([(day_number(d) + 1) * US_DAY for d in as_ofs])
    phase = np.searchsorted(ends, ts, side="right")  # first as-of this event counts for
    dup_phase = np.maximum(phase[dup], np.searchsorted(ends, dup_key, side="right"))
    frame = pl.concat(
        [
            log.with_columns(_key=pl.Series(key), _phase=pl.Series(phase)),
            log[dup].with_columns(_key=pl.Series(dup_key), _phase=pl.Series(dup_phase)),
        ]
    ).filter(pl.col("_phase") < len(as_ofs))
    if shuffle == "full":
        frame = frame.with_columns(_key=pl.Series(rng.permutation(frame.height)))
    frame = frame.sort("_key")
    return [frame.filter(pl.col("_phase") == p).drop("_key", "_phase") for p in range(len(as_ofs))]


def replay_phases(
    fd: FeatureDefinition, phases: list[pl.DataFrame], as_ofs: list[dt.date], *, persist=True
) -> tuple[Replay, list[pl.DataFrame]]:
    """Ingest phase by phase; live features after each (states re-decoded in between)."""
    r = Replay(fd)
    out = []
    for frame, as_of in zip(phases, as_ofs, strict=True):
        r.ingest(events_from_frame(frame))
        if persist:  # as a store would: bytes out, bytes back in
            r.states = {k: fd.decode(s.encode()) for k, s in r.states.items()}
        out.append(r.features_frame(as_of))
    return r, out


def live_assign(fd: FeatureDefinition, live: pl.DataFrame, model) -> pl.DataFrame:
    """``customer_id, segment_id, distance, margin`` of live features under ``model``."""
    t = FeatureTransform.from_dict(model.transform)
    x = live.select(list(t.feature_names)).to_numpy()  # the embedding's inputs only
    emb = t.transform_numpy(x)
    a = assign(emb, model.centroids, metric=model.metric)
    return pl.DataFrame(
        {
            "customer_id": live["customer_id"],
            "segment_id": model.segment_id_array()[a.labels],
            "distance": a.distances,
            "margin": a.margin,
        }
    )


def feature_config(window_days: int | None) -> FeatureConfig:
    return FeatureConfig(window_days=window_days)
