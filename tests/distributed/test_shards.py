"""Shard cutting: pure functions, no Ray needed."""

from __future__ import annotations

import numpy as np
import pytest

from archetype.distributed.shards import FileShard, backing_file, make_shards, split_rows


def test_split_rows_covers_range_with_near_equal_parts():
    assert split_rows(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert split_rows(2, 4) == [(0, 1), (1, 2)]
    assert split_rows(0, 3) == []
    with pytest.raises(ValueError):
        split_rows(5, 0)


def test_file_shards_reload_their_rows(tmp_path):
    X = np.arange(30, dtype=np.float32).reshape(10, 3)
    path = tmp_path / "embedding.npy"
    np.save(path, X)
    shards = make_shards(path, 3)
    assert [(s.start, s.stop) for s in shards] == [(0, 4), (4, 7), (7, 10)]
    assert all(isinstance(s, FileShard) for s in shards)
    np.testing.assert_array_equal(np.concatenate([s.load() for s in shards]), X)
    # a memmap of the whole file is recognised as file-backed; a slice of it is not
    mm = np.load(path, mmap_mode="r")
    assert backing_file(mm) == str(path.resolve())
    assert backing_file(mm[2:5]) is None
    assert backing_file(X) is None
