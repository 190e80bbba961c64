"""Assignment on Ray: tasks over row ranges, each running the local assignment on its rows.

:func:`ray_assign` returns labels, distances and margins to the driver as one
:class:`archetype.cluster.Assignment` (what ``RayEngine.assign`` returns), equal to the local
``archetype.cluster.assign`` of the same rows: each task wraps its shard in the local
:class:`~archetype.cluster.data.ArrayDataset`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from archetype.distributed._ray import cluster_cpus, ensure_ray
from archetype.distributed.shards import Shard, embedding_shape, make_shards
from archetype.progress import Tracker, tracker_or_null

TASK_RETRIES = 3


def _assign_task(shard: Shard, centers: np.ndarray, metric: str, backend: str, device: str):
    from archetype.cluster.backends import get_backend
    from archetype.cluster.data import ArrayDataset

    ds = ArrayDataset(shard.load(), metric=metric, backend=get_backend(backend, device))
    return ds.assign(centers)


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

    ``centers`` are validated here (finite; non-zero rows for cosine); the embedding's rows
    must be finite (a features dir's embedding is).  Returns an
    :class:`archetype.cluster.Assignment` equal to the local
    ``archetype.cluster.assign(embedding, centers, ...)``.
    """
    from archetype.cluster import Assignment
    from archetype.cluster._validation import as_float32_2d, check_finite
    from archetype.cluster.metric import adapter

    m = adapter(metric)
    C = as_float32_2d(centers, name="centers")
    check_finite(C, name="centers")
    C = m.centers(C)
    ray = ensure_ray(address)
    n, _d = embedding_shape(embedding)
    shards = make_shards(embedding, _parts(n, num_tasks, ray), ray)
    centers_ref = ray.put(C)
    task = ray.remote(num_gpus=num_gpus, max_retries=TASK_RETRIES)(_assign_task)
    refs = [task.remote(s, centers_ref, m.metric, backend, device) for s in shards]
    out = []
    with tracker_or_null(tracker).task("assign on Ray", total=len(refs)) as t:
        for ref in refs:  # in order: rows stay in embedding order
            out.append(ray.get(ref))
            t.advance(1)
    return Assignment(*(np.concatenate([getattr(o, f) for o in out])
                        for f in ("labels", "distances", "margin")))


__all__ = ["ray_assign"]
