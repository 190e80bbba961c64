"""The data side of the loop interface: count, dim, subset, chunks (FAISS ``DatasetAssign``).

Rows live in memory, in a memory-mapped ``.npy``, or arrive as an iterator of chunks
(spooled once to a temporary ``.npy`` so later passes can re-read them).  Every read goes
through :meth:`Dataset.chunks` or :meth:`Dataset.subset`, so memory is bounded by the chunk
size, never by ``n x k``.  Rows are converted to float32 and, for the cosine metric,
normalized chunk by chunk.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from archetype.cluster._validation import (
    as_float32_2d,
    check_finite,
    check_weights,
    normalize_rows,
)
from archetype.cluster.step import DEFAULT_CHUNK_ROWS
from archetype.errors import UserError


class Dataset:
    """Rows ``X`` (n, d) with weights, read in chunks.

    Parameters
    ----------
    X : ndarray or np.memmap (n, d)
    sample_weight : array-like (n,), optional
    metric : {"l2", "cosine"}
    chunk_rows : int
    """

    def __init__(self, X: np.ndarray, sample_weight=None, *, metric: str = "l2",
                 chunk_rows: int = DEFAULT_CHUNK_ROWS, _tmpfile: str | None = None) -> None:
        if X.ndim != 2:
            raise UserError(f"X should be 2-D (n_samples, n_features), got shape {X.shape}")
        self.X = X
        self.w = check_weights(sample_weight, X.shape[0])
        self.metric = metric
        self.chunk_rows = int(chunk_rows)
        self._tmpfile = _tmpfile

    def count(self) -> int:
        return int(self.X.shape[0])

    def dim(self) -> int:
        return int(self.X.shape[1])

    def _clean(self, x: np.ndarray, offset: int) -> np.ndarray:
        if isinstance(x, np.memmap) or not x.flags.writeable:
            x = np.array(x, dtype=np.float32, order="C")  # one chunk in memory
        elif x.dtype != np.float32 or not x.flags.c_contiguous:
            x = np.ascontiguousarray(x, dtype=np.float32)
        if self.metric == "cosine":
            x = normalize_rows(x, offset=offset)
        return x

    def validate(self) -> None:
        """One chunked pass: NaN/inf (count and first row) and, for cosine, zero rows."""
        n_bad, first = 0, None
        for s in range(0, self.count(), self.chunk_rows):
            x = np.asarray(self.X[s : s + self.chunk_rows])
            try:
                check_finite(x, offset=s)
            except UserError:
                bad = ~np.isfinite(x)
                n_bad += int(bad.sum())
                if first is None:
                    first = s + int(np.argmax(bad.any(axis=1)))
            else:
                if self.metric == "cosine":
                    normalize_rows(np.ascontiguousarray(x, dtype=np.float32), offset=s)
        if n_bad:
            raise UserError(f"X contains {n_bad} NaN or inf value(s); first in row {first}")

    def chunks(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Yield ``(offset, rows float32, weights float32)`` chunk by chunk."""
        for s in range(0, self.count(), self.chunk_rows):
            e = s + self.chunk_rows
            yield s, self._clean(self.X[s:e], s), self.w[s:e]

    def subset(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows and weights at sorted indices ``idx`` (sorting keeps memmap reads local)."""
        idx = np.sort(np.asarray(idx, dtype=np.int64))
        return self._clean(self.X[idx], 0), self.w[idx]

    def close(self) -> None:
        """Remove the spool file of an iterator-backed dataset."""
        if self._tmpfile is not None:
            self.X = None
            with contextlib.suppress(OSError):
                os.unlink(self._tmpfile)
            self._tmpfile = None


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
    try:
        d = None
        n = 0
        raw = tmp + ".raw"
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
        step = max(1, DEFAULT_CHUNK_ROWS)
        for s in range(0, n, step):
            out[s : s + step] = src[s : s + step]
        out.flush()
        del out, src
        os.unlink(raw)
        return np.load(tmp, mmap_mode="r"), tmp
    except BaseException:
        for p in (tmp, tmp + ".raw"):
            if os.path.exists(p):
                os.unlink(p)
        raise


def as_dataset(X, sample_weight=None, *, metric: str = "l2",
               chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Dataset:
    """Wrap an array, memmap, ``.npy`` path or iterator of chunks as a :class:`Dataset`."""
    if hasattr(X, "tocsr") or hasattr(X, "tocoo"):  # scipy.sparse, without importing it
        raise UserError("Sparse data was passed for X, but dense data is required. "
                        "Use '.toarray()' to convert to a dense numpy array.")
    if isinstance(X, (str, Path)):
        return Dataset(open_npy(X), sample_weight, metric=metric, chunk_rows=chunk_rows)
    if isinstance(X, np.memmap):
        return Dataset(X, sample_weight, metric=metric, chunk_rows=chunk_rows)
    if isinstance(X, np.ndarray) or hasattr(X, "__array__") or isinstance(X, (list, tuple)):
        return Dataset(as_float32_2d(X), sample_weight, metric=metric, chunk_rows=chunk_rows)
    if isinstance(X, Iterable):
        mm, tmp = spool_chunks(X)
        return Dataset(mm, sample_weight, metric=metric, chunk_rows=chunk_rows, _tmpfile=tmp)
    raise UserError(f"X should be an array, a .npy path or an iterator of chunks, got {type(X)}")
