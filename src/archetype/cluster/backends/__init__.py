"""Backends for nearest-center search and accumulation, chosen once before the loop.

``get_backend(name, device)`` resolves ``"auto"`` by the measured rules in docs/kmeans.md:

* device ``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``;
* on CUDA → ``torch`` (GEMM on the GPU, fp32/tf32/bf16);
* on CPU → ``numba`` (cache-blocked BLAS + Numba kernels, :mod:`.blocked`).
"""

from __future__ import annotations

import functools
import importlib.util

from archetype.cluster.backends.base import (
    DISTANCES,
    LABELS,
    MARGIN,
    Backend,
    ChunkStats,
    NonFiniteError,
)
from archetype.errors import UserError
from archetype.vocab import Backend as BackendName
from archetype.vocab import Device, Precision, choices

__all__ = ["DISTANCES", "LABELS", "MARGIN", "Backend", "ChunkStats", "NonFiniteError",
           "get_backend", "resolve_device"]


def _has(mod: str) -> bool:
    return importlib.util.find_spec(mod) is not None


@functools.cache
def cuda_available() -> bool:
    """Whether torch sees a CUDA device (asked once per process)."""
    if not _has("torch"):
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` if available else ``cpu``; ``cuda`` without a GPU is a UserError."""
    if device == Device.AUTO:
        return Device.CUDA.value if cuda_available() else Device.CPU.value
    if str(device).startswith(Device.CUDA):
        if not cuda_available():
            raise UserError(f"device={device!r} but no CUDA device is available; use 'cpu'")
        return str(device)
    if device != Device.CPU:
        raise UserError(f"device={device!r} should be one of {choices(Device)}")
    return Device.CPU.value


def get_backend(name: str | Backend = "auto", device: str = "auto", *,
                precision: str = "fp32") -> Backend:
    """Build the backend ``name`` on ``device`` (both may be ``"auto"``)."""
    if isinstance(name, Backend):
        return name
    if name not in set(BackendName):
        raise UserError(f"backend={name!r} should be one of {choices(BackendName)}")
    if precision not in set(Precision):
        raise UserError(f"precision={precision!r} should be one of {choices(Precision)}")
    dev = resolve_device(device)
    cuda = dev.startswith(Device.CUDA)
    if name == BackendName.AUTO:
        name = BackendName.TORCH if cuda else BackendName.NUMBA
    if name == BackendName.TORCH:
        if not _has("torch"):
            raise UserError("backend='torch' but torch is not installed; use backend='numba'")
        from archetype.cluster.backends.torch_backend import TorchBackend

        return TorchBackend(dev, precision=precision)
    if cuda and name in (BackendName.NUMBA, BackendName.NUMPY):
        raise UserError(f"backend={name!r} runs on CPU only; use device='cpu' or backend='torch'")
    if name == BackendName.FAISS:
        if not _has("faiss"):
            raise UserError("backend='faiss' but faiss is not installed")
        from archetype.cluster.backends.faiss_backend import FaissBackend

        return FaissBackend(dev)
    if name == BackendName.NUMBA:
        from archetype.cluster.backends.numba_backend import NumbaBackend

        return NumbaBackend()
    from archetype.cluster.backends.numpy_ref import NumpyBackend

    return NumpyBackend()
