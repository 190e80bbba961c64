"""One thread per row part, each running a single-threaded GEMM on cache-sized blocks.

The CPU hot path of assignment and of a Lloyd pass.  Instead of a multi-threaded GEMM into a
large buffer followed by a parallel pass over it (two parallel regions and a trip through
memory per block), the rows are split into ``n_parts`` contiguous parts; one worker thread
per part loops over its part in blocks of ``block_rows`` rows (a (rows, k) float32 buffer of
about 512 KB, L2-resident), calls a single-threaded GEMM (torch, or NumPy) into its own
buffer and reduces it at once: NumPy's SIMD ``argmin`` over the block (GIL released; LLVM
does not vectorize an argmin loop, NumPy's hand-written one is ~2x faster than Numba's), then
a GIL-free Numba kernel for the row norms, second best and bookkeeping
(:func:`archetype.kernels.numba_kmeans.finish_top2` / ``finish_accumulate``).  One
fork/join per call, no shared writes, and the sums of a part are added in row order, so the
result depends only on ``n_parts``.  This is how scikit-learn's ``predict`` works, too.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from archetype.kernels import numba_kmeans as nk

#: Bytes of one worker's (rows, k) distance block.
BLOCK_BYTES = 256 << 10

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor(n: int) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < n:
            _pool = ThreadPoolExecutor(n, thread_name_prefix="archetype-kmeans")
        return _pool


def block_rows(k: int, d: int) -> int:
    """Rows per worker block: the distance block is ~``BLOCK_BYTES``; 64 to 8192 rows."""
    return int(max(64, min(8192, BLOCK_BYTES // (4 * max(k, d, 1)))))


@contextlib.contextmanager
def _single_threaded_gemm():
    """Make torch's GEMM single-threaded while the workers run (restored after)."""
    import torch

    prev = torch.get_num_threads()
    if prev != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if prev != 1:
            torch.set_num_threads(prev)


def run_parts(n: int, work: Callable[[int, int, int], None], parts: int | None = None) -> int:
    """Call ``work(part, start, stop)`` for ``parts`` contiguous row ranges, in threads.

    Returns the number of parts.  Small inputs (fewer rows than two blocks' worth) run in
    the calling thread as one part.
    """
    parts = parts or nk.n_parts()
    if parts <= 1 or n < 4096:
        work(0, 0, n)
        return 1
    bounds = [(n * p) // parts for p in range(parts + 1)]
    with _single_threaded_gemm():
        futs = [_executor(parts).submit(work, p, bounds[p], bounds[p + 1])
                for p in range(parts)]
        for f in futs:
            f.result()
    return parts


def assign_top2(X: np.ndarray, gemm: Callable, k: int, *, mode: str = "margin"):
    """labels, dist, margin of the rows ``X`` (m, d) float32; ``gemm(x, out)`` writes
    ``||c||^2 - 2 x C^T`` into ``out`` (rows, k) float32 and returns it.

    ``mode="labels"`` computes only the labels (``dist`` and ``margin`` are None): what
    ``predict`` needs, the GEMM and NumPy's argmin, nothing else."""
    n, d = X.shape
    labels = np.empty(n, np.int64)
    only = mode == "labels"
    dist = None if only else np.empty(n, np.float32)
    margin = None if only else np.empty(n, np.float32)
    step = block_rows(k, d)

    def work(_p, start, stop):
        buf = np.empty(step * k, np.float32)
        for s in range(start, stop, step):
            e = min(stop, s + step)
            G = gemm(X[s:e], buf[: (e - s) * k].reshape(e - s, k))
            if only:
                np.argmin(G, axis=1, out=labels[s:e])
            else:
                nk.finish_top2(G, G.argmin(axis=1), X[s:e], labels[s:e], dist[s:e],
                               margin[s:e], True)

    run_parts(n, work)
    return labels, dist, margin


def assign_accumulate(X: np.ndarray, w: np.ndarray, gemm: Callable, k: int):
    """labels, dist, sums (k, d) float64, counts (k,) float64, inertia float."""
    n, d = X.shape
    labels = np.empty(n, np.int64)
    dist = np.empty(n, np.float32)
    parts = max(1, nk.n_parts())
    sums = np.zeros((parts, k, d))
    counts = np.zeros((parts, k))
    inertia = np.zeros((parts, 1))
    step = block_rows(k, d)

    def work(p, start, stop):
        buf = np.empty(step * k, np.float32)
        for s in range(start, stop, step):
            e = min(stop, s + step)
            G = gemm(X[s:e], buf[: (e - s) * k].reshape(e - s, k))
            nk.finish_accumulate(G, G.argmin(axis=1), X[s:e], w[s:e], labels[s:e], dist[s:e],
                                 sums[p], counts[p], inertia[p])

    run_parts(n, work, parts)
    return labels, dist, sums.sum(0), counts.sum(0), float(inertia.sum())
