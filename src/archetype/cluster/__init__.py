"""Mini-batch k-means on plain float32 matrices (knows nothing of customers or Polars).

* :class:`MiniBatchKMeans` — the scikit-learn compatible estimator (``estimator.py``).
* :func:`assign` → :class:`Assignment` — nearest center, distance, margin (``assign.py``).
* :func:`partial_stats` → :class:`StepStats`, :func:`centers_from_stats` — the step shared
  with Ray (``step.py``).
* ``backends/`` — torch (CPU/CUDA), faiss, numba, numpy reference.
"""

from __future__ import annotations

from typing import Any

from archetype.cluster.assign import Assignment, assign, assign_chunks
from archetype.cluster.step import StepStats, centers_from_stats, partial_stats

__all__ = ["Assignment", "MiniBatchKMeans", "StepStats", "assign", "assign_chunks",
           "centers_from_stats", "partial_stats"]


def __getattr__(name: str) -> Any:
    if name == "MiniBatchKMeans":
        from archetype.cluster.estimator import MiniBatchKMeans

        return MiniBatchKMeans
    raise AttributeError(f"module 'archetype.cluster' has no attribute {name!r}")
