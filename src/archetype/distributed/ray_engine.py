"""``RayEngine``: the three engine methods of ``LocalEngine``, run on a Ray cluster.

``archetype.pipeline.engine.get_engine("ray", address)`` imports this module lazily.  The
methods take and return what the local engine's do, so ``run``/``backfill`` are unchanged:

* ``features`` → :mod:`archetype.distributed.features` (shuffle by customer, same builder);
* ``fit`` → :mod:`archetype.distributed.fit` (shard actors, same step function);
* ``assign`` → :mod:`archetype.distributed.assign` (tasks over row ranges, same kernel).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from archetype.distributed._ray import ensure_ray
from archetype.distributed.fit import RayFitConfig, ray_fit
from archetype.progress import Tracker


class RayEngine:
    """Run features, fit and assign on Ray.

    Parameters
    ----------
    address : str, optional
        Ray address (``"auto"``, ``"ray://head:10001"``); default ``RAY_ADDRESS`` or a private
        local Ray.
    num_workers : int, optional
        Shard actors for the fit and tasks for assign (default: the cluster's CPU count).
    num_gpus : float, default 0
        GPUs per shard actor / assign task.
    batch_size, max_iter : int
        As for ``LocalEngine`` (mini-batch size; maximum passes of k-means).
    n_groups : int, optional
        Customer groups of the features shuffle (default: 2 × cluster CPUs).
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_workers: int | None = None,
        num_gpus: float = 0,
        *,
        batch_size: int = 4096,
        max_iter: int = 100,
        n_groups: int | None = None,
        max_restarts: int = 3,
    ) -> None:
        self.address = address
        self.num_workers = num_workers
        self.num_gpus = num_gpus
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.n_groups = n_groups
        self.max_restarts = max_restarts

    def connect(self):
        """Connect to (or start) the Ray cluster; returns the ``ray`` module."""
        return ensure_ray(self.address)

    def features(
        self,
        events_path: str | Path,
        as_of: dt.date,
        out_dir: str | Path,
        *,
        config: Any = None,
        window_days: int | None = None,
        transform: Any = None,
        tracker: Tracker | None = None,
    ):
        """Build the features dir of ``as_of`` on Ray (equal to the local engine's)."""
        from archetype.distributed.features import ray_feature_dir

        self.connect()
        return ray_feature_dir(
            events_path, as_of, out_dir, config=config, window_days=window_days,
            transform=transform, n_groups=self.n_groups, tracker=tracker,
        )

    def fit(
        self,
        embedding: np.ndarray,
        k: int,
        *,
        init: np.ndarray | None = None,
        seed: int = 0,
        backend: str = "auto",
        device: str = "auto",
        metric: str = "l2",
        tracker: Tracker | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Mini-batch k-means over shard actors; ``(centroids, info)`` as the local engine."""
        self.connect()
        res = ray_fit(
            embedding, k, init=init, seed=seed, metric=metric, backend=backend,
            device=device, num_workers=self.num_workers, num_gpus=self.num_gpus,
            config=RayFitConfig(
                batch_size=self.batch_size, max_iter=self.max_iter,
                max_restarts=self.max_restarts,
            ),
            tracker=tracker,
        )
        info = {
            "inertia": res.inertia,
            "n_iter": res.n_iter,
            "n_steps": res.n_steps,
            "backend": res.workers[0]["backend"],  # as resolved on the workers
            "device": res.workers[0]["device"],
            "warm_start": init is not None,
            "engine": "ray",
            "workers": len(res.workers),
            "seconds": res.seconds,
        }
        return res.centers, info

    def assign(
        self,
        embedding: np.ndarray,
        centroids: np.ndarray,
        *,
        metric: str = "l2",
        backend: str = "auto",
        device: str = "auto",
    ):
        """Nearest centroid, distance and margin of every row, by Ray tasks."""
        from archetype.distributed.assign import ray_assign

        self.connect()
        return ray_assign(
            embedding, centroids, metric=metric, backend=backend, device=device,
            num_tasks=self.num_workers, num_gpus=self.num_gpus,
        )
