"""The data side of the k-means loop (FAISS ``DatasetAssign``): the :class:`Dataset` protocol
and :class:`ArrayDataset`, rows in this process.

The loop (:mod:`archetype.cluster.kmeans`) only ever asks a dataset for its size, for some
rows (:meth:`~Dataset.subset`: the sample, mini-batches, far rows for empty clusters), for the
statistics of a pass against centers (:meth:`~Dataset.accumulate`) and for an assignment.
:class:`ArrayDataset` answers from an array, a memory-mapped ``.npy`` or an iterator of chunks
(spooled once to a temporary ``.npy``), ``chunk_rows`` at a time, so memory is bounded by the
chunk size, never ``n x k``; ``archetype.distributed`` answers the same questions from Ray
actors that each hold a shard.  Rows are validated once at the public face; here they are
only converted (float32, unit length for cosine).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from archetype.cluster._validation import as_float32_2d, check_rows
from archetype.cluster.backends import MARGIN, Backend, NonFiniteError, get_backend
from archetype.cluster.metric import MetricAdapter, adapter
from archetype.cluster.step import StepStats
from archetype.errors import UserError
from archetype.progress import Tracker, tracker_or_null

#: Rows handed to a backend at a time (bounds the per-call label/distance buffers).
DEFAULT_CHUNK_ROWS = 1 << 18


@dataclass
class Assignment:
    """Nearest center of every row (:func:`archetype.cluster.assign`).

    Attributes
    ----------
    labels : ndarray (n,) int64 — row of the nearest center.
    distances : ndarray (n,) float32 — squared L2 distance, or cosine distance ``1 - cos``
        (NaN when only labels were asked for).
    margin : ndarray (n,) float32 — second-best minus best distance (``inf`` when k == 1;
        NaN when not asked for): how sure the assignment is.
    """

    labels: np.ndarray
    distances: np.ndarray
    margin: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@runtime_checkable
class Dataset(Protocol):
    """What the k-means loop needs of the rows: local (:class:`ArrayDataset`) or sharded."""

    metric: MetricAdapter

    def count(self) -> int:
        """Number of rows."""

    def dim(self) -> int:
        """Number of columns."""

    def subset(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Clean rows (float32; unit length for cosine) and weights at the sorted ``idx``."""

    def accumulate(self, centers: np.ndarray, *, n_far: int = 0,
                   keep_labels: bool = False) -> StepStats:
        """Statistics of a pass against clean ``centers``: sums, counts, inertia, and
        optionally the labels and distances of every row and the ``n_far`` farthest rows."""

    def assign(self, centers: np.ndarray, *, mode: int = MARGIN) -> Assignment:
        """Labels, distances and margins of every row."""

    def close(self) -> None:
        """Release what the dataset holds (spool files, actors)."""


