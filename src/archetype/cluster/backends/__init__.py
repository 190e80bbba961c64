"""Backends for nearest-center search and accumulation, chosen once before the loop.

``get_backend(name, device)`` resolves ``"auto"`` by the measured rules in docs/kmeans.md:

* device ``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``;
* on CUDA → ``torch`` (GEMM on the GPU, fp32/tf32/bf16);
* on CPU → ``torch`` when importable (its GEMM into a cache-sized buffer was the fastest
  measured), else ``numba`` (NumPy BLAS + Numba), else ``numpy`` (the reference).
"""

from __future__ import annotations

import importlib.util

from archetype.cluster.backends.base import Backend, ChunkStats, block_rows
from archetype.errors import UserError

BACKENDS = ("auto", "torch", "faiss", "numba", "numpy")
DEVICES = ("auto", "cpu", "cuda")

__all__ = ["BACKENDS", "DEVICES", "Backend", "ChunkStats", "block_rows", "get_backend",
           "resolve_device"]


def _has(mod: str) -> bool:
    return importlib.util.find_spec(mod) is not None


def cuda_available() -> bool:
    if not _has("torch"):
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` if available else ``cpu``; ``cuda`` without a GPU is a UserError."""
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device.startswith("cuda"):
        if not cuda_available():
            raise UserError(f"device={device!r} but no CUDA device is available; use 'cpu'")
        return device
    if device != "cpu":
        raise UserError(f"device={device!r} should be one of {', '.join(DEVICES)}")
    return device


def get_backend(name: str = "auto", device: str = "auto", *, precision: str = "fp32",
                kernels: str = "auto") -> Backend:
    """Build the backend ``name`` on ``device`` (both may be ``"auto"``)."""
    if isinstance(name, Backend):
        return name
    if name not in BACKENDS:
        raise UserError(f"backend={name!r} should be one of {', '.join(BACKENDS)}")
    if precision not in ("fp32", "tf32", "bf16"):
        raise UserError(f"precision={precision!r} should be one of fp32, tf32, bf16")
    dev = resolve_device(device)
    if name == "auto":
        if dev.startswith("cuda") or _has("torch"):
            name = "torch"
        elif _has("numba"):
            name = "numba"
        else:
            name = "numpy"
    if name == "torch":
        if not _has("torch"):
            raise UserError("backend='torch' but torch is not installed; use backend='numba'")
        from archetype.cluster.backends.torch_backend import TorchBackend

        return TorchBackend(dev, precision=precision, kernels=kernels)
    if dev.startswith("cuda") and name in ("numba", "numpy"):
        raise UserError(f"backend={name!r} runs on CPU only; use device='cpu' or backend='torch'")
    if name == "faiss":
        if not _has("faiss"):
            raise UserError("backend='faiss' but faiss is not installed")
        from archetype.cluster.backends.faiss_backend import FaissBackend

        return FaissBackend(dev)
    if name == "numba":
        from archetype.cluster.backends.numba_backend import NumbaBackend

        return NumbaBackend()
    from archetype.cluster.backends.numpy_ref import NumpyBackend

    return NumpyBackend()
