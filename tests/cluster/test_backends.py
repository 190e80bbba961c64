"""Every backend agrees with the plain NumPy reference (labels, sums, counts, inertia)."""

from __future__ import annotations

import numpy as np
import pytest

from archetype.cluster import assign, centers_from_stats, partial_stats
from archetype.cluster.backends import get_backend
from archetype.cluster.backends.numpy_ref import NumpyBackend


def _data(rng):
    # integer-valued points: distances are exact in float32, duplicates included
    X = rng.integers(-20, 21, size=(1500, 5)).astype(np.float32)
    X[100:200] = X[0]  # 100 duplicates of row 0
    C = np.stack([X[0], X[1] + 0.5, X[2] + 0.25, np.full(5, 1000.0, np.float32)])  # last: empty
    return X, C


def test_numpy_reference_by_hand():
    X = np.array([[0, 0], [1, 0], [10, 10], [11, 10]], np.float32)
    C = np.array([[0, 0], [10, 10]], np.float32)
    labels, dist, margin = NumpyBackend().assign(X, NumpyBackend().prepare(C))
    assert labels.tolist() == [0, 0, 1, 1]
    assert dist.tolist() == [0, 1, 0, 1]
    assert margin.tolist() == [200, 181 - 1, 200, 221 - 1]  # (11,10): 221 vs 1


def test_backend_matches_reference(backend, rng):
    X, C = _data(rng)
    w = rng.uniform(0.5, 2, len(X)).astype(np.float32)
    ref = NumpyBackend()
    rl, rd, rm = ref.assign(X, ref.prepare(C))
    rs = ref.accumulate(X, ref.prepare(C), w)
    labels, dist, margin = backend.assign(X, backend.prepare(C))
    np.testing.assert_array_equal(labels, rl)
    np.testing.assert_allclose(dist, rd, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(margin, rm, rtol=1e-5, atol=1e-3)
    cs = backend.accumulate(X, backend.prepare(C), w)
    np.testing.assert_array_equal(cs.labels, rl)
    np.testing.assert_allclose(cs.sums, rs.sums, rtol=1e-6)
    np.testing.assert_allclose(cs.counts, rs.counts, rtol=1e-6)
    assert cs.counts[3] == 0  # the far center went empty
    np.testing.assert_allclose(cs.inertia, rs.inertia, rtol=1e-5)


def test_backend_single_center_margin_is_inf(backend, rng):
    X = rng.standard_normal((50, 3)).astype(np.float32)
    C = X[:1].copy()
    labels, dist, margin = backend.assign(X, backend.prepare(C))
    assert (labels == 0).all() and np.isinf(margin).all()
    np.testing.assert_allclose(dist, ((X - C) ** 2).sum(1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["auto", "torch", "numba", "faiss", "numpy"])
def test_partial_stats_merge_and_update(name, rng):
    X, C = _data(rng)
    whole = partial_stats(X, C, backend=name, device="cpu")
    parts = partial_stats(X[:700], C, backend=name, device="cpu") + partial_stats(
        X[700:], C, backend=name, device="cpu")
    assert parts.n == whole.n == len(X)
    np.testing.assert_allclose(parts.sums, whole.sums)
    np.testing.assert_allclose(parts.counts, whole.counts)
    new = centers_from_stats(whole, C)
    labels = ((X[:, None, :] - C[None]) ** 2).sum(-1).argmin(1)
    for j in range(3):
        np.testing.assert_allclose(new[j], X[labels == j].mean(0), rtol=1e-5)
    np.testing.assert_array_equal(new[3], C[3])  # empty center kept, never NaN
    assert np.isfinite(new).all()


def test_assign_cosine_distance(rng):
    X = rng.standard_normal((300, 4)).astype(np.float32)
    C = rng.standard_normal((3, 4)).astype(np.float32)
    a = assign(X, C, metric="cosine", device="cpu")
    cos = (X / np.linalg.norm(X, axis=1, keepdims=True)) @ (
        C / np.linalg.norm(C, axis=1, keepdims=True)).T
    np.testing.assert_array_equal(a.labels, cos.argmax(1))
    np.testing.assert_allclose(a.distances, 1 - cos.max(1), atol=1e-5)
    s = np.sort(1 - cos, axis=1)
    np.testing.assert_allclose(a.margin, s[:, 1] - s[:, 0], atol=1e-5)


def test_assign_chunked_equals_whole(rng):
    X, C = _data(rng)
    a = assign(X, C, device="cpu", chunk_size=97)
    b = assign(X, C, device="cpu")
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.distances, b.distances)


def test_unknown_backend_is_user_error():
    with pytest.raises(ValueError, match="backend='gpu' should be one of"):
        get_backend("gpu")


@pytest.mark.cuda
def test_cuda_backend_matches_reference(rng):
    X, C = _data(rng)
    ref = NumpyBackend()
    rl, rd, rm = ref.assign(X, ref.prepare(C))
    for precision in ("fp32", "tf32"):
        be = get_backend("torch", "cuda", precision=precision)
        labels, dist, margin = be.assign(X, be.prepare(C))
        np.testing.assert_array_equal(labels, rl)
        np.testing.assert_allclose(dist, rd, rtol=1e-3, atol=1e-2)
        cs = be.accumulate(X, be.prepare(C), np.ones(len(X), np.float32))
        np.testing.assert_allclose(cs.counts, np.bincount(rl, minlength=4))


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("k", [1, 2, 64])
def test_small_path_equals_blocked_path(rng, metric, k):
    """``assign(backend="auto")`` of a few rows (the live service's call) takes the NumPy
    path; it agrees with the blocked kernel and the float64 reference."""
    from archetype.cluster.assign import assign_small, is_small
    from archetype.cluster.metric import adapter

    X = rng.standard_normal((40, 40)).astype(np.float32)
    X[5] = X[4]  # a duplicate row
    C = rng.standard_normal((k, 40)).astype(np.float32)
    assert is_small(X, C)
    small = assign(X, C, metric=metric)
    blocked = assign(X, C, metric=metric, backend="numba", device="cpu")
    np.testing.assert_array_equal(small.labels, blocked.labels)
    np.testing.assert_allclose(small.distances, blocked.distances, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(small.margin, blocked.margin, rtol=1e-4, atol=1e-4)
    m = adapter(metric)
    ref = NumpyBackend()
    labels, dist, margin = ref.assign(m.rows(X), ref.prepare(m.centers(C)))
    np.testing.assert_array_equal(small.labels, labels)
    np.testing.assert_allclose(small.distances, m.dist(dist), rtol=1e-4, atol=1e-4)
    if k == 1:
        assert np.isinf(small.margin).all()
    only = assign_small(m.rows(X), m.centers(C), m, mode=0)
    np.testing.assert_array_equal(only.labels, labels)
    assert np.isnan(only.distances).all() and np.isnan(only.margin).all()
