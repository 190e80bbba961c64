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

import importlib
from typing import Any

_EXPORTS = {
    "RayEngine": "ray_engine",
    "ray_feature_dir": "features",
    "ray_fit": "fit",
    "ShardedDataset": "dataset",
    "WorkerLostError": "dataset",
    "start_workers": "dataset",
    "ray_assign": "assign",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"archetype.distributed.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'archetype.distributed' has no attribute {name!r}")
