"""The step functions a nightly run strings together (features, ids, outputs, names).

Each takes clean inputs and writes its output atomically; :mod:`archetype.pipeline.run`
orders them, times them and records what happened.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from archetype._atomic import TMP_PREFIX, atomic_dir, clean_stale_tmp
from archetype.pipeline.config import RunConfig
from archetype.pipeline.layout import MIGRATION, PART, Layout
from archetype.pipeline.model import SegmentModel
from archetype.pipeline.privacy import pseudonymize_series
from archetype.segments.matching import MatchResult, match_segments_detailed
from archetype.segments.migration import attach_previous, migration_matrix, transitions

log = logging.getLogger(__name__)


@dataclass
class Features:
    """What a run needs of a feature dir (ids possibly pseudonymized)."""

    ids: pl.Series
    features: pl.DataFrame
    embedding: np.ndarray
    transform: Any
    path: Path

    @property
    def transform_dict(self) -> dict[str, Any]:
        t = self.transform
        return t if isinstance(t, dict) else t.to_dict()

    @property
    def feature_names(self) -> list[str]:
        t = self.transform
        if isinstance(t, dict):
            return list(t.get("feature_names") or [])
        return list(t.feature_names)


def feature_config(cfg: RunConfig) -> dict[str, Any] | None:
    """The ``config=`` of ``compute_feature_dir``: the [events]/[features] tables as a dict."""
    if not cfg.events_table and not cfg.features_table:
        return None
    return {"events": cfg.events_table, "features": cfg.features_table}


def _promote(src: Path, final: Path) -> None:
    """Rename the staged dir ``src`` onto ``final`` (old one moved aside, then removed)."""
    if final.exists():
        old = final.parent / f"{TMP_PREFIX}{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
        os.replace(src, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, final)


def build_features(
    engine: Any, cfg: RunConfig, layout: Layout, date: dt.date, *, transform: Any,
    key: bytes | None, tracker: Any = None,
) -> Features:
    """Features as of ``date`` into ``features/date=…`` (pseudonymized before promotion).

    The engine writes into a hidden staging dir next to the final one, which is then
    renamed into place.  When pseudonymizing, an engine with ``supports_id_map = True``
    gets ``id_map=`` and writes pseudonyms directly (raw ids never touch the disk);
    otherwise ids are replaced in the staging dir before it is renamed.  A crash leaves
    only the hidden staging dir, which the next writer of the same date removes.
    """
    final = layout.features(date)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_tmp(final)
    staging = final.parent / f"{TMP_PREFIX}{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    direct = key is not None and bool(getattr(engine, "supports_id_map", False))
    extra = {"id_map": functools.partial(pseudonymize_series, key=key)} if direct else {}
    try:
        fs = engine.features(
            cfg.events, date, staging, config=feature_config(cfg), window_days=cfg.window_days,
            transform=transform, tracker=tracker, **extra,
        )
        ids, feats = fs.ids, fs.features
        if key is not None and not direct:
            ids = pseudonymize_series(fs.ids, key=key)
            mapping = pl.DataFrame({"__raw": fs.ids, "__ps": ids})
            feats = (
                fs.features.join(
                    mapping, left_on="customer_id", right_on="__raw", how="left",
                    maintain_order="left",
                )
                .with_columns(pl.col("__ps").alias("customer_id"))
                .drop("__ps")
            )
            feats.write_parquet(staging / "features.parquet")
            pl.DataFrame({"customer_id": ids}).write_parquet(staging / "ids.parquet")
        _promote(staging, final)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return Features(ids=ids, features=feats, embedding=fs.embedding, transform=fs.transform,
                    path=final)


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
    return _write(layout.report(date), inputs)
