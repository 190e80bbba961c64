"""Nearest-center assignment: label, distance and margin for every row, chunk by chunk."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from archetype.cluster._validation import (
    as_float32_2d,
    check_finite,
    check_metric,
    check_width,
    normalize_rows,
)
from archetype.cluster.backends import Backend, get_backend
from archetype.cluster.step import DEFAULT_CHUNK_ROWS


@dataclass
class Assignment:
    """Result of :func:`assign`.

    Attributes
    ----------
    labels : ndarray (n,) int64 — row of the nearest center.
    distances : ndarray (n,) float32 — squared L2 distance, or cosine distance ``1 - cos``.
    margin : ndarray (n,) float32 — second-best minus best distance (``inf`` when k == 1):
        how sure the assignment is.
    """

    labels: np.ndarray
    distances: np.ndarray
    margin: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def _prepare(centers, metric: str, backend, device, precision: str = "fp32"):
    check_metric(metric)
    C = as_float32_2d(centers, name="centers")
    check_finite(C, name="centers")
    if metric == "cosine":
        C = normalize_rows(C, name="centers")
    be = get_backend(backend, device, precision=precision)
    return C, be, be.prepare(C)


def _assign_chunk(x, be: Backend, prepared, metric: str, offset: int, validate: bool = True,
                  labels_only: bool = False):
    if isinstance(x, np.memmap) or not x.flags.writeable:
        x = np.array(x, dtype=np.float32, order="C")  # one chunk in memory, writable for torch
    elif x.dtype != np.float32 or not x.flags.c_contiguous:
        x = np.ascontiguousarray(x, dtype=np.float32)
    if validate:
        check_finite(x, offset=offset)
    if metric == "cosine":
        x = normalize_rows(x, offset=offset)
    if labels_only:
        nan = np.float32(np.nan)
        return be.labels(x, prepared), nan, nan
    labels, dist, margin = be.assign(x, prepared)
    if metric == "cosine":
        dist = dist * np.float32(0.5)
        margin = margin * np.float32(0.5)
    return labels, dist, margin


def assign(X, centers, *, metric: str = "l2", backend: str | Backend = "auto",
           device: str = "auto", chunk_size: int | None = None, precision: str = "fp32",
           validate: bool = True, labels_only: bool = False) -> Assignment:
    """Assign every row of ``X`` to its nearest center.

    Parameters
    ----------
    X : array-like (n, d), or a memory-mapped .npy (read ``chunk_size`` rows at a time)
    centers : array-like (k, d)
    metric : {"l2", "cosine"}, default "l2"
    backend : {"auto", "torch", "faiss", "numba", "numpy"} or Backend, default "auto"
    device : {"auto", "cpu", "cuda"}, default "auto"
    chunk_size : int, optional
        Rows per chunk (default 262144).  Memory besides the outputs is bounded by it.
    precision : {"fp32", "tf32", "bf16"}, default "fp32"
        Distance GEMM input type on CUDA.
    validate : bool, default True
        Check every chunk for NaN/inf.
    labels_only : bool, default False
        Compute only the labels (what ``predict`` needs); ``distances`` and ``margin`` are NaN.

    Returns
    -------
    Assignment
    """
    if not isinstance(X, np.ndarray):
        X = as_float32_2d(X)
    if X.ndim != 2:
        raise ValueError(f"X should be 2-D, got shape {X.shape}")
    C, be, prepared = _prepare(centers, metric, backend, device, precision)
    check_width(X, C.shape[1], owner="the centers")
    n = X.shape[0]
    step = chunk_size or DEFAULT_CHUNK_ROWS
    labels = np.empty(n, np.int64)
    dist = np.empty(n, np.float32)
    margin = np.empty(n, np.float32)
    for s in range(0, n, step):
        e = min(n, s + step)
        labels[s:e], dist[s:e], margin[s:e] = _assign_chunk(X[s:e], be, prepared, metric, s,
                                                            validate, labels_only)
    return Assignment(labels, dist, margin)


def assign_chunks(chunks: Iterable, centers, *, metric: str = "l2",
                  backend: str | Backend = "auto", device: str = "auto",
                  precision: str = "fp32") -> Iterator[Assignment]:
    """Stream :class:`Assignment` s for an iterable of row chunks (memory: one chunk)."""
    C, be, prepared = _prepare(centers, metric, backend, device, precision)
    offset = 0
    for chunk in chunks:
        x = as_float32_2d(chunk)
        check_width(x, C.shape[1], owner="the centers")
        yield Assignment(*_assign_chunk(x, be, prepared, metric, offset))
        offset += x.shape[0]
