"""Timing and quality helpers shared by every benchmark entry.

One clock (:func:`time.perf_counter`) for all implementations, with
``torch.cuda.synchronize()`` on both sides of a GPU measurement so queued kernels are
counted.  Quality is measured the same way for every implementation: :func:`inertia`
recomputes the k-means objective from the returned centers (or labels) in float64, so an
implementation's own, differently defined objective never enters a comparison.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Rows per block when computing distances, so n x k never has to fit in memory at once.
CHUNK_ROWS = 65536


class Unavailable(RuntimeError):
    """Raised by an entry that cannot run here (e.g. a CPU-only FAISS build asked for CUDA)."""


@dataclass
class Measured:
    """What one measured call returns to the worker.

    Attributes
    ----------
    seconds : float
        Wall time of the measured region only (no data loading, no quality check).
    inertia : float or None
        The impl's k-means objective, if it has none of its own to report ``None`` and
        return ``centers`` or ``labels`` instead.
    centers : ndarray of shape (k, d), optional
    labels : ndarray of shape (n,), optional
    extra : dict
        Anything else worth keeping (iterations, GB/s, ...); JSON-ready values only.
    """

    seconds: float
    inertia: float | None = None
    centers: np.ndarray | None = None
    labels: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def synchronize(device: str) -> None:
    """Wait for queued GPU work on ``device`` (no-op on CPU)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


class Stopwatch:
    """Elapsed seconds of a ``with`` block, synchronising a GPU device on both ends."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.seconds = float("nan")

    @contextmanager
    def __call__(self) -> Iterator[Stopwatch]:
        synchronize(self.device)
        t0 = time.perf_counter()
        yield self
        synchronize(self.device)
        self.seconds = time.perf_counter() - t0


def inertia_from_centers(X: np.ndarray, centers: np.ndarray, chunk: int = CHUNK_ROWS) -> float:
    """Sum over rows of the squared distance to the nearest center, in float64.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    centers : ndarray of shape (k, d)
    """
    C = np.asarray(centers, dtype=np.float64)
    c2 = np.einsum("ij,ij->i", C, C)
    total = 0.0
    for s in range(0, X.shape[0], chunk):
        x = np.asarray(X[s : s + chunk], dtype=np.float64)
        d2 = np.einsum("ij,ij->i", x, x)[:, None] - 2.0 * (x @ C.T) + c2[None, :]
        total += float(np.maximum(d2.min(axis=1), 0.0).sum())
    return total


def inertia_from_labels(
    X: np.ndarray, centers: np.ndarray, labels: np.ndarray, chunk: int = CHUNK_ROWS
) -> float:
    """Sum over rows of the squared distance to the center each row was assigned to."""
    C = np.asarray(centers, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64, copy=False)
    total = 0.0
    for s in range(0, X.shape[0], chunk):
        diff = np.asarray(X[s : s + chunk], dtype=np.float64) - C[labels[s : s + chunk]]
        total += float(np.einsum("ij,ij->", diff, diff))
    return total


def loglog_slope(xs, ys) -> float:
    """Least-squares slope of ``log(y)`` on ``log(x)``: 1.0 means time grows linearly.

    Needs at least two distinct positive ``x``; raises ``ValueError`` otherwise.
    """
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    if x.shape != y.shape or x.size < 2 or np.unique(x).size < 2:
        raise ValueError(f"need >= 2 distinct points for a slope, got x={x.tolist()}")
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError("slope on log-log needs positive values")
    slope, _ = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope)
