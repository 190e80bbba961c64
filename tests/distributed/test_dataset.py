"""ShardedDataset answers the loop's questions exactly as the local ArrayDataset does.

Run without Ray: the shard workers are plain objects behind a stand-in for ``ray`` whose
``put``/``get`` pass values through, so only the adapter's routing and merging are tested
here (tests/distributed/test_fit.py runs the real actors).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from archetype.cluster import ArrayDataset, KMeansParams, kmeans
from archetype.cluster.backends import get_backend
from archetype.distributed.dataset import ShardedDataset, WorkerPool
from archetype.distributed.shards import FileShard, split_rows
from archetype.distributed.workers import ShardWorker

FAKE_RAY = SimpleNamespace(
    put=lambda x: x,
    get=lambda refs: list(refs),
    exceptions=SimpleNamespace(RayActorError=RuntimeError),
)


class _Actor:
    """``actor.method.remote(*args)`` runs ``worker.method(*args)`` at once."""

    def __init__(self, worker):
        self._w = worker

    def __getattr__(self, name):
        return SimpleNamespace(remote=getattr(self._w, name))


def _sharded(path, parts, metric):
    n = np.load(path, mmap_mode="r").shape[0]
    shards = [FileShard(str(path), a, b) for a, b in split_rows(n, parts)]
    workers = [
        ShardWorker(i, s, metric=metric, backend="numba", device="cpu")
        for i, s in enumerate(shards)
    ]
    pool = WorkerPool([_Actor(w) for w in workers], [w.info() for w in workers], shards, metric)
    return ShardedDataset(FAKE_RAY, pool)


@pytest.fixture
def data(tmp_path, rng):
    X = (rng.normal(0, 4, (6, 5))[rng.integers(0, 6, 5_000)] + rng.normal(size=(5_000, 5))).astype(
        np.float32
    )
    X[10:40] = X[3]  # duplicate rows
    np.save(tmp_path / "x.npy", X)
    return tmp_path / "x.npy", X


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_sharded_answers_equal_local(data, rng, metric):
    path, X = data
    local = ArrayDataset(X, metric=metric, backend=get_backend("numba", "cpu"))
    sharded = _sharded(path, 3, metric)
    assert (sharded.count(), sharded.dim()) == (local.count(), local.dim())
    idx = rng.choice(len(X), 700, replace=False)
    np.testing.assert_array_equal(sharded.subset(idx)[0], local.subset(idx)[0])
    C = local.subset(np.arange(0, 5_000, 700))[0]
    a, b = (
        sharded.accumulate(C, n_far=4, keep_labels=True),
        local.accumulate(C, n_far=4, keep_labels=True),
    )
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.sums, b.sums, rtol=1e-12)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.farthest(4), b.farthest(4))
    assert a.inertia == pytest.approx(b.inertia, rel=1e-12)
    sa, la = sharded.assign(C), local.assign(C)
    np.testing.assert_array_equal(sa.labels, la.labels)
    np.testing.assert_array_equal(sa.margin, la.margin)


def test_the_loop_over_shards_gives_the_local_centers(data):
    path, X = data
    be = get_backend("numba", "cpu")
    p = KMeansParams(n_clusters=7, n_init=2, batch_size=512)
    local = kmeans(ArrayDataset(X, backend=be), p, backend=be, random_state=4)
    sharded = kmeans(_sharded(path, 4, "l2"), p, backend=be, random_state=4)
    np.testing.assert_array_equal(sharded.centers, local.centers)
    np.testing.assert_array_equal(sharded.labels, local.labels)
    assert sharded.inertia == pytest.approx(local.inertia, rel=1e-12)
