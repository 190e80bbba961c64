"""Mini-batch k-means on plain float32 matrices (knows nothing of customers or Polars).

* :class:`MiniBatchKMeans` — the scikit-learn compatible estimator (``estimator.py``).
* :func:`kmeans` — the one loop, over any :class:`Dataset` (``kmeans.py``); Ray runs it
  over shard actors.
* :func:`assign` → :class:`Assignment` — nearest center, distance, margin; and
  :func:`partial_stats` → :class:`StepStats`, :func:`centers_from_stats` — one pass and the
  update (``assign.py``, ``step.py``).
* ``backends/`` — numba (cache-blocked CPU), torch (CUDA), faiss, numpy reference.
"""

from __future__ import annotations

from archetype._lazy import lazy_getattr
from archetype.cluster.assign import assign, partial_stats
from archetype.cluster.data import ArrayDataset, Assignment, Dataset
from archetype.cluster.kmeans import KMeansParams, KMeansResult, kmeans
from archetype.cluster.step import StepStats, centers_from_stats

__all__ = ["ArrayDataset", "Assignment", "Dataset", "KMeansParams", "KMeansResult",
           "MiniBatchKMeans", "StepStats", "assign", "centers_from_stats", "kmeans",
           "partial_stats"]
__getattr__ = lazy_getattr(__name__, {"MiniBatchKMeans": "estimator"})
