"""The small interface the k-means loop's datasets talk to (after FAISS ``contrib/clustering.py``).

A backend is chosen once, before the loop.  Per pass a dataset calls :meth:`Backend.prepare`
once with the current centers, then, for every chunk of rows, :meth:`Backend.assign`
(labels, squared distance, margin) or :meth:`Backend.accumulate` (labels, squared distance
and the weighted per-center sums an update needs).

Inputs are clean: float32, C-contiguous, 2-D, finite (prior validation is assumed).
Distances are squared Euclidean; the metric adapter (:mod:`archetype.cluster.metric`)
handles cosine above the backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

#: What :meth:`Backend.assign` computes; each mode includes the previous ones.
LABELS, DISTANCES, MARGIN = 0, 1, 2


@dataclass
class ChunkStats:
    """What one chunk of rows contributes to an update.

    Attributes
    ----------
    labels : ndarray (m,) int64
    dist : ndarray (m,) float32 — squared distance to the nearest center.
    sums : ndarray (k, d) float64 — weighted sum of the rows of each center.
    counts : ndarray (k,) float64 — total weight of each center.
    inertia : float — sum of ``weight * dist``.
    """

    labels: np.ndarray
    dist: np.ndarray
    sums: np.ndarray
    counts: np.ndarray
    inertia: float


class NonFiniteError(ValueError):
    """A backend that checks its input on the way (``Backend.checks_finite``) met NaN/inf
    values; the dataset turns it into the face's detailed ``UserError``."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} NaN or inf value(s) in the rows")
        self.count = count


class Backend(ABC):
    """Nearest-center search and accumulation for one device."""

    name: str = "abstract"
    device: str = "cpu"
    #: whether assign/accumulate raise NonFiniteError on NaN/inf rows (so that callers may
    #: skip a separate validation pass over the rows)
    checks_finite: bool = False

    @abstractmethod
    def prepare(self, centers: np.ndarray) -> Any:
        """Upload ``centers`` (k, d) float32 and precompute what every chunk reuses."""

    @abstractmethod
    def assign(self, X: np.ndarray, prepared: Any, *, mode: int = MARGIN
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """``labels (m,) int64``, ``dist (m,) float32`` (``mode >= DISTANCES``, else None) and
        ``margin (m,) float32`` (``mode == MARGIN``: second-best minus best, ``inf`` when
        k == 1; else None) of the rows ``X``."""

    @abstractmethod
    def accumulate(self, X: np.ndarray, prepared: Any, w: np.ndarray) -> ChunkStats:
        """Assign rows ``X`` and sum them per center with weights ``w (m,) float32``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device={self.device!r})"
