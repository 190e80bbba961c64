"""RayEngine: the LocalEngine's three methods, reached through the pipeline's get_engine."""

from __future__ import annotations

import numpy as np
import pytest

from archetype.cluster import assign
from archetype.pipeline.engine import LocalEngine, get_engine


def test_get_engine_builds_a_ray_engine_without_connecting():
    from archetype.distributed.ray_engine import RayEngine

    engine = get_engine("ray", "ray://head:10001", num_workers=3, num_gpus=1)
    assert isinstance(engine, RayEngine)
    assert (engine.address, engine.num_workers, engine.num_gpus) == ("ray://head:10001", 3, 1)


@pytest.mark.ray
@pytest.mark.slow
def test_get_engine_ray_fit_and_assign_match_local(ray_local):
    from archetype.distributed.ray_engine import RayEngine

    engine = get_engine("ray", num_workers=2)
    assert isinstance(engine, RayEngine) and engine.num_workers == 2
    rng = np.random.default_rng(2)
    centers = rng.normal(0, 5, size=(4, 5))
    X = (centers[rng.integers(0, 4, 4_000)] + rng.normal(size=(4_000, 5))).astype(np.float32)
    kw = {"backend": "numpy", "device": "cpu", "metric": "l2"}
    C_ray, info = engine.fit(X, 4, seed=1, **kw)
    C_loc, info_loc = LocalEngine().fit(X, 4, seed=1, **kw)
    assert C_ray.shape == (4, 5) and C_ray.dtype == np.float32
    assert info["engine"] == "ray" and info["workers"] == 2
    assert (info["backend"], info["device"]) == (info_loc["backend"], info_loc["device"])
    assert abs(info["inertia"] - info_loc["inertia"]) / info_loc["inertia"] < 0.005
    # assignments for a fixed model are identical to the local kernel's
    got = engine.assign(X, C_loc, **kw)
    ref = assign(X, C_loc, **kw)
    np.testing.assert_array_equal(got.labels, ref.labels)
    np.testing.assert_allclose(got.distances, ref.distances, rtol=1e-6, atol=1e-6)
