"""Assignment on Ray: tasks over row ranges, each writing its own output partition.

Two entry points:

* :func:`ray_assign` — labels, distances and margins back to the driver as one
  :class:`archetype.cluster.Assignment` (what ``RayEngine.assign`` returns);
* :func:`write_assignments` — each task writes ``part-NNNNN.parquet`` of
  ``customer_id, segment_id, distance, margin`` straight into a staging directory (temp
  file + rename, so a retried task never leaves half a file); when every task is done the
  driver writes ``_manifest.json`` last and renames the staging directory into place.  A
  failed run leaves nothing at the target: readers see the whole set or none of it.

The per-row math is :func:`archetype.cluster.assign`, the same call the local engine makes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from archetype._atomic import atomic_dir, atomic_file, write_json_atomic
from archetype.distributed._ray import cluster_cpus, ensure_ray
from archetype.distributed.shards import FileShard, Shard, embedding_rows, make_shards
from archetype.errors import UserError
from archetype.progress import Tracker, tracker_or_null

log = logging.getLogger(__name__)

MANIFEST = "_manifest.json"
TASK_RETRIES = 3


def _assign_rows(shard: Shard, centers: np.ndarray, metric: str, backend: str, device: str):
    from archetype.cluster import assign

    a = assign(shard.load(), centers, metric=metric, backend=backend, device=device)
    return (
        np.asarray(a.labels, dtype=np.int64),
        np.asarray(a.distances, dtype=np.float32),
        np.asarray(a.margin, dtype=np.float32),
    )


def _assign_task(shard, centers, metric, backend, device):
    return _assign_rows(shard, centers, metric, backend, device)


def _write_part_task(
    shard: Shard,
    ids_path: str,
    centers: np.ndarray,
    segment_ids: np.ndarray,
    part_path: str,
    metric: str,
    backend: str,
    device: str,
) -> dict[str, Any]:
    import polars as pl

    labels, dist, margin = _assign_rows(shard, centers, metric, backend, device)
    ids = (
        pl.scan_parquet(ids_path)
        .select("customer_id")
        .slice(shard.start, shard.stop - shard.start)
        .collect()
        .get_column("customer_id")
    )
    frame = pl.DataFrame(
        {
            "customer_id": ids,
            "segment_id": pl.Series(np.asarray(segment_ids, dtype=np.int64)[labels]),
            "distance": pl.Series(dist),
            "margin": pl.Series(margin),
        }
    )
    with atomic_file(part_path) as tmp:
        frame.write_parquet(tmp)
    counts = np.bincount(labels, minlength=len(centers))
    return {
        "file": os.path.basename(part_path),
        "rows": int(frame.height),
        "start": shard.start,
        "stop": shard.stop,
        "counts": counts.tolist(),
    }


def _parts(n_rows: int, num_tasks: int | None, ray: Any) -> int:
    return max(1, min(n_rows, num_tasks or 2 * cluster_cpus(ray)))


def ray_assign(
    embedding: np.ndarray | str | Path,
    centers: np.ndarray,
    *,
    metric: str = "l2",
    backend: str = "auto",
    device: str = "auto",
    num_tasks: int | None = None,
    address: str | None = None,
    num_gpus: float = 0,
    tracker: Tracker | None = None,
):
    """Nearest centroid of every row, computed by Ray tasks over row ranges.

    Returns an :class:`archetype.cluster.Assignment` equal to the local
    ``archetype.cluster.assign(embedding, centers, ...)``.
    """
    from archetype.cluster import Assignment

    ray = ensure_ray(address)
    n = embedding_rows(embedding)
    shards = make_shards(embedding, _parts(n, num_tasks, ray), ray)
    centers_ref = ray.put(np.ascontiguousarray(centers, dtype=np.float32))
    task = ray.remote(num_gpus=num_gpus, max_retries=TASK_RETRIES)(_assign_task)
    refs = [task.remote(s, centers_ref, metric, backend, device) for s in shards]
    out = []
    with tracker_or_null(tracker).task("assign on Ray", total=len(refs)) as t:
        for ref in refs:  # in order: rows stay in embedding order
            out.append(ray.get(ref))
            t.advance(1)
    return Assignment(
        labels=np.concatenate([o[0] for o in out]),
        distances=np.concatenate([o[1] for o in out]),
        margin=np.concatenate([o[2] for o in out]),
    )


def write_assignments(
    features_dir: str | Path,
    centers: np.ndarray,
    segment_ids: np.ndarray | list[int],
    out_dir: str | Path,
    *,
    metric: str = "l2",
    backend: str = "auto",
    device: str = "auto",
    num_tasks: int | None = None,
    address: str | None = None,
    num_gpus: float = 0,
    tracker: Tracker | None = None,
) -> dict[str, Any]:
    """Assign every customer of a features dir and write a partitioned assignments dir.

    Parameters
    ----------
    features_dir : path
        A features dir (``embedding.npy`` + ``ids.parquet``) on storage every node can read.
    centers : ndarray (k, d)
        Model centroids; row ``j`` is segment ``segment_ids[j]``.
    out_dir : path
        Target directory: ``part-NNNNN.parquet`` files (rows in ``ids.parquet`` order) and
        ``_manifest.json``, written last.  Replaced whole, or left untouched on failure.

    Returns
    -------
    dict
        The manifest: parts, rows, segment sizes.
    """
    features_dir = Path(features_dir)
    emb_path, ids_path = features_dir / "embedding.npy", features_dir / "ids.parquet"
    for p in (emb_path, ids_path):
        if not p.exists():
            raise UserError("not a features dir (missing file)", path=p)
    centers = np.ascontiguousarray(centers, dtype=np.float32)
    segment_ids = np.asarray(segment_ids, dtype=np.int64)
    if segment_ids.shape != (centers.shape[0],):
        raise UserError(
            f"{segment_ids.shape[0]} segment ids for {centers.shape[0]} centroids"
        )
    ray = ensure_ray(address)
    n = embedding_rows(emb_path)
    shards = make_shards(emb_path, _parts(n, num_tasks, ray), ray)
    task = ray.remote(num_gpus=num_gpus, max_retries=TASK_RETRIES)(_write_part_task)
    centers_ref = ray.put(centers)
    with atomic_dir(out_dir) as stage:
        refs = [
            task.remote(
                s, str(ids_path), centers_ref, segment_ids,
                str(stage / f"part-{i:05d}.parquet"), metric, backend, device,
            )
            for i, s in enumerate(shards)
        ]
        parts = []
        with tracker_or_null(tracker).task("assign partitions on Ray", total=len(refs)) as t:
            for ref in refs:
                parts.append(ray.get(ref))
                t.advance(1)
        sizes = np.sum([p["counts"] for p in parts], axis=0)
        manifest = {
            "format": "archetype-assignments/1",
            "rows": int(sum(p["rows"] for p in parts)),
            "columns": ["customer_id", "segment_id", "distance", "margin"],
            "parts": [{k: p[k] for k in ("file", "rows", "start", "stop")} for p in parts],
            "segment_sizes": {int(s): int(c) for s, c in zip(segment_ids, sizes, strict=True)},
            "features_dir": str(features_dir),
            "metric": metric,
        }
        if manifest["rows"] != n:
            raise RuntimeError(f"assignment wrote {manifest['rows']} rows for {n} customers")
        write_json_atomic(stage / MANIFEST, manifest)
    log.info("wrote %d assignment parts to %s", len(parts), out_dir)
    return manifest


def read_assignments(out_dir: str | Path):
    """Read a partitioned assignments dir (committed by :func:`write_assignments`) as one frame."""
    import json

    import polars as pl

    out_dir = Path(out_dir)
    mpath = out_dir / MANIFEST
    if not mpath.exists():
        raise UserError("not a committed assignments dir (no _manifest.json)", path=out_dir)
    manifest = json.loads(mpath.read_text())
    return pl.concat([pl.read_parquet(out_dir / p["file"]) for p in manifest["parts"]])


__all__ = ["FileShard", "ray_assign", "read_assignments", "write_assignments"]
