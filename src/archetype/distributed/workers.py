"""The shard worker: a Ray actor that holds one shard of the embedding in memory.

It wraps its rows in the local :class:`archetype.cluster.data.ArrayDataset` and answers the
dataset questions of the k-means loop about *its* rows, with row numbers of the whole
embedding: ``rows(idx)`` (``subset``), ``accumulate(centers, n_far, keep_labels)`` and
``assign(centers, mode)``.  No k-means math lives here.

Nothing in a worker depends on what it did before: a restarted worker (Ray re-runs the
constructor, which reloads the shard) answers every call exactly as the lost one would
have, so a restart changes no number of the fit.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from archetype.distributed.shards import Shard

log = logging.getLogger(__name__)


class ShardWorker:
    """Holds rows ``[shard.start, shard.stop)`` of the embedding; made a Ray actor by the driver.

    Parameters
    ----------
    index : int
        This worker's number.
    shard : FileShard or ObjectShard
        Where its rows are; (re)loaded in the constructor.
    metric, backend, device : str
        The backend is built once here and reused by every call.
    threads : int, optional
        Threads per pass for this worker (its share of the node's CPUs).
    """

    def __init__(self, index: int, shard: Shard, *, metric: str, backend: str, device: str,
                 threads: int | None = None) -> None:
        from archetype.cluster.backends import blocked, get_backend
        from archetype.cluster.data import ArrayDataset

        if threads:
            blocked.set_threads(threads)
        self.index = index
        self.shard = shard
        be = get_backend(backend, device)  # chosen once, before any pass
        self.ds = ArrayDataset(shard.load(), metric=metric, backend=be)
        log.info("worker %d loaded rows %d:%d", index, shard.start, shard.stop)

    def info(self) -> dict[str, Any]:
        """Rows, dimension, pid, resolved backend/device, and whether this is a restart."""
        import ray

        ctx = ray.get_runtime_context() if ray.is_initialized() else None
        restarted = bool(ctx is not None and ctx.get_actor_id() is not None
                         and ctx.was_current_actor_reconstructed)  # False outside an actor
        be = self.ds.backend
        return {"index": self.index, "start": self.shard.start, "rows": self.ds.count(),
                "dim": self.ds.dim(), "pid": os.getpid(), "restarted": restarted,
                "backend": be.name, "device": be.device}

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Clean rows at the sorted shard-local indices ``idx``."""
        return self.ds.subset(idx)[0]

    def accumulate(self, centers: np.ndarray, n_far: int, keep_labels: bool):
        """``StepStats`` of a pass over the shard, far rows numbered in the whole embedding."""
        st = self.ds.accumulate(centers, n_far=int(n_far), keep_labels=bool(keep_labels))
        st.far = st.far + self.shard.start
        return st

    def assign(self, centers: np.ndarray, mode: int):
        """``Assignment`` of every row of the shard."""
        return self.ds.assign(centers, mode=int(mode))
