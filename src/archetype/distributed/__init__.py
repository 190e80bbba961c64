"""Scale-out on Ray: the local pipeline's steps, run where the data is.

* :class:`~archetype.distributed.ray_engine.RayEngine` — ``features`` / ``fit`` / ``assign``
  with the signatures of ``archetype.pipeline.engine.LocalEngine``
  (``get_engine("ray", address)`` returns one).
* :func:`~archetype.distributed.features.ray_feature_dir` — a features dir built by a Ray
  shuffle of the events by customer, equal to the local engine's.
* :func:`~archetype.distributed.fit.ray_fit` — mini-batch k-means over shard actors, through
  the local estimator's step functions.
* :func:`~archetype.distributed.assign.write_assignments` — partitioned assignments written
  by tasks and committed by the driver (manifest last).

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
    "RayFitConfig": "fit",
    "WorkerLostError": "fit",
    "ray_assign": "assign",
    "write_assignments": "assign",
    "read_assignments": "assign",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"archetype.distributed.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'archetype.distributed' has no attribute {name!r}")
