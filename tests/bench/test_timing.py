"""Quality and scaling helpers against hand-worked values and NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from archetype.bench.timing import inertia_from_centers, inertia_from_labels, loglog_slope


def test_inertia_from_centers_hand_worked():
    X = np.array([[0, 0], [2, 0], [10, 0], [10, 3]], np.float32)
    C = np.array([[1, 0], [10, 0]], np.float32)
    # 1 + 1 + 0 + 9
    assert inertia_from_centers(X, C) == pytest.approx(11.0)
    assert inertia_from_centers(X, C, chunk=1) == pytest.approx(11.0)


def test_inertia_from_labels_uses_given_labels_not_nearest():
    X = np.array([[0, 0], [2, 0], [10, 0]], np.float32)
    C = np.array([[1, 0], [10, 0]], np.float32)
    # row 2 deliberately assigned to the far center: 1 + 1 + 81
    assert inertia_from_labels(X, C, np.array([0, 0, 0])) == pytest.approx(83.0)
    assert inertia_from_labels(X, C, np.array([0, 0, 1]), chunk=2) == pytest.approx(2.0)


def test_inertia_from_centers_matches_brute_force(blobs):
    X, C = blobs
    d2 = ((X.astype(np.float64)[:, None, :] - C[None, :, :].astype(np.float64)) ** 2).sum(-1)
    assert inertia_from_centers(X, C, chunk=97) == pytest.approx(d2.min(1).sum(), rel=1e-9)


@pytest.mark.parametrize("power", [0.5, 1.0, 2.0])
def test_loglog_slope_recovers_the_power(power):
    n = np.array([1e3, 1e4, 1e5, 1e6])
    assert loglog_slope(n, 3.0 * n**power) == pytest.approx(power)


def test_loglog_slope_rejects_degenerate_series():
    with pytest.raises(ValueError, match="distinct"):
        loglog_slope([10, 10], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        loglog_slope([1, 10], [0.0, 2.0])
