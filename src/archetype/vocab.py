"""The project's closed vocabularies, declared once.

Every place that accepts one of these names (Typer options, config models, estimator
parameters, engine factories) uses these enums, so the allowed values and the error that
lists them are the same everywhere.  They are ``StrEnum``: a member compares equal to its
string value, so ``Metric("l2") == "l2"`` and plain strings keep working in the Python API.
"""

from __future__ import annotations

from enum import StrEnum


class Backend(StrEnum):
    """k-means compute backend (``auto`` picks per device and installed libraries)."""

    AUTO = "auto"
    TORCH = "torch"
    FAISS = "faiss"
    NUMBA = "numba"
    NUMPY = "numpy"


class Device(StrEnum):
    """Where the k-means math runs."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class Metric(StrEnum):
    """Distance between an embedding row and a centroid."""

    L2 = "l2"
    COSINE = "cosine"


class Precision(StrEnum):
    """Input type of the distance GEMM on CUDA (always accumulated in fp32)."""

    FP32 = "fp32"
    TF32 = "tf32"
    BF16 = "bf16"


class EngineName(StrEnum):
    """Where pipeline steps run: this process or a Ray cluster."""

    LOCAL = "local"
    RAY = "ray"


def choices(enum: type[StrEnum]) -> str:
    """``"a, b or c"``: the values of ``enum`` for an error message."""
    vals = [m.value for m in enum]
    return vals[0] if len(vals) == 1 else f"{', '.join(vals[:-1])} or {vals[-1]}"
