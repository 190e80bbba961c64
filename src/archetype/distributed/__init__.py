"""Scale-out on Ray: the local pipeline's steps, run where the data is.

* :class:`~archetype.distributed.ray_engine.RayEngine` — ``features`` / ``fit`` / ``assign``
  with the signatures of ``archetype.pipeline.engine.LocalEngine``
  (``get_engine("ray", address)`` returns one).
* :func:`~archetype.distributed.features.ray_feature_dir` — a features dir built by a Ray
  shuffle of the events by customer, equal to the local engine's.
* :func:`~archetype.distributed.fit.ray_fit` — the local k-means loop
  (``archetype.cluster.kmeans``) over a :class:`~archetype.distributed.dataset.ShardedDataset`
  whose rows live in shard actors: no k-means math of its own.
* :func:`~archetype.distributed.assign.ray_assign` — assignment by tasks over row ranges.

Nothing here imports Ray at module import time; Ray is the optional extra
``pip install 'archetype[ray]'``.  See ``docs/distributed.md``.
"""

from __future__ import annotations

from archetype.distributed.assign import ray_assign
from archetype.distributed.dataset import ShardedDataset, WorkerLostError, start_workers
from archetype.distributed.features import ray_feature_dir
from archetype.distributed.fit import ray_fit
from archetype.distributed.ray_engine import RayEngine

__all__ = ["RayEngine", "ShardedDataset", "WorkerLostError", "ray_assign", "ray_feature_dir",
           "ray_fit", "start_workers"]
