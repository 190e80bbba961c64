"""Mini-batch k-means on Ray: shard actors, centroids broadcast, stats summed on the driver.

The driver owns the loop; the workers (:class:`~archetype.distributed.workers.ShardWorker`)
own the rows.  One mini-batch iteration is::

    ref = ray.put(centers)                       # k x d x 4 bytes, once per iteration
    parts = ray.get([w.batch_stats.remote(ref, seed, it, share_w) for w in workers])
    batch = sum(parts)                           # StepStats.__add__

so a node receives ``k*d*4`` bytes of centroids and returns ``k*d*8 + k*8 + 16`` bytes of
stats per iteration, whatever its number of rows.  The phases follow the local estimator
(``archetype.cluster.estimator``):

1. seeding — k-means++ (``archetype.cluster.init.kmeans_plusplus``) on a sample of
   ``seed_sample_size(n, k)`` rows gathered from every shard in proportion to its size;
2. mini-batch phase — ``min(300, ceil(n / batch_size))`` steps with Sculley's per-center
   learning rate, early stop on the smoothed batch inertia.  The running state *is* a
   ``StepStats`` (``sums = centers * counts``), so a step is ``state + batch`` and
   ``centers_from_stats`` — the shared functions, no private copy of the update;
3. Lloyd phase — full passes (each worker runs the local ``lloyd.full_pass`` on its shard)
   until the relative inertia gain is at most ``tol`` with no empty cluster; empty
   clusters move to the farthest rows over all shards.  The returned inertia is that of
   the returned centers over every row.

Determinism: worker ``w`` draws its part of batch ``it`` with an RNG keyed by
``(seed, w, it)``, its share depends only on shard sizes, and the driver sums the parts in
worker order: the same seed and number of workers give the same centroids, run after run,
restart or no restart.  Not mirrored: the local mini-batch phase's occasional
reassignment of starved centers (it needs the batch rows on the driver); the Lloyd phase
relocates any center that is still empty.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from archetype.distributed._ray import cluster_cpus, ensure_ray
from archetype.distributed.shards import embedding_rows, make_shards
from archetype.distributed.workers import ShardWorker, batch_shares
from archetype.errors import UserError
from archetype.progress import Tracker, tracker_or_null

log = logging.getLogger(__name__)


class WorkerLostError(RuntimeError):
    """A shard worker died more often than ``max_restarts`` allows; the fit is abandoned."""


@dataclass
class RayFitConfig:
    """Knobs of the distributed fit; defaults are the local estimator's.

    ``max_iter`` bounds the Lloyd passes, ``max_steps`` the mini-batch steps
    (``None``: ``min(300, ceil(n / batch_size))``).
    """

    max_iter: int = 50
    batch_size: int = 4096
    max_steps: int | None = None
    tol: float = 1e-4
    max_no_improvement: int | None = 10
    max_restarts: int = 3


@dataclass
class RayFitResult:
    """Centroids, the inertia of every row against them, and how the fit went."""

    centers: np.ndarray
    inertia: float
    n_iter: int  # Lloyd passes
    n_steps: int  # mini-batch steps
    history: list[dict[str, Any]] = field(default_factory=list)
    workers: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _get(ray: Any, refs: list[Any], what: str) -> list[Any]:
    try:
        return ray.get(refs)
    except ray.exceptions.RayActorError as e:
        raise WorkerLostError(
            f"a shard worker died during {what} and could not be restarted "
            f"(raise max_restarts, or check the node's memory and logs): {e}"
        ) from e


def _sum(parts: list[Any]) -> Any:
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


@dataclass
class WorkerPool:
    """Shard actors, what each reported on start, and their shards.

    Holding ``shards`` keeps object-store shards alive for as long as an actor may need to
    restart from them (Ray frees an object when its last reference goes).
    """

    workers: list[Any]
    infos: list[dict[str, Any]]
    shards: list[Any]

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
        infos = _get(ray, [w.info.remote() for w in workers], "loading shards")
    except BaseException:
        for w in workers:
            ray.kill(w)
        raise
    return WorkerPool(workers, infos, shards)


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
    config: RayFitConfig | None = None,
    tracker: Tracker | None = None,
    pool: WorkerPool | None = None,
    on_step: Callable[[int, list[Any]], None] | None = None,
) -> RayFitResult:
    """Fit k-means centroids over an embedding sharded across Ray actors.

    Parameters
    ----------
    embedding : ndarray (n, d), memmap, or path to ``embedding.npy``
        A path (or a memmap of a whole ``.npy``) lets each worker read its own rows from
        shared storage; an in-memory array is shipped through the object store.
    k : int
        Number of clusters.
    init : ndarray (k, d), optional
        Starting centroids (warm start from yesterday's model); else k-means++ on a sample
        gathered from every shard.
    seed : int
        Seeds the sample, the k-means++ draw and every mini-batch.
    num_workers : int, optional
        Shard actors (default: one per CPU of the cluster).
    num_gpus : float
        GPUs per worker (``device`` should then be ``"cuda"`` or ``"auto"``).
    pool : WorkerPool, optional
        Shard workers already started on this embedding by :func:`start_workers` (then
        ``embedding``, ``num_workers``, ``metric``, ``backend``, ``device`` and ``num_gpus``
        must match the pool's; it is left running).  Starting workers costs seconds per
        process, so repeated fits on one embedding (a k sweep, tests) share one pool.
    on_step : callable, optional
        ``f(step, workers)`` called after each mini-batch step (tests kill a worker here).

    Returns
    -------
    RayFitResult
    """
    from archetype.cluster._validation import check_metric

    check_metric(metric)
    cfg = config or RayFitConfig()
    ray = ensure_ray(address)
    t0 = time.perf_counter()
    track = tracker_or_null(tracker)
    own_pool = pool is None
    if own_pool:
        n = embedding_rows(embedding)
        if n < k:  # before paying for worker processes
            raise UserError(f"n_samples={n} should be >= n_clusters={k}")
        pool = start_workers(
            ray, embedding, num_workers or cluster_cpus(ray), metric=metric, backend=backend,
            device=device, num_gpus=num_gpus, max_restarts=cfg.max_restarts,
        )
    workers, infos = pool.workers, pool.infos
    try:
        sizes = [i["rows"] for i in infos]
        n, d = sum(sizes), infos[0]["dim"]
        if n < k:
            raise UserError(f"n_samples={n} should be >= n_clusters={k}")
        history: list[dict[str, Any]] = []
        centers = _initial_centers(ray, workers, sizes, k, d, init, seed, metric)
        history.append({"phase": "init", "step": 0, "seconds": time.perf_counter() - t0})
        centers = _minibatch_phase(ray, workers, sizes, centers, seed, metric, cfg, history,
                                   track, on_step)
        centers, inertia, n_pass = _lloyd_phase(ray, workers, centers, metric, cfg, history,
                                                track)
    finally:
        if own_pool:
            pool.close(ray)
    return RayFitResult(
        centers=centers, inertia=inertia, n_iter=n_pass,
        n_steps=sum(1 for h in history if h["phase"] == "minibatch"),
        history=history, workers=infos, seconds=time.perf_counter() - t0,
    )


def _initial_centers(ray, workers, sizes, k, d, init, seed, metric) -> np.ndarray:
    from archetype.cluster._validation import check_finite, normalize_rows
    from archetype.cluster.init import kmeans_plusplus, seed_sample_size

    if init is not None:
        C = np.ascontiguousarray(np.asarray(init, dtype=np.float32))
        if C.shape != (k, d):
            raise UserError(f"init.shape={C.shape} should be (n_clusters={k}, n_features={d})")
        check_finite(C, name="init")
        return normalize_rows(C, name="init") if metric == "cosine" else C
    shares = batch_shares(sizes, seed_sample_size(sum(sizes), k))
    parts = _get(ray, [w.sample.remote(seed, s) for w, s in zip(workers, shares, strict=True)],
                 "seeding")
    sample = np.concatenate([p for p in parts if len(p)])
    if metric == "cosine":
        sample = normalize_rows(np.ascontiguousarray(sample))
    rng = np.random.default_rng([int(seed), 0x1417])
    C = kmeans_plusplus(sample, np.ones(len(sample)), k, rng)
    if metric == "cosine":
        C = C / np.linalg.norm(C, axis=1, keepdims=True)
    return np.ascontiguousarray(C, dtype=np.float32)


def _minibatch_phase(ray, workers, sizes, centers, seed, metric, cfg, history, track,
                     on_step) -> np.ndarray:
    from archetype.cluster.step import StepStats, centers_from_stats

    n = sum(sizes)
    bs = min(cfg.batch_size, n)
    steps = cfg.max_steps if cfg.max_steps is not None else min(300, math.ceil(n / bs))
    shares = batch_shares(sizes, bs)
    active = [(w, s) for w, s in zip(workers, shares, strict=True) if s > 0]
    alpha = min(1.0, bs * 2.0 / (n + 1))
    # The running state as sufficient statistics: centers c_j having absorbed weight n_j.
    counts = np.zeros(len(centers))
    ewa, best, stale = None, np.inf, 0
    with track.task("k-means mini-batch steps on Ray", total=steps) as task:
        for step in range(steps):
            t0 = time.perf_counter()
            ref = ray.put(centers)
            batch = _sum(_get(ray, [w.batch_stats.remote(ref, seed, step, s) for w, s in active],
                              f"mini-batch step {step}"))
            state = StepStats(centers.astype(np.float64) * counts[:, None], counts, 0.0, 0)
            merged = state + batch
            centers = centers_from_stats(merged, centers, metric=metric)
            counts = merged.counts
            inertia = batch.inertia / max(batch.n, 1)
            ewa = inertia if ewa is None else ewa * (1 - alpha) + inertia * alpha
            history.append({"phase": "minibatch", "step": step, "inertia": inertia,
                            "ewa_inertia": ewa, "seconds": time.perf_counter() - t0})
            task.advance(1)
            if on_step is not None:
                on_step(step, workers)
            if ewa < best:
                best, stale = ewa, 0
            else:
                stale += 1
                if cfg.max_no_improvement is not None and stale >= cfg.max_no_improvement:
                    break
    return centers


def _lloyd_phase(ray, workers, centers, metric, cfg, history, track):
    """Full passes until converged, as ``archetype.cluster.lloyd.lloyd_phase``.

    Returns the centers the final inertia was computed against, the inertia, and passes.
    """
    from archetype.cluster.data import Dataset
    from archetype.cluster.lloyd import relocate_empty
    from archetype.cluster.step import centers_from_stats

    C, prev, n_pass, k = centers, np.inf, 0, len(centers)
    with track.task("k-means full passes on Ray", total=cfg.max_iter + 1) as task:
        while True:
            t0 = time.perf_counter()
            ref = ray.put(C)
            parts = _get(ray, [w.lloyd_pass.remote(ref, k) for w in workers],
                         f"Lloyd pass {n_pass}")
            stats = _sum([p[0] for p in parts])
            n_pass += 1
            task.advance(1)
            n_empty = int((stats.counts <= 0).sum())
            history.append({"phase": "lloyd", "step": n_pass - 1, "inertia": stats.inertia,
                            "empty": n_empty, "seconds": time.perf_counter() - t0})
            gain = (prev - stats.inertia) / max(abs(prev), 1e-30) if np.isfinite(prev) else np.inf
            if n_pass > cfg.max_iter or (n_empty == 0 and gain <= cfg.tol):
                return C, float(stats.inertia), n_pass
            prev = stats.inertia
            C_new = centers_from_stats(stats, C, metric=metric)
            if n_empty:
                # farthest rows over all shards, farthest first, through the local rule
                rows = np.concatenate([p[1] for p in parts])
                dist = np.concatenate([p[2] for p in parts])
                far_rows = rows[np.argsort(-dist, kind="stable")[:k]]
                relocate_empty(Dataset(far_rows, metric=metric), stats, C_new,
                               np.arange(len(far_rows)))
            C = C_new
