"""Who moved where between two runs: transitions, the migration matrix and drift.

Transitions are the feed for behavioral triggers ("moved from loyal to at-risk"): one row
per customer present in both runs whose stable segment id changed.  The migration matrix
counts every customer of the union of both runs by (previous id, current id); a null
previous id means a customer new tonight, a null current id one who is gone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl


def attach_previous(assignments: pl.DataFrame, previous: pl.DataFrame | None) -> pl.DataFrame:
    """Add ``previous_segment_id`` (Int64, null when absent) to tonight's assignments.

    Parameters
    ----------
    assignments : DataFrame with ``customer_id``, ``segment_id``
    previous : DataFrame with ``customer_id``, ``segment_id``, optional
        The previous run's assignments.

    Row order of ``assignments`` is kept.
    """
    if previous is None:
        return assignments.with_columns(pl.lit(None, dtype=pl.Int64).alias("previous_segment_id"))
    prev = previous.select(
        "customer_id", pl.col("segment_id").cast(pl.Int64).alias("previous_segment_id")
    )
    if prev["customer_id"].dtype != assignments["customer_id"].dtype:
        prev = prev.with_columns(pl.col("customer_id").cast(assignments["customer_id"].dtype))
    return assignments.join(prev, on="customer_id", how="left", maintain_order="left")


def transitions(assignments: pl.DataFrame) -> pl.DataFrame:
    """Customers whose segment changed: ``customer_id, from_segment_id, to_segment_id``."""
    return assignments.filter(
        pl.col("previous_segment_id").is_not_null()
        & (pl.col("previous_segment_id") != pl.col("segment_id"))
    ).select(
        "customer_id",
        pl.col("previous_segment_id").alias("from_segment_id"),
        pl.col("segment_id").cast(pl.Int64).alias("to_segment_id"),
    )


def migration_matrix(assignments: pl.DataFrame, previous: pl.DataFrame | None) -> pl.DataFrame:
    """Long-format migration matrix ``from_segment_id, to_segment_id, customers``.

    Counts every customer of tonight (``from`` null when new) plus every customer of the
    previous run absent tonight (``to`` null).  Sorted by (from, to), nulls first.
    """
    cur = assignments.select(
        pl.col("previous_segment_id").alias("from_segment_id"),
        pl.col("segment_id").cast(pl.Int64).alias("to_segment_id"),
    )
    parts = [cur]
    if previous is not None:
        prev = previous.select("customer_id", pl.col("segment_id").cast(pl.Int64))
        if prev["customer_id"].dtype != assignments["customer_id"].dtype:
            prev = prev.with_columns(pl.col("customer_id").cast(assignments["customer_id"].dtype))
        gone = prev.join(assignments.select("customer_id"), on="customer_id", how="anti")
        parts.append(
            gone.select(
                pl.col("segment_id").alias("from_segment_id"),
                pl.lit(None, dtype=pl.Int64).alias("to_segment_id"),
            )
        )
    both = pl.concat(parts)
    return (
        both.group_by("from_segment_id", "to_segment_id")
        .agg(pl.len().cast(pl.Int64).alias("customers"))
        .sort("from_segment_id", "to_segment_id", nulls_last=False)
    )


def centroid_shift(
    old_centroids: np.ndarray, old_ids: list[int], new_centroids: np.ndarray, new_ids: list[int]
) -> dict[int, float]:
    """L2 distance each kept segment's centroid moved, by stable id."""
    old_pos = {int(i): r for r, i in enumerate(old_ids)}
    out = {}
    for r, i in enumerate(new_ids):
        if int(i) in old_pos:
            a = np.asarray(old_centroids[old_pos[int(i)]], dtype=np.float64)
            b = np.asarray(new_centroids[r], dtype=np.float64)
            out[int(i)] = float(np.linalg.norm(a - b))
    return out


def drift_summary(
    assignments: pl.DataFrame,
    shift: dict[int, float],
    *,
    new_ids: list[int] | None = None,
    retired_ids: list[int] | None = None,
) -> dict[str, Any]:
    """Drift vs the previous run.

    Returns
    -------
    dict
        ``customers_in_both``, ``customers_moved``, ``share_moved`` (moved / in both),
        ``customers_new``, ``centroid_shift`` (by id), ``mean_centroid_shift``,
        ``max_centroid_shift``, ``new_segment_ids``, ``retired_segment_ids``.
    """
    prev = assignments["previous_segment_id"]
    seg = assignments["segment_id"].cast(pl.Int64)
    in_both = int(prev.is_not_null().sum())
    moved = int(((prev != seg) & prev.is_not_null()).sum())
    shifts = list(shift.values())
    return {
        "customers_in_both": in_both,
        "customers_moved": moved,
        "share_moved": (moved / in_both) if in_both else None,
        "customers_new": int(prev.is_null().sum()),
        "centroid_shift": {str(k): v for k, v in shift.items()},
        "mean_centroid_shift": float(np.mean(shifts)) if shifts else None,
        "max_centroid_shift": float(np.max(shifts)) if shifts else None,
        "new_segment_ids": list(new_ids or []),
        "retired_segment_ids": list(retired_ids or []),
    }
