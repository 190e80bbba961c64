"""The one k-means step shared by the local loop and Ray: sufficient statistics of a pass.

``partial_stats`` assigns rows to their nearest center and returns per-center weighted
sums and counts; stats of disjoint row sets add up (``StepStats.__add__``), and
``centers_from_stats`` turns the merged stats into the next centers (a Lloyd update).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archetype.cluster._validation import (
    as_float32_2d,
    check_finite,
    check_metric,
    check_weights,
    check_width,
    normalize_rows,
)
from archetype.cluster.backends import Backend, get_backend

#: Rows handed to a backend at a time (bounds the per-call label/distance buffers).
DEFAULT_CHUNK_ROWS = 1 << 18


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
    """

    sums: np.ndarray
    counts: np.ndarray
    inertia: float
    n: int

    def __add__(self, other: StepStats) -> StepStats:
        if not isinstance(other, StepStats):
            return NotImplemented
        return StepStats(self.sums + other.sums, self.counts + other.counts,
                         self.inertia + other.inertia, self.n + other.n)

    def __radd__(self, other):  # lets sum([...]) start from 0
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented

    @classmethod
    def zeros(cls, k: int, d: int) -> StepStats:
        return cls(np.zeros((k, d)), np.zeros(k), 0.0, 0)


def _stats_chunked(X: np.ndarray, prepared, backend: Backend, w: np.ndarray, *, metric: str,
                   chunk_rows: int = DEFAULT_CHUNK_ROWS, offset: int = 0,
                   validate: bool = True) -> StepStats:
    """Private: stats of clean rows ``X`` against prepared centers, chunk by chunk."""
    total = None
    for s in range(0, X.shape[0], chunk_rows):
        x = X[s : s + chunk_rows]
        if not isinstance(x, np.ndarray) or x.dtype != np.float32 or not x.flags.c_contiguous:
            x = np.ascontiguousarray(x, dtype=np.float32)
        if validate:
            check_finite(x, offset=offset + s)
        if metric == "cosine":
            x = normalize_rows(x, offset=offset + s)
        cs = backend.assign_accumulate(x, prepared, w[s : s + chunk_rows])
        inertia = cs.inertia / 2.0 if metric == "cosine" else cs.inertia
        st = StepStats(cs.sums, cs.counts, inertia, x.shape[0])
        total = st if total is None else total + st
    return total


def partial_stats(X, centers, *, sample_weight=None, metric: str = "l2",
                  backend: str | Backend = "auto", device: str = "auto",
                  chunk_rows: int = DEFAULT_CHUNK_ROWS) -> StepStats:
    """Assign the rows of ``X`` to their nearest center and sum them per center.

    Parameters
    ----------
    X : array-like (n, d) or memory-mapped .npy
        Rows; read ``chunk_rows`` at a time (float64 is converted to float32).
    centers : ndarray (k, d)
    sample_weight : array-like (n,), optional
    metric : {"l2", "cosine"}
        For ``cosine`` rows are normalized and the inertia is the sum of ``1 - cos``.
    backend, device : str
        See :func:`archetype.cluster.backends.get_backend`.

    Returns
    -------
    StepStats
    """
    check_metric(metric)
    C = as_float32_2d(centers, name="centers")
    check_finite(C, name="centers")
    if not isinstance(X, np.ndarray):
        X = as_float32_2d(X)
    if X.ndim != 2:
        raise ValueError(f"X should be 2-D, got shape {X.shape}")
    check_width(X, C.shape[1], owner="the centers")
    if metric == "cosine":
        C = normalize_rows(C, name="centers")
    w = check_weights(sample_weight, X.shape[0])
    be = get_backend(backend, device)
    if X.shape[0] == 0:
        return StepStats.zeros(*C.shape)
    return _stats_chunked(X, be.prepare(C), be, w, metric=metric, chunk_rows=chunk_rows)


def centers_from_stats(stats: StepStats, old_centers, *, metric: str = "l2") -> np.ndarray:
    """Next centers: weighted means; a center with zero weight keeps its old position.

    Parameters
    ----------
    stats : StepStats
        Merged statistics of a full pass.
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
    if metric == "cosine":
        norms = np.linalg.norm(new, axis=1)
        ok = norms > 0
        new[ok] /= norms[ok, None]
        new[~ok] = old[~ok]
    return new.astype(np.float32)
