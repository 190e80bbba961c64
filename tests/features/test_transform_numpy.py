"""``FeatureTransform.transform_numpy``: the per-request path equals the Polars one."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from archetype.errors import UserError
from archetype.features import FeatureConfig, FeatureTransform, build_features
from archetype.features.testing import random_events


@pytest.fixture(scope="module")
def raw():
    return build_features(random_events(6000, 400, seed=4).lazy(), dt.date(2026, 12, 31))


@pytest.mark.parametrize(
    "cfg",
    [
        FeatureConfig(),
        FeatureConfig(pca_components=5, family_weights={"rfm": 2.0, "content": 0.5}),
        FeatureConfig(winsorize=None, log1p=False),
    ],
)
def test_numpy_path_equals_polars_path(raw, cfg):
    t = FeatureTransform.fit(raw, cfg)
    t = FeatureTransform.from_dict(t.to_dict())  # as the service loads it
    ref = t.transform(raw)
    x = raw.select(t.feature_names).to_numpy()
    many = t.transform_numpy(x)
    assert many.dtype == np.float32 and many.flags.c_contiguous and many.shape == ref.shape
    np.testing.assert_allclose(many, ref, rtol=1e-6, atol=1e-6)
    for i in (0, 7, raw.height - 1):  # one row at a time, 1-D and 2-D
        np.testing.assert_allclose(t.transform_numpy(x[i])[0], ref[i], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(t.transform_numpy(x[i : i + 1]), ref[i : i + 1], 1e-6, 1e-6)
    np.testing.assert_array_equal(x, raw.select(t.feature_names).to_numpy())  # input kept


def test_numpy_path_follows_a_refit_and_checks_input(raw):
    t = FeatureTransform.fit(raw, FeatureConfig())
    x = raw.select(t.feature_names).to_numpy()
    before = t.transform_numpy(x[:3])
    t.center = [c + 1.0 for c in t.center]  # a new field value: cached arrays rebuilt
    assert not np.allclose(t.transform_numpy(x[:3]), before)
    np.testing.assert_allclose(t.transform_numpy(x), t.transform(raw), 1e-6, 1e-6)
    with pytest.raises(ValueError, match="expected \\(n, "):
        t.transform_numpy(x[:, :-1])
    bad = x[:2].copy()
    bad[1, 3] = np.nan
    with pytest.raises(UserError, match=t.feature_names[3]):
        t.transform_numpy(bad)
