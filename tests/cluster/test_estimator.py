"""MiniBatchKMeans: quality vs scikit-learn, determinism, warm start, cosine, weights,
out-of-core inputs, validation messages."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from archetype import MiniBatchKMeans
from archetype.cluster.backends.numpy_ref import NumpyBackend


def _inertia(X, C, w=None):
    d = ((X[:, None, :].astype(np.float64) - C[None]) ** 2).sum(-1).min(1)
    return float(d.sum() if w is None else np.dot(w, d))


@pytest.mark.parametrize("backend", ["torch", "numba", "faiss", "numpy"])
def test_inertia_close_to_sklearn_kmeans(blobs, backend):
    X, y = blobs
    m = MiniBatchKMeans(5, random_state=0, backend=backend, device="cpu", batch_size=256).fit(X)
    sk = KMeans(5, n_init=1, random_state=0).fit(X)
    assert m.inertia_ <= sk.inertia_ * 1.01
    np.testing.assert_allclose(m.inertia_, _inertia(X, m.cluster_centers_), rtol=1e-4)
    assert adjusted_rand_score(y, m.labels_) > 0.99
    # labels_ are the nearest centers of the returned centroids
    ref = NumpyBackend()
    np.testing.assert_array_equal(m.labels_, ref.assign(X, ref.prepare(m.cluster_centers_))[0])
    assert m.n_steps_ >= 1 and m.n_iter_ >= 1
    assert {h["phase"] for h in m.history_} >= {"init", "minibatch", "lloyd"}


@pytest.mark.parametrize("init", ["k-means++", "k-means||", "random"])
def test_inits_reach_the_blobs(blobs, init):
    X, y = blobs
    m = MiniBatchKMeans(5, init=init, n_init=3, random_state=1, device="cpu").fit(X)
    assert adjusted_rand_score(y, m.labels_) > 0.99


def test_deterministic_same_seed(blobs):
    X, _ = blobs
    a = MiniBatchKMeans(5, random_state=3, device="cpu").fit(X)
    b = MiniBatchKMeans(5, random_state=3, device="cpu").fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(a.labels_, b.labels_)


def test_warm_start_from_array_and_model(blobs):
    X, _ = blobs
    a = MiniBatchKMeans(5, random_state=0, device="cpu").fit(X)
    b = MiniBatchKMeans(5, init=a, max_steps=0, random_state=9, device="cpu").fit(X)
    np.testing.assert_allclose(b.cluster_centers_, a.cluster_centers_, atol=1e-4)
    c = MiniBatchKMeans(5, init=a.cluster_centers_, max_steps=0, device="cpu").fit(X)
    np.testing.assert_allclose(c.cluster_centers_, a.cluster_centers_, atol=1e-4)
    assert c.n_iter_ <= 2


def test_cosine_is_spherical(rng):
    dirs = rng.standard_normal((3, 8))
    X = np.concatenate([d * rng.uniform(0.5, 5, (200, 1)) + rng.normal(0, 0.05, (200, 8))
                        for d in dirs]).astype(np.float32)
    m = MiniBatchKMeans(3, metric="cosine", random_state=0, device="cpu").fit(X)
    np.testing.assert_allclose(np.linalg.norm(m.cluster_centers_, axis=1), 1, atol=1e-5)
    assert adjusted_rand_score(np.repeat([0, 1, 2], 200), m.labels_) > 0.99
    a = m.assign(X)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_allclose(a.distances, 1 - (Xn @ m.cluster_centers_.T).max(1), atol=1e-5)


def test_sample_weight_equals_repetition(blobs):
    X, _ = blobs
    w = np.random.default_rng(0).integers(1, 4, len(X))
    init = X[[0, 700, 1400, 2100, 2800]]
    kw = dict(init=init, max_steps=0, tol=0, max_iter=30, device="cpu")
    a = MiniBatchKMeans(5, **kw).fit(X, sample_weight=w)
    b = MiniBatchKMeans(5, **kw).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(a.inertia_, b.inertia_, rtol=1e-4)


def test_duplicates_and_empty_clusters_never_nan(rng):
    X = np.repeat(rng.standard_normal((4, 3)).astype(np.float32), 50, axis=0)
    m = MiniBatchKMeans(6, random_state=0, device="cpu").fit(X)
    assert np.isfinite(m.cluster_centers_).all()
    assert m.inertia_ == pytest.approx(0, abs=1e-3)
    far = np.vstack([X[:4], np.full((2, 3), 1e3, np.float32)])  # two centers start far away
    m2 = MiniBatchKMeans(6, init=far, max_steps=0, device="cpu").fit(X)
    assert np.isfinite(m2.cluster_centers_).all()
    assert not (np.abs(m2.cluster_centers_) >= 1e3).any()  # relocated onto data


def test_out_of_core_memmap_path_and_iterator(blobs, tmp_path):
    X, _ = blobs
    np.save(tmp_path / "x.npy", X)
    kw = dict(random_state=0, device="cpu", chunk_size=500)
    a = MiniBatchKMeans(5, **kw).fit(X)
    b = MiniBatchKMeans(5, **kw).fit(np.load(tmp_path / "x.npy", mmap_mode="r"))
    c = MiniBatchKMeans(5, **kw).fit(str(tmp_path / "x.npy"))
    d = MiniBatchKMeans(5, **kw).fit(iter([X[i : i + 700] for i in range(0, len(X), 700)]))
    for m in (b, c, d):
        np.testing.assert_array_equal(m.cluster_centers_, a.cluster_centers_)
    np.testing.assert_array_equal(a.predict(np.load(tmp_path / "x.npy", mmap_mode="r")),
                                  a.labels_)


def test_float64_input_is_float32(blobs):
    X, _ = blobs
    m = MiniBatchKMeans(5, random_state=0, device="cpu").fit(X.astype(np.float64))
    assert m.cluster_centers_.dtype == np.float32
    assert m.predict(X.astype(np.float64)).dtype == np.int64


@pytest.mark.parametrize(
    ("X", "k", "match"),
    [
        (np.ones((5, 2)), 8, r"n_samples=5 should be >= n_clusters=8"),
        (np.array([[0.0, 1], [np.nan, 2], [np.inf, 3], [1, 1]]), 2,
         r"contains 2 NaN or inf value\(s\); first in row 1"),
    ],
)
def test_validation_messages(X, k, match):
    from archetype.errors import UserError

    with pytest.raises(UserError, match=match):
        MiniBatchKMeans(k, device="cpu").fit(X)


def test_wrong_width_at_predict(blobs):
    X, _ = blobs
    m = MiniBatchKMeans(5, random_state=0, device="cpu").fit(X)
    with pytest.raises(ValueError, match="X has 4 features, but MiniBatchKMeans is expecting 6"):
        m.predict(X[:, :4])


def test_cosine_zero_row_is_user_error():
    with pytest.raises(ValueError, match="all-zero row"):
        MiniBatchKMeans(2, metric="cosine", device="cpu").fit(np.array([[1.0, 0], [0, 0], [0, 1]]))


def test_partial_fit_moves_towards_data(blobs):
    X, y = blobs
    m = MiniBatchKMeans(5, random_state=0, device="cpu")
    for i in range(0, len(X), 300):
        m.partial_fit(X[i : i + 300])
    assert m.n_steps_ == 10
    assert adjusted_rand_score(y, m.predict(X)) > 0.9


def test_transform_and_score(blobs):
    X, _ = blobs
    m = MiniBatchKMeans(5, random_state=0, device="cpu").fit(X)
    T = m.transform(X[:20])
    ref = np.sqrt(((X[:20, None, :].astype(np.float64) - m.cluster_centers_[None]) ** 2).sum(-1))
    np.testing.assert_allclose(T, ref, rtol=1e-4, atol=1e-4)
    assert m.score(X) == pytest.approx(-m.inertia_, rel=1e-4)


@pytest.mark.cuda
def test_cuda_fit_matches_cpu(blobs):
    X, _ = blobs
    cpu = MiniBatchKMeans(5, random_state=0, device="cpu", backend="torch").fit(X)
    gpu = MiniBatchKMeans(5, random_state=0, device="cuda", backend="torch").fit(X)
    assert gpu.inertia_ == pytest.approx(cpu.inertia_, rel=1e-3)
    assert adjusted_rand_score(cpu.labels_, gpu.labels_) > 0.99
    a = gpu.assign(X)
    np.testing.assert_array_equal(a.labels, gpu.labels_)


@pytest.mark.parametrize("backend", ["numba", "faiss", "numpy", "torch"])
def test_memmap_rows_are_read_in_place_by_every_backend(blobs, tmp_path, backend):
    """A float32 ``.npy`` is read chunk by chunk as read-only views (no copy): every backend
    gives the in-memory result."""
    X, _ = blobs
    np.save(tmp_path / "x.npy", X)
    kw = dict(random_state=0, backend=backend, device="cpu", chunk_size=700)
    a = MiniBatchKMeans(5, **kw).fit(X)
    b = MiniBatchKMeans(5, **kw).fit(str(tmp_path / "x.npy"))
    np.testing.assert_array_equal(b.cluster_centers_, a.cluster_centers_)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    np.testing.assert_array_equal(a.assign(mm).labels, a.labels_)
