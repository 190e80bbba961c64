"""The CPU hot path: cache-blocked assignment and accumulation on a few worker threads.

The rows are cut into contiguous parts, a few per worker thread; the threads take them from
a queue and call a ``nogil`` kernel of :mod:`archetype.kernels.numba_kmeans` that walks its
part in blocks of :func:`block_rows` rows: a single-threaded GEMM of the block against all
centers into the thread's own L2-sized buffer, reduced at once (best and second best
fused), then labels, distances, margins and per-part sums.  One fork/join per call, no
``n x k`` matrix, no shared writes; the sums of a part are added in row order and the parts
in part order, so the result depends only on the number of parts.  Inputs of fewer than
:data:`MIN_THREADED_ROWS` rows run in the calling thread as one part.  This is the shape of
scikit-learn's ``predict`` and Lloyd pass, with the reduction vectorized over rows instead
of a loop over centers.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from archetype.cluster.backends.base import NonFiniteError
from archetype.kernels import numba_kmeans as nk

#: Bytes of one block of distances (k x rows float32) plus its rows (d x rows float32).
BLOCK_BYTES = 128 << 10
#: Below this many rows one part runs in the calling thread (a fork/join costs ~50 us).
MIN_THREADED_ROWS = 8192

LABELS, DISTANCES, MARGIN = nk.LABELS, nk.DISTANCES, nk.MARGIN

#: Row parts per worker thread (see :func:`n_parts`).
PARTS_PER_THREAD = 4

_threads: int | None = None
_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()
_blas: list | None = None
_blas_users = 0
_blas_saved: list[int] = []


def block_rows(k: int, d: int) -> int:
    """Rows per block: the ``(k, rows)`` distances and the ``(d, rows)`` transposed rows take
    about :data:`BLOCK_BYTES`; an odd multiple of 16 (a power-of-two row stride makes the
    rows of ``G`` alias in L1: 512 rows measured 1.6x slower than 400), 16 to 1008."""
    m16 = max(1, min(63, BLOCK_BYTES // (4 * (k + d)) // 16))
    return int(16 * (m16 if m16 % 2 else m16 - 1 or 1))


def n_threads() -> int:
    """Worker threads of a call: :func:`set_threads`, else the Numba thread count
    (``NUMBA_NUM_THREADS``, default the CPU count)."""
    if _threads is not None:
        return _threads
    import numba

    return max(1, int(numba.get_num_threads()))


def n_parts(n: int) -> int:
    """Row parts of a threaded call over ``n`` rows: up to :data:`PARTS_PER_THREAD` per
    thread (at least 65536 rows each), taken from a queue, so a thread that loses its core
    to another process hands its share to the others."""
    threads = n_threads()
    return 1 if threads == 1 else threads * max(1, min(PARTS_PER_THREAD, n >> 16))


def set_threads(n: int | None) -> None:
    """Use ``n`` threads per call in this process (None: back to the default); a Ray shard
    actor sets its share of the node's CPUs."""
    global _threads
    _threads = None if n is None else max(1, int(n))


def _executor(n: int) -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None or _pool._max_workers < n:
            _pool = ThreadPoolExecutor(n, thread_name_prefix="archetype-kmeans")
        return _pool


@contextlib.contextmanager
def one_blas_thread():
    """Make the BLAS single-threaded while the part threads run (restored after, nested
    and concurrent callers included): each part thread runs its own small GEMMs."""
    global _blas, _blas_users, _blas_saved
    with _lock:
        if _blas is None:
            import scipy.linalg.cython_blas  # noqa: F401 - the BLAS Numba's np.dot calls
            from threadpoolctl import ThreadpoolController

            _blas = ThreadpoolController().select(user_api="blas").lib_controllers
        if _blas_users == 0:
            _blas_saved = [lib.num_threads for lib in _blas]
            for lib in _blas:
                lib.set_num_threads(1)
        _blas_users += 1
    try:
        yield
    finally:
        with _lock:
            _blas_users -= 1
            if _blas_users == 0:
                for lib, n in zip(_blas, _blas_saved, strict=True):
                    lib.set_num_threads(n)


