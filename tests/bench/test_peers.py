"""The directly-run peers and floors agree with NumPy / scikit-learn references."""

from __future__ import annotations

import numpy as np
import pytest

from archetype.bench import direct_peers, floors
from archetype.bench.timing import inertia_from_centers

SPEC = {"device": "cpu", "iters": 5, "seed": 0, "batch_size": 128, "repeats": 1}


def _nearest(X, C):
    return ((X[:, None, :].astype(np.float64) - C[None]) ** 2).sum(-1).argmin(1)


@pytest.mark.parametrize("fn", [direct_peers.assign_torch, direct_peers.assign_faiss,
                                direct_peers.assign_sklearn])
def test_assign_peers_return_the_nearest_center(fn, blobs):
    X, C = blobs
    m = fn({**SPEC, "chunk_rows": 97}, X, C)
    np.testing.assert_array_equal(np.asarray(m.labels), _nearest(X, C))
    assert m.seconds > 0


def _numpy_lloyd(X, C, iters):
    C = C.astype(np.float64).copy()
    for _ in range(iters):
        lab = _nearest(X, C)
        for j in range(C.shape[0]):
            if (lab == j).any():
                C[j] = X[lab == j].mean(0)
    return C


@pytest.mark.parametrize("fn", [direct_peers.fit_torch_lloyd, direct_peers.fit_faiss,
                                direct_peers.fit_sklearn_kmeans])
def test_lloyd_peers_match_a_numpy_lloyd_from_the_same_start(fn, blobs):
    X, C = blobs
    ref = _numpy_lloyd(X, C, SPEC["iters"])
    m = fn({**SPEC, "chunk_rows": 101}, X, C)
    np.testing.assert_allclose(np.asarray(m.centers), ref, rtol=1e-4, atol=1e-4)
    assert m.extra["seconds_per_pass"] > 0


def test_sklearn_minibatch_improves_on_its_start(blobs):
    X, C = blobs
    m = direct_peers.fit_sklearn_minibatch(SPEC, X, C)
    assert inertia_from_centers(X, m.centers) < inertia_from_centers(X, C)


def test_one_torch_pass_inertia_is_the_objective_at_the_start(blobs):
    X, C = blobs
    m = direct_peers.pass_torch({**SPEC, "chunk_rows": 64}, X, C)
    assert m.inertia == pytest.approx(inertia_from_centers(X, C), rel=1e-5)


def test_gemm_and_bandwidth_report_rates(blobs):
    X, C = blobs
    g = floors.gemm({**SPEC, "chunk_rows": 100}, X, C)
    assert g.seconds > 0 and g.extra["gflops"] == pytest.approx(
        2 * X.shape[0] * X.shape[1] * C.shape[0] / g.seconds / 1e9)
    b = floors.bandwidth_copy({**SPEC, "bandwidth_bytes": 1 << 20})
    assert b.extra["bytes"] == 2 << 20 and b.extra["gb_per_s"] > 0
    r = floors.bandwidth_read({**SPEC, "bandwidth_bytes": 1 << 20})
    assert r.extra["bytes"] == 1 << 20
