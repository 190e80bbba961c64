"""The step functions a nightly run strings together (features, ids, outputs, names).

Each takes clean inputs and writes its output atomically; :mod:`archetype.pipeline.run`
orders them, times them and records what happened.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from archetype._atomic import atomic_dir
from archetype.pipeline.config import RunConfig
from archetype.pipeline.ids import Features, engine_features, feature_config
from archetype.pipeline.layout import MIGRATION, PART, Layout
from archetype.pipeline.model import SegmentModel
from archetype.pipeline.privacy import Suppression
from archetype.segments.matching import MatchResult, match_segments_detailed
from archetype.segments.migration import attach_previous, migration_matrix, transitions

log = logging.getLogger(__name__)
__all__ = ["Features", "build_features", "feature_config", "previous_assignments",
           "stable_ids", "assignment_frame", "write_assignments", "write_transitions",
           "describe", "write_report"]


def build_features(
    engine: Any, cfg: RunConfig, layout: Layout, date: dt.date, *, transform: Any,
    key: bytes | None, suppress: Suppression | None = None, tracker: Any = None,
) -> Features:
    """Features as of ``date`` into ``features/date=…`` (final ids before promotion).

    The engine writes into a private staging dir next to the final one
    (:func:`archetype._atomic.atomic_dir`), where ids are pseudonymized and suppressed
    customers dropped (:func:`archetype.pipeline.ids.engine_features`); the dir is then
    swapped into place.  A crash leaves only the hidden staging dir, removed by the next
    run on ROOT (or by ``forget``).
    """
    final = layout.features(date)
    with atomic_dir(final) as staging:
        fs = engine_features(engine, cfg, date, staging, transform=transform, key=key,
                             suppress=suppress, tracker=tracker)
    fs.path = final
    return fs


def previous_assignments(
    layout: Layout, date: dt.date
) -> tuple[dt.date | None, pl.DataFrame | None]:
    """The latest assignments partition strictly before ``date`` (date, frame)."""
    before = [d for d in layout.partition_dates("assignments") if d < date]
    for d in reversed(before):
        p = layout.assignments(d) / PART
        if p.is_file():
            return d, pl.read_parquet(p, columns=["customer_id", "segment_id"])
    return None, None


def stable_ids(
    prev: SegmentModel | None,
    centroids: np.ndarray,
    labels: np.ndarray,
    ids: pl.Series,
    previous: pl.DataFrame | None,
    cfg: RunConfig,
    *,
    same_space: bool,
) -> MatchResult:
    """Stable id of each new centroid (Hungarian matching on distance and overlap).

    ``same_space`` is False when the transform was refitted: centroid distances then
    compare different spaces, so matching uses member overlap alone when it can.
    """
    k = centroids.shape[0]
    if prev is None:
        return MatchResult(ids=list(range(k)), new_ids=list(range(k)), next_id=k)
    old_labels = new_labels = None
    if previous is not None and previous.height:
        row_of = pl.DataFrame({
            "segment_id": pl.Series(prev.segment_ids, dtype=pl.Int64),
            "__old_row": pl.Series(range(prev.k), dtype=pl.Int64),
        })
        prev_rows = previous.with_columns(pl.col("segment_id").cast(pl.Int64)).join(
            row_of, on="segment_id", how="left"
        ).select("customer_id", "__old_row")
        if prev_rows["customer_id"].dtype != ids.dtype:
            prev_rows = prev_rows.with_columns(pl.col("customer_id").cast(ids.dtype))
        joined = pl.DataFrame({"customer_id": ids}).join(
            prev_rows, on="customer_id", how="left", maintain_order="left"
        )
        old_labels = joined["__old_row"].fill_null(-1).to_numpy()
        new_labels = np.asarray(labels, dtype=np.int64)
        if not (old_labels >= 0).any():
            old_labels = new_labels = None
    weight = cfg.distance_weight if same_space else 0.0
    old_c = prev.centroids
    if not same_space or old_c.shape[1] != centroids.shape[1]:
        if old_labels is None:
            # nothing comparable: every segment is new
            nxt = int(prev.next_segment_id)
            new = list(range(nxt, nxt + k))
            return MatchResult(ids=new, new_ids=list(new), retired_ids=list(prev.segment_ids),
                               next_id=nxt + k)
        weight = 0.0
        old_c = np.zeros((prev.k, centroids.shape[1]), dtype=np.float32)
    return match_segments_detailed(
        old_c, centroids, prev.segment_ids, next_id=prev.next_segment_id,
        old_labels=old_labels, new_labels=new_labels, max_cost=cfg.max_cost,
        distance_weight=weight,
    )


def assignment_frame(
    ids: pl.Series, seg_ids: np.ndarray, assignment: Any, previous: pl.DataFrame | None
) -> pl.DataFrame:
    """``customer_id, segment_id, distance, margin, previous_segment_id`` (row order of ids)."""
    labels = np.asarray(assignment.labels, dtype=np.int64)
    df = pl.DataFrame({
        "customer_id": ids,
        "segment_id": pl.Series(seg_ids[labels], dtype=pl.Int64),
        "distance": pl.Series(np.asarray(assignment.distances, dtype=np.float32)),
        "margin": pl.Series(np.asarray(assignment.margin, dtype=np.float32)),
    })
    return attach_previous(df, previous)


def write_assignments(layout: Layout, date: dt.date, df: pl.DataFrame) -> None:
    with atomic_dir(layout.assignments(date)) as tmp:
        df.write_parquet(tmp / PART)


def write_transitions(
    layout: Layout, date: dt.date, df: pl.DataFrame, previous: pl.DataFrame | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Write ``transitions/date=…/`` (movers + migration matrix); returns both frames."""
    moved = transitions(df)
    matrix = migration_matrix(df, previous)
    with atomic_dir(layout.transitions(date)) as tmp:
        moved.write_parquet(tmp / PART)
        matrix.write_parquet(tmp / MIGRATION)
    return moved, matrix


