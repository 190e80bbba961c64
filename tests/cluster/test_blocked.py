"""The cache-blocked CPU hot path (BLAS GEMM per thread block + fused Numba reduction)
against a float64 NumPy reference, on inputs large enough to run in several parts."""

from __future__ import annotations

import numpy as np
import pytest

from archetype import MiniBatchKMeans
from archetype.cluster import assign, partial_stats
from archetype.cluster.backends import blocked
from archetype.cluster.backends.torch_backend import TorchBackend


def _reference(X, C, w):
    X64, C64 = X.astype(np.float64), C.astype(np.float64)
    D = ((X64[:, None, :] - C64[None]) ** 2).sum(-1)
    lab = D.argmin(1)
    s = np.sort(D, 1) if D.shape[1] > 1 else np.concatenate([D, D + np.inf], 1)
    sums = np.zeros_like(C64)
    np.add.at(sums, lab, X64 * w[:, None])
    return lab, D, s[:, 0], s[:, 1] - s[:, 0], sums, np.bincount(lab, w, len(C))


@pytest.mark.parametrize("k", [1, 7, 70])
def test_blocked_assign_and_stats_match_numpy(k):
    rng = np.random.default_rng(k)
    X = rng.normal(size=(40000, 5)).astype(np.float32) * 3
    X[100:200] = X[0]  # duplicate rows
    C = X[rng.choice(len(X), k, replace=False)] + 0.01
    w = rng.uniform(0.5, 2, len(X)).astype(np.float32).astype(np.float64)
    lab, D, best, margin, sums, counts = _reference(X, C, w)
    ok = (margin > 1e-3) if k > 1 else np.ones(len(X), bool)  # skip float32 near-ties
    assert blocked.block_rows(k, 5) < len(X) // 2  # several blocks per part
    a = assign(X, C, backend=TorchBackend("cpu", kernels="numba"), device="cpu")
    np.testing.assert_array_equal(a.labels[ok], lab[ok])
    np.testing.assert_allclose(a.distances, best, rtol=1e-4, atol=1e-3)
    if k > 1:
        np.testing.assert_allclose(a.margin[ok], margin[ok], rtol=1e-3, atol=1e-2)
    else:
        assert np.isinf(a.margin).all()
    st = partial_stats(X, C, sample_weight=w, backend=TorchBackend("cpu", kernels="numba"))
    if ok.all():
        np.testing.assert_allclose(st.sums, sums, rtol=1e-6, atol=1e-3)
        np.testing.assert_allclose(st.counts, counts, rtol=1e-12)
    assert st.inertia == pytest.approx(float(np.dot(w, best)), rel=1e-5)


def test_predict_without_margin_matches_assign():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 4)).astype(np.float32)
    m = MiniBatchKMeans(9, random_state=0, device="cpu").fit(X)
    np.testing.assert_array_equal(m.predict(X), m.assign(X).labels)
    np.testing.assert_array_equal(m.predict(X), m.labels_)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_found_by_the_pass_itself(bad, tmp_path):
    """The blocked kernel counts NaN/inf while it reads the rows (no separate validation
    pass); the faces turn that into the usual message with the count and the first row."""
    from archetype.cluster.backends import NonFiniteError
    from archetype.errors import UserError

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 6)).astype(np.float32)
    C = X[:7].copy()
    X[12345, 2] = bad
    X[17000, [0, 5]] = bad
    neg2c, cn = blocked.prepare(C)
    with pytest.raises(NonFiniteError) as err:
        blocked.assign(X, neg2c, cn, blocked.LABELS)
    assert err.value.count == 3
    with pytest.raises(NonFiniteError):
        blocked.accumulate(X, np.ones(len(X), np.float32), neg2c, cn)
    msg = r"X contains 3 NaN or inf value\(s\); first in row 12345"
    with pytest.raises(UserError, match=msg):
        assign(X, C, device="cpu")
    m = MiniBatchKMeans(7, init=C, max_steps=0, max_iter=1, device="cpu").fit(X[:10000])
    with pytest.raises(UserError, match=msg):
        m.predict(X)
    np.save(tmp_path / "x.npy", X)
    with pytest.raises(UserError, match=msg):
        m.predict(np.load(tmp_path / "x.npy", mmap_mode="r"))
    with pytest.raises(UserError, match=msg):
        m.assign(X)
