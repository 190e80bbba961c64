"""Mini-batch k-means on Ray: shard actors, centroids broadcast, stats summed on the driver.

The driver owns the loop; the workers (:class:`~archetype.distributed.workers.ShardWorker`)
own the rows.  One iteration is::

    ref = ray.put(centers)                       # k x d x 4 bytes, once per iteration
    parts = ray.get([w.batch_stats.remote(ref, seed, it, share_w) for w in workers])
    stats = sum(parts)                           # StepStats.__add__: k x d sums + k counts
    centers = <the local estimator's update>(stats, centers)

so a node receives ``k*d*4`` bytes of centroids and returns ``k*d*8 + k*8 + 16`` bytes of
stats per iteration, whatever its number of rows.  The statistics come from
:func:`archetype.cluster.step.partial_stats`, the function the single-machine estimator
calls, and the center update is the estimator's own: this module has no k-means math.

Determinism: worker ``w`` draws its part of batch ``it`` with an RNG keyed by
``(seed, w, it)`` and its share depends only on shard sizes, so the same seed and number of
workers give the same centroids, run after run, restart or no restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from archetype.distributed._ray import cluster_cpus, ensure_ray
from archetype.distributed.shards import make_shards
from archetype.distributed.workers import ShardWorker, batch_shares
from archetype.errors import UserError
from archetype.progress import Tracker, tracker_or_null

log = logging.getLogger(__name__)


class WorkerLostError(RuntimeError):
    """A shard worker died more often than ``max_restarts`` allows; the fit is abandoned."""


@dataclass
class RayFitConfig:
    """Knobs of the distributed fit (defaults follow the local estimator)."""

    max_iter: int = 100
    batch_size: int = 4096
    lloyd_passes: int = 2
    tol: float = 1e-4
    init_sample: int = 100_000
    max_restarts: int = 3


@dataclass
class RayFitResult:
    centers: np.ndarray
    inertia: float
    n_iter: int
    history: list[dict[str, float]] = field(default_factory=list)
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


def start_workers(
    ray: Any,
    embedding: np.ndarray | str | Path,
    num_workers: int,
    *,
    metric: str,
    backend: str,
    device: str,
    num_gpus: float = 0,
    max_restarts: int = 3,
) -> list[Any]:
    """Start one :class:`ShardWorker` actor per shard and wait until each holds its rows."""
    shards = make_shards(embedding, num_workers, ray)
    cpus = cluster_cpus(ray)
    threads = max(1, cpus // max(1, len(shards)))
    actor_cls = ray.remote(ShardWorker).options(
        num_cpus=1,
        num_gpus=num_gpus,
        max_restarts=max_restarts,
        max_task_retries=max_restarts,
    )
    workers = [
        actor_cls.remote(
            i, s, metric=metric, backend=backend, device=device, threads=threads
        )
        for i, s in enumerate(shards)
    ]
    infos = _get(ray, [w.info.remote() for w in workers], "loading shards")
    return workers, infos


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
    on_iteration: Callable[[int, list[Any]], None] | None = None,
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
    on_iteration : callable, optional
        ``f(iteration, workers)`` called after each mini-batch step (tests use it to kill a
        worker mid-fit).

    Returns
    -------
    RayFitResult
        Centroids, full-data inertia at those centroids, per-iteration history.
    """
    cfg = config or RayFitConfig()
    ray = ensure_ray(address)
    t0 = time.perf_counter()
    tracker = tracker_or_null(tracker)
    n_workers = num_workers or cluster_cpus(ray)
    workers, infos = start_workers(
        ray, embedding, n_workers, metric=metric, backend=backend, device=device,
        num_gpus=num_gpus, max_restarts=cfg.max_restarts,
    )
    try:
        sizes = [i["rows"] for i in infos]
        n, d = sum(sizes), infos[0]["dim"]
        if k > n:
            raise UserError(f"n_samples={n} should be >= n_clusters={k}")
        centers = _initial_centers(ray, workers, sizes, k, d, init, seed, cfg, metric)
        history: list[dict[str, float]] = []
        from archetype.cluster.step import StepStats, centers_from_stats  # noqa: F401

        shares = batch_shares(sizes, min(cfg.batch_size, n))
        state = _MiniBatchState(centers)
        with tracker.task("k-means on Ray", total=cfg.max_iter + cfg.lloyd_passes) as task:
            for it in range(cfg.max_iter):
                ref = ray.put(state.centers)
                parts = _get(ray, [
                    w.batch_stats.remote(ref, seed, it, s)
                    for w, s in zip(workers, shares, strict=True) if s > 0
                ], f"mini-batch {it}")
                shift = state.update(_sum(parts))
                history.append({"iteration": it, "batch_inertia": float(_sum(parts).inertia),
                                "shift": shift})
                task.advance(1)
                if on_iteration is not None:
                    on_iteration(it, workers)
            centers = state.centers
            for p in range(cfg.lloyd_passes):
                ref = ray.put(centers)
                stats = _sum(_get(ray, [w.full_stats.remote(ref) for w in workers],
                                  f"Lloyd pass {p}"))
                new = np.asarray(centers_from_stats(stats, centers), dtype=np.float32)
                shift = float(np.sum((new - centers) ** 2))
                history.append({"iteration": cfg.max_iter + p, "inertia": float(stats.inertia),
                                "shift": shift})
                centers = new
                task.advance(1)
            ref = ray.put(centers)
            final = _sum(_get(ray, [w.full_stats.remote(ref) for w in workers], "final pass"))
        return RayFitResult(
            centers=centers, inertia=float(final.inertia), n_iter=len(history),
            history=history, workers=infos, seconds=time.perf_counter() - t0,
        )
    finally:
        for w in workers:
            ray.kill(w)


def _sum(parts: list[Any]) -> Any:
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


class _MiniBatchState:
    """Placeholder; replaced by the estimator's update once it lands."""

    def __init__(self, centers: np.ndarray) -> None:
        self.centers = np.asarray(centers, dtype=np.float32)

    def update(self, stats: Any) -> float:
        raise NotImplementedError


def _initial_centers(ray, workers, sizes, k, d, init, seed, cfg, metric) -> np.ndarray:
    if init is not None:
        init = np.ascontiguousarray(init, dtype=np.float32)
        if init.shape != (k, d):
            raise UserError(f"init centroids have shape {init.shape}, expected ({k}, {d})")
        return init
    n = sum(sizes)
    shares = batch_shares(sizes, min(n, max(cfg.init_sample, k)))
    parts = _get(ray, [w.sample.remote(seed, s) for w, s in zip(workers, shares, strict=True)],
                 "seeding")
    sample = np.concatenate([p for p in parts if len(p)])
    raise NotImplementedError(sample.shape)
