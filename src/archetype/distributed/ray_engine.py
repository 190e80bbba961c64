"""``RayEngine``: the :class:`archetype.pipeline.engine.Engine` steps, run on a Ray cluster.

``archetype.pipeline.engine.get_engine("ray", address)`` imports this module lazily.  The
methods take and return what the local engine's do, so the CLI and ``run``/``backfill`` are
unchanged:

* ``features`` → :mod:`archetype.distributed.features` (shuffle by customer, same builder);
* ``fit`` → :mod:`archetype.distributed.fit` (the local loop over shard actors);
* ``assign`` → :mod:`archetype.distributed.assign` (tasks over row ranges, same kernel).
"""

from __future__ import annotations

from archetype.distributed._ray import ensure_ray
from archetype.distributed.fit import ray_fit
from archetype.vocab import EngineName


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
        As for ``LocalEngine`` (mini-batch size; maximum full passes of k-means).
    n_groups : int, optional
        Customer groups of the features shuffle (default: 2 × cluster CPUs).
    max_restarts : int, default 3
        Restarts of a lost shard actor before the fit fails.
    """

    name = EngineName.RAY.value
    supports_id_map = True

    def __init__(self, address: str | None = None, num_workers: int | None = None,
                 num_gpus: float = 0, *, batch_size: int = 4096, max_iter: int = 50,
                 n_groups: int | None = None, max_restarts: int = 3) -> None:
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

    def features(self, events_path, as_of, out_dir, *, config=None, events_config=None,
                 window_days=None, transform=None, tracker=None, id_map=None):
        """Build the features dir of ``as_of`` on Ray (equal to the local engine's)."""
        from archetype.distributed.features import ray_feature_dir

        self.connect()
        return ray_feature_dir(
            events_path, as_of, out_dir, config=config, events_config=events_config,
            window_days=window_days, transform=transform, n_groups=self.n_groups,
            tracker=tracker, id_map=id_map,
        )

    def fit(self, embedding, k, *, init=None, seed=0, n_init=1, backend="auto", device="auto",
            metric="l2", tracker=None):
        """The local loop over shard actors; ``(centroids, info)`` as the local engine."""
        from archetype.pipeline.engine import fit_info

        self.connect()
        res = ray_fit(
            embedding, k, init=init, seed=seed, metric=metric, backend=backend, device=device,
            num_workers=self.num_workers, num_gpus=self.num_gpus,
            max_restarts=self.max_restarts, tracker=tracker, n_init=n_init,
            batch_size=self.batch_size, max_iter=self.max_iter,
        )
        info = fit_info(inertia=res.inertia, n_iter=res.n_iter, n_steps=res.n_steps,
                        sizes=res.sizes, backend=res.workers[0]["backend"],
                        device=res.workers[0]["device"], warm=init is not None,
                        engine=self.name, seconds=res.seconds)
        info["workers"] = len(res.workers)
        return res.centers, info

    def assign(self, embedding, centroids, *, metric="l2", backend="auto", device="auto",
               tracker=None):
        """Nearest centroid, distance and margin of every row, by Ray tasks."""
        from archetype.distributed.assign import ray_assign

        self.connect()
        return ray_assign(embedding, centroids, metric=metric, backend=backend, device=device,
                          num_tasks=self.num_workers, num_gpus=self.num_gpus, tracker=tracker)
