"""``ShardedDataset``: the k-means loop's dataset, with the rows held by Ray actors.

The driver runs the loop of :mod:`archetype.cluster.kmeans` unchanged; this adapter answers
its questions (FAISS ``distributed_kmeans.py``: a ``DatasetAssign`` over remote shards):

* ``subset(idx)`` — each shard returns its rows of the sorted ``idx`` (the sample, a
  warm start's mini-batches, the far rows for empty clusters);
* ``accumulate(C)`` — ``ray.put(C)`` once, every shard's stats, summed on the driver in shard
  order; a node receives ``k*d*4`` bytes and returns ``k*d*8 + k*8 + k*12`` bytes per pass,
  whatever its number of rows;
* ``assign(C)`` — every shard's assignment, concatenated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archetype.cluster.backends import MARGIN
from archetype.cluster.data import Assignment
from archetype.cluster.metric import adapter
from archetype.distributed._ray import cluster_cpus
from archetype.distributed.shards import make_shards
from archetype.distributed.workers import ShardWorker


class WorkerLostError(RuntimeError):
    """A shard worker died more often than ``max_restarts`` allows; the fit is abandoned."""


def get(ray: Any, refs: list[Any], what: str) -> list[Any]:
    """``ray.get`` that turns a lost actor into a :class:`WorkerLostError` naming ``what``."""
    try:
        return ray.get(refs)
    except ray.exceptions.RayActorError as e:
        raise WorkerLostError(
            f"a shard worker died during {what} and could not be restarted "
            f"(raise max_restarts, or check the node's memory and logs): {e}"
        ) from e


@dataclass
class WorkerPool:
    """Shard actors, what each reported on start, and their shards.

    Holding ``shards`` keeps object-store shards alive for as long as an actor may need to
    restart from them (Ray frees an object when its last reference goes).
    """

    workers: list[Any]
    infos: list[dict[str, Any]]
    shards: list[Any]
    metric: str

    def close(self, ray: Any) -> None:
        for w in self.workers:
            ray.kill(w)


def start_workers(
    ray: Any,
    embedding: np.ndarray | str | Path,
    num_workers: int,
    *,
    metric: str,
    backend: str,
    device: str,
    num_gpus: float = 0,
    num_cpus: float | None = None,
    max_restarts: int = 3,
) -> WorkerPool:
    """Start one :class:`ShardWorker` actor per shard; wait until each holds its rows.

    Each actor reserves ``num_cpus`` CPUs (default 1, or an equal share when there are more
    workers than CPUs, so that they can all start) and ``num_gpus`` GPUs for its whole life.
    """
    shards = make_shards(embedding, num_workers, ray)
    cpus = cluster_cpus(ray)
    threads = max(1, cpus // max(1, len(shards)))
    if num_cpus is None:
        num_cpus = min(1.0, cpus / max(1, len(shards)))
    actor_cls = ray.remote(ShardWorker).options(
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        max_restarts=max_restarts,
        max_task_retries=max_restarts,
    )
    workers = [
        actor_cls.remote(i, s, metric=metric, backend=backend, device=device, threads=threads)
        for i, s in enumerate(shards)
    ]
    try:
        infos = get(ray, [w.info.remote() for w in workers], "loading shards")
    except BaseException:
        for w in workers:
            ray.kill(w)
        raise
    return WorkerPool(workers, infos, shards, metric)


class ShardedDataset:
    """The :class:`~archetype.cluster.data.Dataset` of the rows held by a :class:`WorkerPool`.

    ``on_pass(i, workers)``, if given, is called after pass ``i`` (tests kill a worker there).
    """

    def __init__(
        self, ray: Any, pool: WorkerPool, on_pass: Callable[[int, list[Any]], None] | None = None
    ) -> None:
        self.ray = ray
        self.pool = pool
        self.metric = adapter(pool.metric)
        self.on_pass = on_pass
        self.passes = 0
        self._starts = np.array([i["start"] for i in pool.infos] + [self.count()], np.int64)

    def count(self) -> int:
        return int(sum(i["rows"] for i in self.pool.infos))

    def dim(self) -> int:
        return int(self.pool.infos[0]["dim"])

    def subset(self, idx: np.ndarray) -> tuple[np.ndarray, None]:
        idx = np.sort(np.asarray(idx))
        cut = np.searchsorted(idx, self._starts)
        refs = [
            w.rows.remote(idx[cut[i] : cut[i + 1]] - self._starts[i])
            for i, w in enumerate(self.pool.workers)
            if cut[i + 1] > cut[i]
        ]
        parts = get(self.ray, refs, "fetching rows")
        if not parts:
            return np.empty((0, self.dim()), np.float32), None
        return np.concatenate(parts), None

    def accumulate(self, centers, *, n_far=0, keep_labels=False):
        ref = self.ray.put(np.ascontiguousarray(centers, dtype=np.float32))
        parts = get(
            self.ray,
            [w.accumulate.remote(ref, n_far, keep_labels) for w in self.pool.workers],
            f"pass {self.passes}",
        )
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        if self.on_pass is not None:
            self.on_pass(self.passes, self.pool.workers)
        self.passes += 1
        return total.keep_farthest(n_far)

    def assign(self, centers, *, mode: int = MARGIN) -> Assignment:
        ref = self.ray.put(np.ascontiguousarray(centers, dtype=np.float32))
        parts = get(self.ray, [w.assign.remote(ref, mode) for w in self.pool.workers], "assignment")
        return Assignment(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("labels", "distances", "margin")
            )
        )

    def close(self) -> None:
        """The pool belongs to whoever started it (see :func:`start_workers`)."""
