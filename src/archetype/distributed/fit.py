"""k-means on Ray: the local loop over a :class:`~archetype.distributed.dataset.ShardedDataset`.

The driver runs :func:`archetype.cluster.kmeans` — the same phases, code and random draws as
``MiniBatchKMeans.fit`` — and the shard actors answer its dataset questions.  Sample, seeding,
mini-batch steps, sample Lloyd and repair run on the driver on the in-memory sample gathered
from the shards; every full pass is one round trip to the actors.  For the same seed the
fit draws the same sample and makes the same moves as the local one, so both reach the same
centers (the sums of a full pass are added in another order, float64).

Determinism and restarts: nothing random happens on a worker, and a restarted worker
reloads its shard and answers as the lost one would have, so a lost worker changes no number
of the fit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from archetype.distributed._ray import cluster_cpus, ensure_ray
from archetype.distributed.dataset import ShardedDataset, WorkerPool, start_workers
from archetype.distributed.shards import embedding_shape
from archetype.errors import UserError
from archetype.progress import Tracker

log = logging.getLogger(__name__)


@dataclass
class RayFitResult:
    """Centroids, the inertia of every row against them, and how the fit went."""

    centers: np.ndarray
    inertia: float
    sizes: np.ndarray  # (k,) rows of each center
    n_iter: int  # full passes
    n_steps: int  # mini-batch steps
    history: list[dict[str, Any]] = field(default_factory=list)
    workers: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _driver_backend(backend: str, device: str):
    """The backend for the loop's in-memory sample on the driver (CPU when the GPUs are on
    the workers only)."""
    from archetype.cluster.backends import cuda_available, get_backend

    if str(device).startswith("cuda") and not cuda_available():
        return get_backend("auto" if backend == "torch" else backend, "cpu")
    return get_backend(backend, device)


def ray_fit(
    embedding: np.ndarray | str | Path,
    k: int,
    *,
    init: np.ndarray | None = None,
    seed: int = 0,
    metric: str = "l2",
    backend: str = "auto",
    device: str = "auto",
    num_workers: int | None = None,
    num_gpus: float = 0,
    address: str | None = None,
    max_restarts: int = 3,
    tracker: Tracker | None = None,
    pool: WorkerPool | None = None,
    on_pass: Callable[[int, list[Any]], None] | None = None,
    **loop: Any,
) -> RayFitResult:
    """Fit k-means centroids over an embedding sharded across Ray actors.

    Parameters
    ----------
    embedding : ndarray (n, d), memmap, or path to ``embedding.npy``
        A path (or a memmap of a whole ``.npy``) lets each worker read its own rows from
        shared storage; an in-memory array is shipped through the object store.  Rows must
        be finite (a features dir's embedding is).
    k : int
        Number of clusters.
    init : ndarray (k, d), optional
        Starting centroids (warm start from yesterday's model); else k-means++ on a sample
        gathered from every shard.
    seed : int
        ``random_state`` of the loop: the same seed gives the local estimator's draws.
    num_workers : int, optional
        Shard actors (default: one per CPU of the cluster).
    num_gpus : float
        GPUs per worker (``device`` should then be ``"cuda"`` or ``"auto"``).
    pool : WorkerPool, optional
        Shard workers already started on this embedding by :func:`start_workers` (then
        ``embedding``, ``num_workers``, ``metric``, ``backend``, ``device`` and ``num_gpus``
        must match the pool's; it is left running).  Starting workers costs seconds per
        process, so repeated fits on one embedding (a k sweep, tests) share one pool.
    on_pass : callable, optional
        ``f(pass, workers)`` called after each full pass (tests kill a worker here).
    **loop
        Settings of :class:`archetype.cluster.KMeansParams`: ``n_init``, ``max_iter``,
        ``batch_size``, ``max_steps``, ``tol``, ``max_no_improvement``,
        ``reassignment_ratio``.

    Returns
    -------
    RayFitResult
    """
    from archetype.cluster import KMeansParams, kmeans
    from archetype.cluster._validation import check_finite
    from archetype.cluster.metric import adapter

    m = adapter(metric)
    params = KMeansParams(n_clusters=k, keep_labels=False, **loop)
    n, d = embedding_shape(embedding) if pool is None else (
        sum(i["rows"] for i in pool.infos), pool.infos[0]["dim"])
    if n < k:  # before paying for worker processes
        raise UserError(f"n_samples={n} should be >= n_clusters={k}")
    if init is not None:
        C = np.ascontiguousarray(np.asarray(init, dtype=np.float32))
        if C.shape != (k, d):
            raise UserError(f"init.shape={C.shape} should be (n_clusters={k}, n_features={d})")
        check_finite(C, name="init")
        params = replace(params, init=m.centers(C, name="init"))
    driver_be = _driver_backend(backend, device)
    ray = ensure_ray(address)
    t0 = time.perf_counter()
    own_pool = pool is None
    if own_pool:
        pool = start_workers(ray, embedding, num_workers or cluster_cpus(ray), metric=m.metric,
                             backend=backend, device=device, num_gpus=num_gpus,
                             max_restarts=max_restarts)
    try:
        ds = ShardedDataset(ray, pool, on_pass=on_pass)
        res = kmeans(ds, params, backend=driver_be, random_state=seed, tracker=tracker)
    finally:
        if own_pool:
            pool.close(ray)
    return RayFitResult(centers=res.centers, inertia=res.inertia, sizes=res.sizes,
                        n_iter=res.n_iter,
                        n_steps=res.n_steps, history=res.history, workers=pool.infos,
                        seconds=time.perf_counter() - t0)
