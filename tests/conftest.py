"""Suite-wide fixtures.  Area fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

SEED = 20261124


def _has_cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config, items):
    skip_cuda = pytest.mark.skip(reason="needs a CUDA device")
    skip_ray = pytest.mark.skip(reason="needs ray (pip install 'archetype[ray]')")
    has_cuda = _has_cuda()
    has_ray = importlib.util.find_spec("ray") is not None
    for item in items:
        if "cuda" in item.keywords and not has_cuda:
            item.add_marker(skip_cuda)
        if "ray" in item.keywords and not has_ray:
            item.add_marker(skip_ray)


@pytest.fixture
def seed() -> int:
    """The one seed of the suite."""
    return SEED


@pytest.fixture
def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)
