"""Suites (which sizes to measure) and the data every implementation shares.

``quick`` fits in a few minutes on a 2-core laptop; ``full`` is for real machines and goes
up to 10M customers; ``tiny`` is for tests.  Fit and assign run on one planted-blob matrix
per size (float32, written once, read by every implementation), so peers see exactly the
same rows and start from exactly the same initial centers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from archetype.errors import UserError

#: Planted clusters in the fit/assign matrix (independent of the k being fitted).
TRUE_CLUSTERS = 16
_BLOCK = 1 << 18


@dataclass(frozen=True)
class Suite:
    """Sizes of one suite.

    Attributes
    ----------
    name : str
    data_n : tuple of int
        Customers for synth, features and the nightly run.
    days : int
        Days of synthetic events per customer history.
    fit_n : tuple of int
        Rows for fit and assign at ``k0`` (the time-vs-n series).
    ks : tuple of int
        Clusters for fit and assign at ``max(fit_n)`` (the time-vs-k series).
    k0 : int
        The k of the time-vs-n series.
    d : int
        Embedding dimension of the fit/assign matrix.
    iters : int
        Passes over the data per fit (Lloyd iterations, mini-batch epochs).
    batch_size : int
    nightly_n : tuple of int
    bandwidth_bytes : int
    repeats : int
        Repeats inside the floor and single-pass measurements (best is kept).
    rounds : int
        Calls of every entry per measurement process (best is kept).
    timeout_s : float
        Per-measurement limit; a measurement past it is recorded as skipped.
    variants : bool
        Also measure each backend of our fit separately.
    """

    name: str
    data_n: tuple[int, ...]
    days: int
    fit_n: tuple[int, ...]
    ks: tuple[int, ...]
    k0: int
    d: int = 32
    iters: int = 10
    batch_size: int = 4096
    nightly_n: tuple[int, ...] = ()
    bandwidth_bytes: int = 256 * 1024**2
    repeats: int = 3
    rounds: int = 1
    timeout_s: float = 600.0
    variants: bool = False
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


SUITES: dict[str, Suite] = {
    "tiny": Suite("tiny", data_n=(300,), days=60, fit_n=(2000, 4000), ks=(4, 8), k0=4, d=8,
                  iters=3, batch_size=512, nightly_n=(300,), bandwidth_bytes=8 * 1024**2,
                  repeats=1, timeout_s=120.0),
    "quick": Suite("quick", data_n=(100_000,), days=90, fit_n=(25_000, 50_000, 100_000),
                   ks=(8, 16, 32), k0=16, nightly_n=(100_000,), repeats=5, rounds=3,
                   timeout_s=180.0),
    "full": Suite("full", data_n=(100_000, 1_000_000), days=365,
                  fit_n=(100_000, 1_000_000, 10_000_000), ks=(16, 64, 256), k0=16,
                  nightly_n=(100_000,), bandwidth_bytes=1024**3, repeats=5, variants=True),
}
PUBLIC_SUITES = ("quick", "full")


def get_suite(name: str, *, fit_n=None, ks=None, data_n=None) -> Suite:
    """The suite ``name`` with optional size overrides; a bad value is a :class:`UserError`."""
    if name not in SUITES:
        raise UserError(f"--suite={name!r} is not a suite; use one of {', '.join(PUBLIC_SUITES)}")
    s = SUITES[name]
    over: dict[str, Any] = {}
    for opt, key, values in (("--n", "fit_n", fit_n), ("--k", "ks", ks),
                             ("--customers", "data_n", data_n)):
        if values:
            vals = tuple(sorted({int(v) for v in values}))
            if vals[0] < 1:
                raise UserError(f"{opt}={vals[0]} should be >= 1")
            over[key] = vals
    if "ks" in over:
        over["k0"] = over["ks"][0]
    if "data_n" in over:
        over["nightly_n"] = over["data_n"][:1]
    s = replace(s, **over)
    if max(s.ks + (s.k0,)) > min(s.fit_n):
        raise UserError(f"--k={max(s.ks)} should be <= the smallest --n={min(s.fit_n)}")
    return s


def blob_matrix(path: Path, n: int, d: int, seed: int) -> Path:
    """Write an (n, d) float32 matrix of planted Gaussian blobs to ``path`` (.npy), in blocks.

    Deterministic in ``(n, d, seed)``; reused if it already exists.
    """
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 4.0, size=(TRUE_CLUSTERS, d))
    tmp = path.with_suffix(".tmp.npy")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, d))
    for s in range(0, n, _BLOCK):
        m = min(_BLOCK, n - s)
        which = rng.integers(0, TRUE_CLUSTERS, size=m)
        out[s : s + m] = centers[which] + rng.normal(0.0, 1.0, size=(m, d))
    out.flush()
    del out
    tmp.replace(path)
    return path


def initial_centers(path: Path, X_path: Path, k: int, seed: int) -> Path:
    """Write ``k`` distinct rows of the matrix at ``X_path`` (chosen with ``seed``) to ``path``."""
    if path.exists():
        return path
    X = np.load(X_path, mmap_mode="r")
    rng = np.random.default_rng(seed + k)
    rows = np.sort(rng.choice(X.shape[0], size=k, replace=False))
    np.save(path, np.ascontiguousarray(X[rows], dtype=np.float32))
    return path