def describe(features: pl.DataFrame, ids: pl.Series, seg_ids_per_row: np.ndarray,
             sticky: dict[int, str] | None, segments: dict[str, Any] | None = None,
             horizon_days: int | None = None) -> dict[int, str] | None:
    """Segment names from profiles (``None`` when the segments layer is unavailable).

    ``segments`` is the config's ``[segments]`` table (names, thresholds)."""
    try:
        from archetype.segments.naming import name_segments
        from archetype.segments.profiles import profile_segments
    except ImportError:
        log.info("segments profiles/naming not available; segments left unnamed")
        return None
    seg = pl.DataFrame({"customer_id": ids, "__seg": seg_ids_per_row})
    if features.height != len(ids) or not features["customer_id"].equals(ids):
        feats = seg.join(features, on="customer_id", how="left", maintain_order="left")
    else:
        feats = features.with_columns(pl.Series("__seg", seg_ids_per_row))
    profiles = profile_segments(feats.drop("__seg"), feats["__seg"].to_numpy(),
                                config=segments, horizon_days=horizon_days)
    fixed = (segments or {}).get("names") or {}
    return name_segments(profiles, sticky=sticky,
                         overrides={int(k): str(v) for k, v in fixed.items()})


def write_report(layout: Layout, date: dt.date, fs: Features, df: pl.DataFrame,
                 model: SegmentModel, previous: pl.DataFrame | None,
                 segments: dict[str, Any] | None = None) -> Path | None:
    """``reports/<date>.html`` via :mod:`archetype.report` (``None`` when unavailable)."""
    try:
        from archetype.report import build_report
        from archetype.report import write_report as _write
    except ImportError:
        log.info("archetype.report not available; no report written")
        return None
    emb = fs.embedding if fs.features.height == fs.embedding.shape[0] else None
    inputs = build_report(
        fs.features, df, embedding=emb, model=model, previous=previous,
        title=f"Customer segments {date.isoformat()}",
        facts={"model": str(model.version), "parent": str(model.parent or "none")},
        config=segments,
    )
    return _write(layout.report(date), inputs, kind=None)
