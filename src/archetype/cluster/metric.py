"""The metric adapter: how ``l2`` and ``cosine`` map onto the squared-L2 backends.

Backends only know squared Euclidean distances.  For ``cosine`` the rows and centers are
normalized to unit length, and on the unit sphere ``||x - c||^2 = 2 (1 - cos)``, so the
cosine distance is half the squared distance, and a mean of unit rows is renormalized
(spherical k-means).  Every place that turns backend output into a distance or an update
goes through one :class:`MetricAdapter`.
"""

from __future__ import annotations

import numpy as np

from archetype.cluster._validation import check_metric, normalize_rows
from archetype.vocab import Metric


class MetricAdapter:
    """Rows, centers, distances and updates for one metric (``adapter(metric)`` builds it)."""

    def __init__(self, metric: str) -> None:
        self.metric = Metric(check_metric(metric))
        self.cosine = self.metric == Metric.COSINE
        #: backend squared distance x scale = this metric's distance
        self.scale = 0.5 if self.cosine else 1.0

    def rows(self, x: np.ndarray, *, name: str = "X", offset: int = 0) -> np.ndarray:
        """Clean float32 rows as the backends need them (unit rows for cosine)."""
        return normalize_rows(x, name=name, offset=offset) if self.cosine else x

    def centers(self, C: np.ndarray, *, name: str = "centers") -> np.ndarray:
        """Float32 C-contiguous centers (unit length for cosine; a zero row is a UserError)."""
        C = np.ascontiguousarray(C, dtype=np.float32)
        return normalize_rows(C, name=name) if self.cosine else C

    def dist(self, sq):
        """This metric's distance from a backend's squared distance (array or float)."""
        return sq * 0.5 if self.cosine else sq  # keeps float32 arrays float32 (NEP 50)

    def renorm(self, C: np.ndarray, old: np.ndarray | None = None) -> np.ndarray:
        """Updated centers (float64, in place): unit length for cosine; a zero mean keeps
        ``old`` (or stays as it is when ``old`` is None)."""
        if self.cosine:
            norms = np.linalg.norm(C, axis=1)
            ok = norms > 0
            C[ok] /= norms[ok, None]
            if old is not None:
                C[~ok] = old[~ok]
        return C

    def __repr__(self) -> str:
        return f"MetricAdapter({self.metric.value!r})"


_ADAPTERS = {m: MetricAdapter(m) for m in Metric}


def adapter(metric: str | MetricAdapter) -> MetricAdapter:
    """The adapter of ``metric`` (a UserError names the allowed values)."""
    if isinstance(metric, MetricAdapter):
        return metric
    if metric in _ADAPTERS:
        return _ADAPTERS[metric]
    return MetricAdapter(metric)  # raises the UserError