class ArrayDataset:
    """Rows ``X`` (n, d) in this process, with weights, read ``chunk_rows`` at a time.

    Parameters
    ----------
    X : ndarray or np.memmap (n, d)
        Validated rows (finite; non-zero for cosine).  An in-memory float32 C-contiguous
        array is used as it is (for cosine: normalized once); a memmap is read and
        converted chunk by chunk.
    w : ndarray (n,) float32, optional — validated weights (None: all 1).
    metric : {"l2", "cosine"} or MetricAdapter
    backend : Backend, optional (default ``get_backend("auto")``)
    chunk_rows : int
        Rows per read of a memmap (rows in memory are one chunk).
    clean : bool, default False
        ``X`` is already converted (float32 C-contiguous, unit rows for cosine): a sample or
        a batch the loop took from another dataset's :meth:`subset`.
    """

    def __init__(self, X: np.ndarray, w: np.ndarray | None = None, *,
                 metric: str | MetricAdapter = "l2", backend: Backend | None = None,
                 chunk_rows: int = DEFAULT_CHUNK_ROWS, clean: bool = False,
                 _tmpfile: str | None = None) -> None:
        self.metric = adapter(metric)
        self.backend = backend if backend is not None else get_backend()
        self.chunk_rows = int(chunk_rows)
        self.w = w
        self._ones: np.ndarray | None = None
        self._tmpfile = _tmpfile
        self.in_memory = not isinstance(X, np.memmap)
        if self.in_memory and not clean:
            X = self.metric.rows(np.ascontiguousarray(X, dtype=np.float32))
        self.X = X

    def count(self) -> int:
        return int(self.X.shape[0])

    def dim(self) -> int:
        return int(self.X.shape[1])

    def _rows(self, x: np.ndarray, offset: int) -> np.ndarray:
        if self.in_memory:
            return x
        if x.dtype == np.float32 and x.flags.c_contiguous and not self.metric.cosine:
            return np.asarray(x)  # read straight from the page cache (read-only view)
        x = np.array(x, dtype=np.float32, order="C")  # one chunk converted in memory
        return self.metric.rows(x, offset=offset)

    def _weights(self, s: int, e: int) -> np.ndarray:
        if self.w is not None:
            return self.w[s:e]
        if self._ones is None or len(self._ones) < e - s:
            self._ones = np.ones(e - s, np.float32)
        return self._ones[: e - s]

    def chunks(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Yield ``(offset, clean rows, weights float32)`` chunk by chunk (rows in memory are
        one chunk: a pass's labels and distances, 12 bytes a row, are smaller than them)."""
        n = self.count()
        step = max(n, 1) if self.in_memory else self.chunk_rows
        for s in range(0, n, step):
            e = min(n, s + step)
            yield s, self._rows(self.X[s:e], s), self._weights(s, e)

    def subset(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        idx = np.sort(np.asarray(idx))  # sorted: memmap reads stay local (int32: 2x faster)
        x = self.X.take(idx, axis=0) if self.in_memory else self.X[idx]  # take: 3x faster
        return self._rows(x, 0), None if self.w is None else self.w[idx]

    def accumulate(self, centers, *, n_far=0, keep_labels=False) -> StepStats:
        prep = self.backend.prepare(centers)
        total = None
        for s, x, w in self.chunks():
            with self._nonfinite_named():
                cs = self.backend.accumulate(x, prep, w)
            part = StepStats(cs.sums, cs.counts, float(self.metric.dist(cs.inertia)), len(x))
            if n_far:
                part.far, part.far_dist = _farthest(cs.dist, w, n_far, s, self.metric)
            if keep_labels:  # (concatenated by +, chunk after chunk)
                part.labels, part.dist = cs.labels, self.metric.dist(cs.dist)
            total = part if total is None else (total + part).keep_farthest(n_far)
        return total if total is not None else StepStats.zeros(*centers.shape)

    def assign(self, centers, *, mode: int = MARGIN, tracker: Tracker | None = None
               ) -> Assignment:
        n = self.count()
        prep = self.backend.prepare(centers)
        parts: list[tuple] = []
        with tracker_or_null(tracker).task("assigning", total=n) as task:
            for _s, x, _w in self.chunks():
                with self._nonfinite_named():
                    lab, dist, margin = self.backend.assign(x, prep, mode=mode)
                parts.append((lab, None if dist is None else self.metric.dist(dist),
                              None if margin is None else self.metric.dist(margin)))
                task.advance(len(x))
        nan = np.broadcast_to(np.float32(np.nan), (n,))  # read-only, no memory: not computed
        if not parts:
            return Assignment(np.empty(0, np.int64), nan, nan)
        labels, dist, margin = (c[0] if len(c) == 1 else np.concatenate(c) if c[0] is not None
                                else None for c in zip(*parts, strict=True))
        return Assignment(labels, nan if dist is None else dist,
                          nan if margin is None else margin)

    @contextlib.contextmanager
    def _nonfinite_named(self):
        """A backend's NonFiniteError as the faces' UserError (count and first row)."""
        try:
            yield
        except NonFiniteError:
            check_rows(self.X, "l2", self.chunk_rows)  # raises, naming the rows
            raise

    def close(self) -> None:
        """Remove the spool file of an iterator-backed dataset."""
        if self._tmpfile is not None:
            self.X = None
            with contextlib.suppress(OSError):
                os.unlink(self._tmpfile)
            self._tmpfile = None


def _farthest(dist, w, m, offset, metric):
    """Row numbers (+ ``offset``) and distances of the ``m`` rows farthest from their center,
    all rows tied with the last one included (so the pick does not depend on how the rows
    were cut into chunks or shards); a zero-weight row never fills an empty center first."""
    score = np.where(w > 0, dist, -1.0)
    m = min(m, len(score))
    top = np.argpartition(score, len(score) - m)[len(score) - m :]
    ties = np.flatnonzero(score >= score[top].min())
    if len(ties) <= 4 * m + 64:
        top = ties
    return top + offset, metric.dist(score[top])


def open_npy(path: str | Path) -> np.ndarray:
    """Memory-map a ``.npy`` file read-only; a missing or bad file is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError("file not found", path=path)
    try:
        return np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise UserError(f"not a readable .npy file: {e}", path=path) from None


def spool_chunks(chunks: Iterable, *, dir: str | None = None) -> tuple[np.memmap, str]:
    """Write an iterable of (m, d) chunks to a temporary ``.npy``; return its memmap and path."""
    fd, tmp = tempfile.mkstemp(suffix=".npy", prefix="archetype-spool-", dir=dir)
    os.close(fd)
    raw = tmp + ".raw"
    try:
        d, n = None, 0
        with open(raw, "wb") as fh:
            for chunk in chunks:
                x = as_float32_2d(chunk)
                if d is None:
                    d = x.shape[1]
                elif x.shape[1] != d:
                    raise UserError(f"chunk at row {n} has {x.shape[1]} columns, expected {d}")
                fh.write(x.tobytes())
                n += x.shape[0]
        if d is None:
            raise UserError("the iterator of chunks was empty")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, d))
        src = np.memmap(raw, dtype=np.float32, mode="r", shape=(n, d)) if n else None
        for s in range(0, n, DEFAULT_CHUNK_ROWS):
            out[s : s + DEFAULT_CHUNK_ROWS] = src[s : s + DEFAULT_CHUNK_ROWS]
        out.flush()
        del out, src
        os.unlink(raw)
        return np.load(tmp, mmap_mode="r"), tmp
    except BaseException:
        for p in (tmp, raw):
            if os.path.exists(p):
                os.unlink(p)
        raise


def as_rows(X) -> tuple[np.ndarray, str | None]:
    """An array, memmap, ``.npy`` path or iterator of chunks as ``(rows, spool file)``:
    an in-memory float32 array or a memmap (rows not yet checked for NaN)."""
    if hasattr(X, "tocsr") or hasattr(X, "tocoo"):  # scipy.sparse, without importing it
        raise UserError("Sparse data was passed for X, but dense data is required. "
                        "Use '.toarray()' to convert to a dense numpy array.")
    if isinstance(X, (str, Path)):
        X = open_npy(X)
    if isinstance(X, np.memmap):
        if X.ndim != 2:
            raise UserError(f"X should be 2-D (n_samples, n_features), got shape {X.shape}")
        return X, None
    if isinstance(X, np.ndarray) or hasattr(X, "__array__") or isinstance(X, (list, tuple)):
        return as_float32_2d(X), None
    if isinstance(X, Iterable):
        return spool_chunks(X)
    raise UserError(f"X should be an array, a .npy path or an iterator of chunks, got {type(X)}")
