"""Input checks of the public faces (estimator, ``assign``, ``partial_stats``); private
functions assume their input passed here once.

Errors are :class:`archetype.errors.UserError` (a ``ValueError``) and read like
``n_samples=5 should be >= n_clusters=8``.
"""

from __future__ import annotations

import numpy as np

from archetype.errors import UserError
from archetype.vocab import Metric, choices


def check_metric(metric: str) -> str:
    if metric not in set(Metric):
        raise UserError(f"metric={metric!r} should be one of {choices(Metric)}")
    return str(Metric(metric).value)


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


def _all_finite(x: np.ndarray) -> bool:
    """Fast path: a finite sum proves every value finite (+inf and -inf sum to NaN); a
    float32 sum may also overflow on finite values, so ``False`` only means "look closer"."""
    if x.size < 4096:  # small: exact, and cheaper than a floating-point-state context
        return bool(np.isfinite(x).all())
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(x.sum()))


def check_finite(X: np.ndarray, *, name: str = "X", offset: int = 0) -> None:
    """Raise naming the count of NaN/inf values and the first bad row (``offset`` added)."""
    if _all_finite(X):
        return
    bad = ~np.isfinite(X)
    n_bad = int(bad.sum())
    if n_bad:  # else the sum overflowed on finite values
        first = int(np.argmax(bad.any(axis=1))) + offset
        raise UserError(f"{name} contains {n_bad} NaN or inf value(s); first in row {first}")


def check_rows(X: np.ndarray, metric: str, chunk_rows: int, *, name: str = "X") -> None:
    """One chunked pass over ``X`` (array or memmap): NaN/inf and, for cosine, all-zero rows,
    each reported with its total count and first row."""
    n_bad = n_zero = 0
    first_bad = first_zero = None
    for s in range(0, X.shape[0], chunk_rows):
        x = np.asarray(X[s : s + chunk_rows])
        if not _all_finite(x):
            bad = ~np.isfinite(x)
            n_bad += int(bad.sum())
            if first_bad is None and bad.any():
                first_bad = s + int(np.argmax(bad.any(axis=1)))
        if metric == Metric.COSINE:
            zero = ~np.any(x != 0, axis=1)
            n_zero += int(zero.sum())
            if first_zero is None and zero.any():
                first_zero = s + int(np.argmax(zero))
    if n_bad:
        raise UserError(f"{name} contains {n_bad} NaN or inf value(s); first in row {first_bad}")
    if n_zero:
        raise UserError(f"{name} has {n_zero} all-zero row(s) (first: row {first_zero}); "
                        "the cosine metric needs non-zero rows")


def check_width(X: np.ndarray, n_features: int, *, name: str = "X",
                owner: str = "MiniBatchKMeans") -> None:
    if X.shape[1] != n_features:
        raise UserError(f"{name} has {X.shape[1]} features, but {owner} is expecting "
                        f"{n_features} features as input.")


def check_weights(sample_weight, n: int) -> np.ndarray | None:
    """Float32 weights (n,), or None for unit weights."""
    if sample_weight is None:
        return None
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
    """Unit-norm float32 copy of the rows of ``X`` (cosine); a zero row is a UserError."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
    zero = norms == 0
    if zero.any():
        first = int(np.argmax(zero)) + offset
        raise UserError(f"{name} has {int(zero.sum())} all-zero row(s) (first: row {first}); "
                        "the cosine metric needs non-zero rows")
    return (X / norms[:, None]).astype(np.float32)
