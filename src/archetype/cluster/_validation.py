"""Input checks shared by the estimator, ``assign`` and ``partial_stats``.

Errors are :class:`archetype.errors.UserError` (a ``ValueError``) and read like
``n_samples=5 should be >= n_clusters=8``.
"""

from __future__ import annotations

import numpy as np

from archetype.errors import UserError

METRICS = ("l2", "cosine")


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise UserError(f"metric={metric!r} should be one of {', '.join(METRICS)}")
    return metric


def as_float32_2d(X, *, name: str = "X") -> np.ndarray:
    """Float32, 2-D, C-contiguous view or copy of ``X`` (a memmap stays a memmap if it can)."""
    if hasattr(X, "detach"):  # torch tensor on CPU
        X = X.detach().cpu().numpy()
    X = np.asarray(X) if not isinstance(X, np.ndarray) else X
    if X.ndim != 2:
        raise UserError(f"{name} should be 2-D (n_samples, n_features), got shape {X.shape}; "
                        "reshape 1-D data with X.reshape(-1, 1)")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise UserError(f"{name} should be numeric, got dtype {X.dtype}")
    if X.dtype != np.float32 or not X.flags.c_contiguous:
        X = np.ascontiguousarray(X, dtype=np.float32)
    return X


def check_finite(X: np.ndarray, *, name: str = "X", offset: int = 0) -> None:
    """Raise naming the count of NaN/inf values and the first bad row (``offset`` added)."""
    if X.size == 0:
        return
    if np.isfinite(X.sum(dtype=np.float64)):
        # a finite sum can still hide +inf and -inf together? no: inf - inf is NaN.
        return
    bad = ~np.isfinite(X)
    n_bad = int(bad.sum())
    if n_bad == 0:  # float overflow of the sum only
        return
    first = int(np.argmax(bad.any(axis=1))) + offset
    raise UserError(f"{name} contains {n_bad} NaN or inf value(s); first in row {first}")


def check_width(X: np.ndarray, n_features: int, *, name: str = "X",
                owner: str = "MiniBatchKMeans") -> None:
    if X.shape[1] != n_features:
        raise UserError(f"{name} has {X.shape[1]} features, but {owner} is expecting "
                        f"{n_features} features as input.")


def check_weights(sample_weight, n: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n, dtype=np.float32)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise UserError(f"sample_weight.shape={w.shape} should be ({n},)")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise UserError("sample_weight should be finite and >= 0")
    if n and w.sum() <= 0:
        raise UserError("Sample weights must contain at least one non-zero number.")
    return w.astype(np.float32)


def normalize_rows(X: np.ndarray, *, name: str = "X", offset: int = 0) -> np.ndarray:
    """Unit-norm copy of the rows of ``X`` (cosine metric); a zero row is a UserError."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
    zero = norms == 0
    if zero.any():
        first = int(np.argmax(zero)) + offset
        raise UserError(f"{name} has {int(zero.sum())} all-zero row(s) (first: row {first}); "
                        "the cosine metric needs non-zero rows")
    return (X / norms[:, None]).astype(np.float32)
