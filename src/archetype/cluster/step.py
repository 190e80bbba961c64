"""The statistics of a k-means pass and the one update that turns them into centers.

A pass over some rows (:meth:`archetype.cluster.data.Dataset.accumulate`) yields
:class:`StepStats`: per-center weighted sums and counts, the inertia, and optionally the
labels and the farthest rows (candidates for empty clusters).  Stats of disjoint row sets add
up (``+``, in row order), so chunks, shards and mini-batches merge the same way, and
:func:`centers_from_stats` is the update for all of them: Lloyd's mean, and Sculley's
mini-batch rate when the running centers enter as stats themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from archetype.cluster.metric import adapter


def _none() -> np.ndarray:
    return np.empty(0, np.int64)


@dataclass
class StepStats:
    """Sufficient statistics of one assignment pass over some rows.

    Attributes
    ----------
    sums : ndarray (k, d) float64
        Weighted sum of the rows assigned to each center.
    counts : ndarray (k,) float64
        Total weight assigned to each center.
    inertia : float
        Weighted sum of distances (squared L2, or cosine distance).
    n : int
        Number of rows seen.
    labels, dist : ndarray (n,) int64 / float32, or None
        Nearest center of each row and the distance to it, when the pass kept them.
    far, far_dist : ndarray (m,) int64 / float32
        Row indices (of the whole dataset) and distances of the rows farthest from their
        center: candidates for empty clusters (see :meth:`farthest`).
    """

    sums: np.ndarray
    counts: np.ndarray
    inertia: float
    n: int
    labels: np.ndarray | None = None
    dist: np.ndarray | None = None
    far: np.ndarray = field(default_factory=_none)
    far_dist: np.ndarray = field(default_factory=lambda: np.empty(0, np.float32))

    def __add__(self, other: StepStats) -> StepStats:
        """Stats of both row sets (``other``'s rows after ``self``'s)."""
        if not isinstance(other, StepStats):
            return NotImplemented
        labels = dist = None
        if self.labels is not None and other.labels is not None:
            labels = np.concatenate([self.labels, other.labels])
            dist = np.concatenate([self.dist, other.dist])
        return StepStats(self.sums + other.sums, self.counts + other.counts,
                         self.inertia + other.inertia, self.n + other.n, labels, dist,
                         np.concatenate([self.far, other.far]),
                         np.concatenate([self.far_dist, other.far_dist]))

    def __radd__(self, other):  # lets sum([...]) start from 0
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented

    @classmethod
    def zeros(cls, k: int, d: int) -> StepStats:
        return cls(np.zeros((k, d)), np.zeros(k), 0.0, 0)

    def farthest(self, m: int) -> np.ndarray:
        """Indices of the ``m`` farthest candidate rows, farthest first (ties: lower row)."""
        order = np.lexsort((self.far, -self.far_dist.astype(np.float64)))
        return self.far[order[:m]]

    def keep_farthest(self, m: int) -> StepStats:
        """Drop all but the ``m`` farthest candidates (in place); returns ``self``."""
        if len(self.far) > m:
            order = np.lexsort((self.far, -self.far_dist.astype(np.float64)))[:m]
            self.far, self.far_dist = self.far[order], self.far_dist[order]
        return self


def centers_from_stats(stats: StepStats, old_centers, *, metric: str = "l2") -> np.ndarray:
    """Next centers: weighted means; a center with zero weight keeps its old position.

    Parameters
    ----------
    stats : StepStats
        Merged statistics of a pass (for a mini-batch step: the running centers' own stats
        plus the batch's, see :func:`archetype.cluster.minibatch.minibatch_step`).
    old_centers : ndarray (k, d)
        Centers the stats were computed against (kept for empty clusters, so the result
        never holds NaN or a zero centroid made up from nothing).
    metric : {"l2", "cosine"}
        For ``cosine`` the means are renormalized to unit length (spherical k-means).

    Returns
    -------
    ndarray (k, d) float32
    """
    old = np.asarray(old_centers, dtype=np.float64)
    counts = np.asarray(stats.counts, dtype=np.float64)
    nonempty = counts > 0
    new = old.copy()
    new[nonempty] = stats.sums[nonempty] / counts[nonempty, None]
    return adapter(metric).renorm(new, old).astype(np.float32)
