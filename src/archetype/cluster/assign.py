"""The public faces of a single pass: :func:`assign` (nearest center, distance, margin) and
:func:`partial_stats` (the statistics a distributed or hand-written loop merges).

Both validate their input once, pick the backend once, and hand clean rows to
:class:`archetype.cluster.data.ArrayDataset`.  A call with few rows and ``backend="auto"``
(the live service asks for one customer at a time) skips the dataset machinery: one NumPy
GEMM and a partition over ``k``, tens of microseconds.
"""

from __future__ import annotations

import numpy as np

from archetype.cluster._validation import (
    as_float32_2d,
    check_finite,
    check_rows,
    check_weights,
    check_width,
)
from archetype.cluster.backends import LABELS, MARGIN, Backend, get_backend
from archetype.cluster.data import DEFAULT_CHUNK_ROWS, ArrayDataset, Assignment
from archetype.cluster.metric import MetricAdapter, adapter
from archetype.cluster.step import StepStats
from archetype.progress import Tracker
from archetype.vocab import Backend as BackendName

#: ``assign(backend="auto")`` runs :func:`assign_small` while ``rows * k * d`` is at most
#: this (one row up to k*d = 262144; 102 rows at k=64, d=40): OpenBLAS runs such a GEMM on
#: one thread, so the call costs a few microseconds plus NumPy's per-call overheads.
SMALL_WORK = 1 << 18


def _centers(centers, metric: MetricAdapter) -> np.ndarray:
    C = as_float32_2d(centers, name="centers")
    check_finite(C, name="centers")
    return metric.centers(C)


def _rows(X, C: np.ndarray) -> np.ndarray:
    if not isinstance(X, np.ndarray) or (X.dtype != np.float32 and not isinstance(X, np.memmap)):
        X = as_float32_2d(X)
    if X.ndim != 2:
        raise ValueError(f"X should be 2-D, got shape {X.shape}")
    check_width(X, C.shape[1], owner="the centers")
    return X


def is_small(X: np.ndarray, C: np.ndarray) -> bool:
    """Whether :func:`assign_small` is the fastest path for rows ``X`` and centers ``C``."""
    return X.shape[0] * C.shape[0] * C.shape[1] <= SMALL_WORK


def assign_small(x: np.ndarray, C: np.ndarray, metric: MetricAdapter,
                 mode: int = MARGIN) -> Assignment:
    """Few clean rows ``x`` against clean centers with NumPy: ``||c||^2 - 2 x.c`` by one
    GEMM, then ``argmin`` over ``k``, the best masked for the second (the backends' float32
    formula and tie rule)."""
    n = len(x)
    G = x @ C.T
    G *= np.float32(-2.0)
    G += np.einsum("ij,ij->i", C, C)
    labels = G.argmin(axis=1)
    nan = np.broadcast_to(np.float32(np.nan), (n,))  # read-only: not computed
    if mode == LABELS:
        return Assignment(labels, nan, nan)
    rows = np.arange(n)
    best = G[rows, labels]
    dist = metric.dist(np.maximum(best + np.einsum("ij,ij->i", x, x), np.float32(0)))
    margin = nan
    if mode == MARGIN:
        G[rows, labels] = np.inf
        margin = metric.dist(G.min(axis=1) - best)  # inf when k == 1
    return Assignment(labels, dist, margin)


def assign(X, centers, *, metric: str = "l2", backend: str | Backend = "auto",
           device: str = "auto", chunk_size: int | None = None, precision: str = "fp32",
           validate: bool = True, labels_only: bool = False,
           tracker: Tracker | None = None) -> Assignment:
    """Assign every row of ``X`` to its nearest center.

    Parameters
    ----------
    X : array-like (n, d), or a memory-mapped .npy (read ``chunk_size`` rows at a time)
    centers : array-like (k, d)
    metric : {"l2", "cosine"}, default "l2"
    backend : {"auto", "torch", "faiss", "numba", "numpy"} or Backend, default "auto"
        ``auto`` with a small input (``rows * k * d <= SMALL_WORK``) uses
        :func:`assign_small`.
    device : {"auto", "cpu", "cuda"}, default "auto"
    chunk_size : int, optional
        Rows per chunk (default 262144).  Memory besides the outputs is bounded by it.
    precision : {"fp32", "tf32", "bf16"}, default "fp32"
        Distance GEMM input type on CUDA.
    validate : bool, default True
        Check ``X`` for NaN/inf (and zero rows for cosine) first.
    labels_only : bool, default False
        Compute only the labels (what ``predict`` needs); ``distances`` and ``margin`` are NaN.
    tracker : Tracker, optional
        Progress, chunk by chunk.

    Returns
    -------
    Assignment
    """
    m = adapter(metric)
    C = _centers(centers, m)
    chunk = chunk_size or DEFAULT_CHUNK_ROWS
    X = _rows(X, C)
    mode = LABELS if labels_only else MARGIN
    if backend == BackendName.AUTO and is_small(X, C):
        x = np.ascontiguousarray(X, dtype=np.float32)
        if validate:
            check_finite(x)
        return assign_small(m.rows(x), C, m, mode)  # (rows() names any all-zero row)
    be = get_backend(backend, device, precision=precision)
    if validate and not be.checks_finite:  # (a checking backend raises as check_rows would)
        check_rows(X, m.metric, chunk)
    ds = ArrayDataset(X, metric=m, backend=be, chunk_rows=chunk)
    return ds.assign(C, mode=mode, tracker=tracker)


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
    m = adapter(metric)
    C = _centers(centers, m)
    X = _rows(X, C)
    check_rows(X, m.metric, chunk_rows)
    w = check_weights(sample_weight, X.shape[0])
    be = get_backend(backend, device)
    return ArrayDataset(X, w, metric=m, backend=be, chunk_rows=chunk_rows).accumulate(C)
