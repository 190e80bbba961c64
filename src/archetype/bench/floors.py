"""The machine's own limits: the bare GEMM of a Lloyd pass and memory bandwidth.

A k-means pass cannot beat the matrix product ``X @ C.T`` it contains, nor the time to
stream ``X`` from memory once.  Every measured line is shown as a ratio to these floors,
which survives noisy, shared machines better than raw seconds do.
"""

from __future__ import annotations

import numpy as np

from archetype.bench.timing import CHUNK_ROWS, Measured, Stopwatch

#: Bytes of the array streamed by the bandwidth probes (large enough to leave the caches).
BANDWIDTH_BYTES = 256 * 1024**2


def gemm(spec: dict, X: np.ndarray, C: np.ndarray) -> Measured:
    """One pass of ``X @ C.T`` in row blocks into a reused buffer (torch, same device).

    The best of ``spec["repeats"]`` passes (default 3) is reported, after one warm-up.
    """
    import torch

    device = spec["device"]
    chunk = int(spec.get("chunk_rows", CHUNK_ROWS))
    Xt = torch.from_numpy(X).to(device)
    Ct = torch.from_numpy(C).to(device)
    out = torch.empty((min(chunk, Xt.shape[0]), Ct.shape[0]), dtype=Xt.dtype, device=device)
    CtT = Ct.T.contiguous()

    def one_pass() -> None:
        for s in range(0, Xt.shape[0], chunk):
            xb = Xt[s : s + chunk]
            torch.matmul(xb, CtT, out=out[: xb.shape[0]])

    one_pass()
    best = float("inf")
    sw = Stopwatch(device)
    for _ in range(int(spec.get("repeats", 3))):
        with sw():
            one_pass()
        best = min(best, sw.seconds)
    n, d = X.shape
    k = C.shape[0]
    return Measured(best, extra={"gflops": 2.0 * n * d * k / best / 1e9})


def bandwidth_read(spec: dict, X: np.ndarray | None = None, C: np.ndarray | None = None):
    """Streaming read: ``np.add.reduce`` over a large float64 array, best of repeats."""
    a = np.ones(int(spec.get("bandwidth_bytes", BANDWIDTH_BYTES)) // 8, dtype=np.float64)
    return _best_of(spec, lambda: np.add.reduce(a), a.nbytes)


def bandwidth_copy(spec: dict, X: np.ndarray | None = None, C: np.ndarray | None = None):
    """Streaming copy: ``np.copyto`` between two large arrays (bytes read + written)."""
    a = np.ones(int(spec.get("bandwidth_bytes", BANDWIDTH_BYTES)) // 8, dtype=np.float64)
    b = np.empty_like(a)
    return _best_of(spec, lambda: np.copyto(b, a), 2 * a.nbytes)


def bandwidth_device(spec: dict, X: np.ndarray | None = None, C: np.ndarray | None = None):
    """Device-memory copy with torch (GPU bandwidth; bytes read + written)."""
    import torch

    device = spec["device"]
    n = int(spec.get("bandwidth_bytes", BANDWIDTH_BYTES)) // 4
    a = torch.ones(n, dtype=torch.float32, device=device)
    b = torch.empty_like(a)
    return _best_of(spec, lambda: b.copy_(a), 2 * a.numel() * 4, device=device)


def _best_of(spec: dict, fn, nbytes: int, device: str = "cpu") -> Measured:
    fn()
    best = float("inf")
    sw = Stopwatch(device)
    for _ in range(int(spec.get("repeats", 5))):
        with sw():
            fn()
        best = min(best, sw.seconds)
    return Measured(best, extra={"bytes": int(nbytes), "gb_per_s": nbytes / best / 1e9})