def run_parts(n: int, work: Callable[[int, int, int], None], parts: int | None = None) -> int:
    """Call ``work(part, start, stop)`` for ``parts`` contiguous row ranges on the worker
    threads (each takes the next part from the queue).

    Returns the number of parts (1, in the calling thread, below :data:`MIN_THREADED_ROWS`).
    """
    parts = parts or n_parts(n)
    with one_blas_thread():  # small GEMMs: a BLAS fork/join would cost more than the work
        if parts <= 1 or n < MIN_THREADED_ROWS:
            work(0, 0, n)
            return 1
        pool = _executor(n_threads())
        bounds = [(n * p) // parts for p in range(parts + 1)]
        futs = [pool.submit(work, p, bounds[p], bounds[p + 1]) for p in range(parts)]
        for f in futs:
            f.result()
    return parts


def prepare(centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(-2 C, ||c||^2)`` of float32 centers (k, d): what every block reuses."""
    C = np.ascontiguousarray(centers, dtype=np.float32)
    cn = np.einsum("ij,ij->i", C.astype(np.float64), C.astype(np.float64)).astype(np.float32)
    return np.ascontiguousarray(-2.0 * C), cn


def _raise_nonfinite(bad: np.ndarray) -> None:
    if bad.any():
        raise NonFiniteError(int(bad.sum()))


def _scratch(k: int, d: int, rows: int):
    """One thread's buffers: distances (k, rows), transposed rows (d, rows), best, second,
    argmin."""
    f32 = np.float32
    return (
        np.empty(k * rows, f32),
        np.empty(d * rows, f32),
        np.empty(rows, f32),
        np.empty(rows, f32),
        np.empty(rows, np.int32),
    )


def assign(X: np.ndarray, neg2c: np.ndarray, cn: np.ndarray, mode: int = MARGIN):
    """``labels (n,) int64, dist (n,) float32, margin (n,) float32`` of the rows ``X``.

    ``mode``: ``LABELS`` (dist and margin are None), ``DISTANCES`` (margin is None) or
    ``MARGIN`` (``inf`` when k == 1).
    """
    n, d = X.shape
    k = neg2c.shape[0]
    labels = np.empty(n, np.int64)
    dist = np.empty(n if mode >= DISTANCES else 0, np.float32)
    margin = np.empty(n if mode == MARGIN else 0, np.float32)
    rows = block_rows(k, d)
    bad = np.zeros((n_parts(n), 1), np.int64)

    def work(p, start, stop):
        scratch = _scratch(k, d, rows)
        nk.assign_part(X, neg2c, cn, start, stop, mode, *scratch, labels, dist, margin, bad[p])

    run_parts(n, work, len(bad))
    _raise_nonfinite(bad)
    if mode == MARGIN and k == 1:
        margin[:] = np.inf
    return (labels, dist if mode >= DISTANCES else None, margin if mode == MARGIN else None)


def accumulate(X: np.ndarray, w: np.ndarray, neg2c: np.ndarray, cn: np.ndarray):
    """labels (n,) int64, dist (n,) float32, sums (k, d) float64, counts (k,) float64,
    inertia float of the rows ``X`` with weights ``w (n,) float32``."""
    n, d = X.shape
    k = neg2c.shape[0]
    labels = np.empty(n, np.int64)
    dist = np.empty(n, np.float32)
    parts = n_parts(n)
    sums = np.zeros((parts, k, d))
    counts = np.zeros((parts, k))
    inertia = np.zeros((parts, 1))
    rows = block_rows(k, d)
    bad = np.zeros((parts, 1), np.int64)

    def work(p, start, stop):
        acc = (sums[p], counts[p], inertia[p], bad[p])
        nk.accumulate_part(X, w, neg2c, cn, start, stop, *_scratch(k, d, rows), labels, dist, *acc)

    used = run_parts(n, work, parts)
    _raise_nonfinite(bad)
    return labels, dist, sums[:used].sum(0), counts[:used].sum(0), float(inertia[:used].sum())
