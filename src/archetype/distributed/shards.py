"""Cutting an embedding into row shards that Ray workers can (re)load on their own.

A shard is a contiguous row range ``[start, stop)`` of the ``(n, d)`` float32 embedding.
Workers must be able to load their shard *again* after a restart, without the driver, so a
shard names where its rows live:

* :class:`FileShard` — rows of an ``embedding.npy`` on storage every node can read (a shared
  filesystem, the normal case on a cluster); the driver never touches the rows.
* :class:`ObjectShard` — rows put in the Ray object store by the driver (an in-memory
  array with no file behind it, e.g. from a notebook); Ray keeps the object alive as long
  as an actor created with it may restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archetype.errors import UserError


@dataclass(frozen=True)
class FileShard:
    """Rows ``[start, stop)`` of the ``.npy`` file at ``path``."""

    path: str
    start: int
    stop: int

    def load(self) -> np.ndarray:
        mm = np.load(self.path, mmap_mode="r")
        return np.ascontiguousarray(mm[self.start : self.stop], dtype=np.float32)


@dataclass(frozen=True)
class ObjectShard:
    """Rows ``[start, stop)`` held in the Ray object store under ``ref``."""

    ref: Any
    start: int
    stop: int

    def load(self) -> np.ndarray:
        import ray

        # An ObjectRef nested in a dataclass is not resolved by Ray automatically.
        return np.ascontiguousarray(ray.get(self.ref), dtype=np.float32)


Shard = FileShard | ObjectShard


def split_rows(n: int, parts: int) -> list[tuple[int, int]]:
    """Split ``range(n)`` into ``parts`` contiguous ranges whose sizes differ by at most one.

    Empty ranges are dropped, so fewer than ``parts`` come back when ``n < parts``.
    """
    if n < 0 or parts < 1:
        raise ValueError(f"n={n} should be >= 0 and parts={parts} should be >= 1")
    base, extra = divmod(n, parts)
    bounds, start = [], 0
    for i in range(parts):
        stop = start + base + (1 if i < extra else 0)
        if stop > start:
            bounds.append((start, stop))
        start = stop
    return bounds


def backing_file(embedding: np.ndarray) -> str | None:
    """The ``.npy`` file a memory-mapped embedding was loaded from, when it maps all of it."""
    if not isinstance(embedding, np.memmap):
        return None
    filename = getattr(embedding, "filename", None)
    if filename is None or not str(filename).endswith(".npy"):
        return None
    try:
        whole = np.load(filename, mmap_mode="r")
    except (OSError, ValueError):
        return None
    if whole.shape != embedding.shape or whole.dtype != embedding.dtype:
        return None  # a slice or view of the file: its row numbers do not match
    return str(Path(filename).resolve())


def make_shards(embedding: np.ndarray | str | Path, parts: int, ray: Any = None) -> list[Shard]:
    """Cut an embedding (array, memmap, or path to ``.npy``) into at most ``parts`` shards.

    Parameters
    ----------
    embedding : ndarray, memmap or path
        ``(n, d)`` float32 matrix.  A path or a memmap of a whole ``.npy`` gives
        :class:`FileShard` s; any other array is put in the Ray object store, one object
        per shard (so a restarted worker fetches only its own rows).
    parts : int
        Number of shards wanted (one per worker).
    ray : module, optional
        The connected ``ray`` module; needed for in-memory arrays.
    """
    path = str(embedding) if isinstance(embedding, (str, Path)) else backing_file(embedding)
    if path is not None:
        try:
            shape = np.load(path, mmap_mode="r").shape
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read the embedding: {e}", path=path) from e
        if len(shape) != 2:
            raise UserError(f"embedding should be 2-D, got shape {shape}", path=path)
        return [FileShard(path, a, b) for a, b in split_rows(shape[0], parts)]
    arr = np.asarray(embedding)
    if arr.ndim != 2:
        raise UserError(f"embedding should be 2-D, got shape {arr.shape}")
    if ray is None:
        raise ValueError("an in-memory embedding needs a connected ray module")
    return [
        ObjectShard(ray.put(np.ascontiguousarray(arr[a:b], dtype=np.float32)), a, b)
        for a, b in split_rows(arr.shape[0], parts)
    ]


def embedding_shape(embedding: np.ndarray | str | Path) -> tuple[int, int]:
    """``(rows, columns)`` of an embedding given as an array, a memmap or a ``.npy`` path."""
    if isinstance(embedding, (str, Path)):
        try:
            shape = np.load(embedding, mmap_mode="r").shape
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read the embedding: {e}", path=embedding) from e
    else:
        shape = np.shape(embedding)
    if len(shape) != 2:
        raise UserError(f"embedding should be 2-D, got shape {tuple(shape)}")
    return int(shape[0]), int(shape[1])
