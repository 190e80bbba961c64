"""The shard worker: a Ray actor that holds one shard of the embedding in memory.

Each worker answers a few questions about *its* rows, always through the one step function
the single-machine fit uses (:func:`archetype.cluster.step.partial_stats`):

* ``sample(seed, size)`` — rows for seeding (k-means++ runs on the driver over the union);
* ``batch_stats(centers, seed, iteration, size)`` — stats of a mini-batch drawn from its
  rows with an RNG keyed by ``(seed, worker, iteration)``;
* ``lloyd_pass(centers, n_far)`` — a Lloyd pass over all its rows with the local
  estimator's ``full_pass`` (stats plus its farthest rows, for empty clusters);
* ``full_stats(centers)`` — ``partial_stats`` of all its rows.

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


SAMPLE_STREAM, BATCH_STREAM = 1, 2


def batch_rng(seed: int, worker: int, iteration: int, stream: int = BATCH_STREAM
              ) -> np.random.Generator:
    """The RNG a worker draws its part of mini-batch ``iteration`` with (stateless, replayable).

    ``stream`` separates the seeding sample (``SAMPLE_STREAM``) from the mini-batches.
    """
    return np.random.default_rng([int(seed), int(worker), int(iteration), int(stream)])


def batch_shares(sizes: list[int], batch_size: int) -> list[int]:
    """Split ``batch_size`` draws over shards in proportion to their row counts.

    Largest-remainder rounding, so the shares sum to ``batch_size`` exactly and depend only on
    the shard sizes: a mini-batch across shards is a draw from all ``n`` rows stratified by
    shard.
    """
    n = sum(sizes)
    if n == 0:
        return [0] * len(sizes)
    exact = [batch_size * s / n for s in sizes]
    shares = [int(e) for e in exact]
    order = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[: batch_size - sum(shares)]:
        shares[i] += 1
    return shares


class ShardWorker:
    """Holds rows ``[shard.start, shard.stop)`` of the embedding; made a Ray actor by the driver.

    Parameters
    ----------
    index : int
        This worker's number (keys its RNG).
    shard : FileShard or ObjectShard
        Where its rows are; (re)loaded in the constructor.
    metric, backend, device : str
        As for ``partial_stats``; the backend is built once here and reused by every call.
    threads : int, optional
        Torch intra-op threads for this worker (its share of the cluster's CPUs).
    """

    def __init__(
        self,
        index: int,
        shard: Shard,
        *,
        metric: str,
        backend: str,
        device: str,
        threads: int | None = None,
    ) -> None:
        if threads:
            try:
                import torch

                torch.set_num_threads(threads)
            except ImportError:  # pragma: no cover - torch is a core dependency
                pass
        self.index = index
        self.shard = shard
        self.metric = metric
        self.backend = backend
        self.device = device
        from archetype.cluster.backends import get_backend

        self.be = get_backend(backend, device)  # chosen once, before any step
        self.X = shard.load()
        log.info("worker %d loaded rows %d:%d", index, shard.start, shard.stop)

    # -- plumbing -------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """Rows, dimension, pid, resolved backend/device, and whether this is a restart."""
        restarted = False
        try:
            import ray

            restarted = bool(ray.get_runtime_context().was_current_actor_reconstructed)
        except Exception:  # noqa: BLE001 - outside Ray (plain-Python use in tests)
            pass
        return {
            "index": self.index,
            "rows": int(self.X.shape[0]),
            "dim": int(self.X.shape[1]),
            "pid": os.getpid(),
            "restarted": restarted,
            "backend": str(getattr(self.be, "name", self.backend)),
            "device": str(getattr(self.be, "device", self.device)),
        }

    def _stats(self, X: np.ndarray, centers: np.ndarray):
        from archetype.cluster.step import partial_stats

        return partial_stats(X, centers, metric=self.metric, backend=self.be, device=self.device)

    # -- the three questions --------------------------------------------------------------
    def sample(self, seed: int, size: int) -> np.ndarray:
        """``size`` distinct rows of this shard (for k-means++ seeding on the driver)."""
        size = min(int(size), self.X.shape[0])
        rng = batch_rng(seed, self.index, 0, SAMPLE_STREAM)
        idx = np.sort(rng.choice(self.X.shape[0], size=size, replace=False))
        return self.X[idx]

    def batch_stats(self, centers: np.ndarray, seed: int, iteration: int, size: int):
        """``StepStats`` of ``size`` rows drawn (with replacement) for mini-batch ``iteration``."""
        rng = batch_rng(seed, self.index, iteration)
        idx = np.sort(rng.integers(0, self.X.shape[0], size=int(size)))
        return self._stats(self.X[idx], centers)

    def full_stats(self, centers: np.ndarray):
        """``StepStats`` of every row of this shard."""
        return self._stats(self.X, centers)

    def lloyd_pass(self, centers: np.ndarray, n_far: int):
        """One Lloyd pass over the shard with the local estimator's ``full_pass``.

        Returns
        -------
        stats : StepStats
        far_rows : ndarray (m, d) float32 — the shard's ``n_far`` rows farthest from their
            center, farthest first (candidates for empty clusters), as the local pass
            would pick them;
        far_dist : ndarray (m,) — their distances, so the driver can merge shards.
        """
        from archetype.cluster import assign
        from archetype.cluster.data import Dataset
        from archetype.cluster.lloyd import full_pass

        ds = Dataset(self.X, metric=self.metric)
        stats, _, far = full_pass(ds, centers, self.be, n_far=int(n_far))
        if len(far) == 0:
            return stats, np.empty((0, self.X.shape[1]), np.float32), np.empty(0, np.float32)
        x, _ = ds.subset(far)  # sorted by row index (normalized for cosine)
        rows = np.ascontiguousarray(x[np.argsort(np.argsort(far))])  # back to farthest first
        dist = assign(rows, centers, metric=self.metric, backend=self.be).distances
        return stats, rows, np.asarray(dist, dtype=np.float32)

    def labels(self, centers: np.ndarray) -> np.ndarray:
        """Nearest-centroid labels of every row."""
        from archetype.cluster import assign

        return assign(self.X, centers, metric=self.metric, backend=self.be).labels
