"""The small interface the k-means loop talks to (after FAISS ``contrib/clustering.py``).

A backend is chosen once, before the loop.  Per iteration the loop calls
:meth:`Backend.prepare` once with the current centers, then, for every chunk of rows,
:meth:`Backend.assign` (labels, squared distance, margin) or :meth:`Backend.assign_accumulate`
(labels, squared distance and the weighted per-center sums the update needs).

Inputs are clean: float32, C-contiguous, 2-D, finite (prior validation is assumed).
Distances are squared Euclidean; the cosine metric is handled above the backend by
normalizing rows and centers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Bytes of the (rows, k) float32 distance block.  Measured on the 2-core box (1M x 32,
#: k=64): 4 MB blocks (16k rows) are as fast as 32 MB ones on a quiet machine but 2-3x slower
#: under load, since every block costs two parallel regions (GEMM, Numba pass) whose barriers
#: wait for descheduled threads; 32 MB blocks make a pass about one bare GEMM either way.
DEFAULT_BLOCK_BYTES = 32 << 20


def block_rows(k: int, block_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    """Rows per block so that a (rows, k) float32 distance buffer is about ``block_bytes``."""
    return int(max(256, min(1 << 17, block_bytes // (4 * max(k, 1)))))


@dataclass
class ChunkStats:
    """What one chunk contributes to an update.

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


class Backend(ABC):
    """Nearest-center search and accumulation for one device."""

    name: str = "abstract"
    device: str = "cpu"

    @abstractmethod
    def prepare(self, centers: np.ndarray) -> Any:
        """Upload ``centers`` (k, d) float32 and precompute what every chunk reuses."""

    @abstractmethod
    def assign(self, X: np.ndarray, prepared: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``labels (m,) int64, dist (m,) float32, margin (m,) float32`` for rows ``X``."""

    def labels(self, X: np.ndarray, prepared: Any) -> np.ndarray:
        """Labels only (what ``predict`` needs); backends may do less work than ``assign``."""
        return self.assign(X, prepared)[0]

    @abstractmethod
    def assign_accumulate(self, X: np.ndarray, prepared: Any, w: np.ndarray) -> ChunkStats:
        """Assign rows ``X`` and accumulate weighted sums with weights ``w (m,) float32``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device={self.device!r})"
