"""Ray assignment equals the local one, for an in-memory array and a memory-mapped file."""

from __future__ import annotations

import numpy as np
import pytest

from archetype.cluster import assign
from archetype.distributed.assign import ray_assign
from archetype.errors import UserError

pytestmark = pytest.mark.ray


@pytest.fixture
def embedding(tmp_path, rng):
    X = rng.standard_normal((1_003, 6)).astype(np.float32)
    np.save(tmp_path / "embedding.npy", X)
    C = X[rng.choice(len(X), 5, replace=False)] + 0.01
    return tmp_path / "embedding.npy", X, C


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_ray_assign_equals_local_for_array_and_memmap(ray_local, embedding, backend):
    path, X, C = embedding
    local = assign(X, C, backend=backend, device="cpu")
    for emb in (X, np.load(path, mmap_mode="r"), path):
        got = ray_assign(emb, C, backend=backend, device="cpu", num_tasks=3)
        np.testing.assert_array_equal(got.labels, local.labels)
        # float32 GEMM-identity distances: absolute error ~1e-6 near a center
        np.testing.assert_allclose(got.distances, local.distances, rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(got.margin, local.margin, rtol=1e-6, atol=1e-5)


def test_cosine_and_bad_centroids(ray_local, embedding):
    path, X, C = embedding
    local = assign(X, C, metric="cosine", device="cpu")
    got = ray_assign(path, C, metric="cosine", device="cpu", num_tasks=2)
    np.testing.assert_array_equal(got.labels, local.labels)
    np.testing.assert_allclose(got.distances, local.distances, rtol=1e-5, atol=1e-6)
    bad = C.copy()
    bad[0, 0] = np.nan
    with pytest.raises(UserError, match="centers contains 1 NaN"):
        ray_assign(path, bad, num_tasks=2)
