"""Fixtures for the k-means core tests: small blobs and every CPU backend."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from archetype.cluster.backends import get_backend
from archetype.cluster.backends.torch_backend import TorchBackend


@pytest.fixture
def blobs(seed):
    X, y = make_blobs(n_samples=3000, n_features=6, centers=5, cluster_std=0.6,
                      random_state=seed % 2**31)
    return X.astype(np.float32), y


def cpu_backends():
    """Every backend usable on CPU, torch with both reduction paths."""
    return {
        "numba": get_backend("numba", "cpu"),
        "faiss": get_backend("faiss", "cpu"),
        "torch-numba": TorchBackend("cpu", kernels="numba"),
        "torch-ops": TorchBackend("cpu", kernels="torch"),  # the CUDA code path, on CPU
    }


@pytest.fixture(params=sorted(cpu_backends()))
def backend(request):
    return cpu_backends()[request.param]
