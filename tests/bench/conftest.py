"""Fixtures of the bench tests: a small planted-blob matrix and initial centers."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def blobs(rng) -> tuple[np.ndarray, np.ndarray]:
    """(X (600, 5) float32 around 4 planted centers, C (4, 5) = 4 distinct rows of X)."""
    centers = rng.normal(0.0, 5.0, size=(4, 5))
    X = (centers[rng.integers(0, 4, 600)] + rng.normal(size=(600, 5))).astype(np.float32)
    C = X[rng.choice(600, 4, replace=False)].copy()
    return X, C
