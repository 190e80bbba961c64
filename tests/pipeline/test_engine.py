import numpy as np
import pytest

from archetype.errors import UserError
from archetype.pipeline.engine import LocalEngine, get_engine


def test_get_engine():
    eng = get_engine("local", batch_size=128, max_iter=7)
    assert isinstance(eng, LocalEngine) and (eng.batch_size, eng.max_iter) == (128, 7)
    with pytest.raises(UserError, match="engine='spark'"):
        get_engine("spark")


def test_ray_engine_is_imported_lazily(monkeypatch):
    import sys

    seen = {}

    class FakeRay:
        def __init__(self, address=None, **kw):
            seen.update(address=address, **kw)

    fake = type(sys)("archetype.distributed.ray_engine")
    fake.RayEngine = FakeRay
    monkeypatch.setitem(sys.modules, "archetype.distributed.ray_engine", fake)
    eng = get_engine("ray", "ray://head:10001", batch_size=64, max_iter=5)
    assert isinstance(eng, FakeRay)
    assert seen == {"address": "ray://head:10001", "batch_size": 64, "max_iter": 5}
    # without Ray installed, the engine is built and its first step says how to get Ray
    monkeypatch.delitem(sys.modules, "archetype.distributed.ray_engine")
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(UserError, match=r"--engine ray needs Ray installed \(pip install"):
        get_engine("ray").fit(np.zeros((4, 2), np.float32), 2)


@pytest.mark.slow
def test_local_fit_warm_start_and_assign_match_numpy(rng):
    centers = np.array([[0, 0], [10, 0], [0, 10]], dtype=np.float32)
    x = (centers[rng.integers(0, 3, 3000)] + rng.normal(size=(3000, 2))).astype(np.float32)
    eng = LocalEngine(batch_size=512, max_iter=20)
    init = centers[[2, 0, 1]] + 0.5
    c, info = eng.fit(x, 3, init=init, seed=0, backend="numba", device="cpu")
    assert info["warm_start"] and c.shape == (3, 2)
    # warm start keeps the row order of init: row i is the cluster init[i] was nearest to
    np.testing.assert_allclose(c, centers[[2, 0, 1]], atol=0.2)
    a = eng.assign(x, c, backend="numba", device="cpu")
    d2 = ((x[:, None, :].astype(np.float64) - c[None].astype(np.float64)) ** 2).sum(-1)
    np.testing.assert_array_equal(a.labels, d2.argmin(1))
    np.testing.assert_allclose(a.distances, d2.min(1), rtol=1e-4, atol=1e-4)
