"""torch backend: CUDA GEMMs (fp32/tf32/bf16 inputs, fp32 out) in row blocks; on CPU the
cache-blocked Numba path of :mod:`.blocked`.

Per block of rows (sized so the ``(rows, k)`` distances stay under :data:`GPU_BLOCK_BYTES`):
upload, ``D = ||c||^2 - 2 x C^T``, ``min`` over centers (labels, best), for the margin the
best entry masked to ``inf`` and a second ``min`` (two reductions, never a sort-like
``topk``), distances ``best + ||x||^2``, and for an update ``index_add_`` into float64 sums.
``kernels="torch"`` runs exactly this code on the CPU, so tests exercise the CUDA path
without a GPU.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch

from archetype.cluster.backends import blocked
from archetype.cluster.backends.base import DISTANCES, MARGIN, Backend, ChunkStats

#: Bytes of one block of distances on the device.
GPU_BLOCK_BYTES = 64 << 20


@dataclass
class _Prepared:
    C: torch.Tensor  # (k, d) float32 (or bf16 for precision="bf16")
    cn: torch.Tensor  # (k,) float32
    k: int
    d: int


@contextlib.contextmanager
def _matmul_precision(device: torch.device, precision: str):
    """Set TF32 on/off for the block and restore it, even on error."""
    if device.type != "cuda":
        yield
        return
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


class TorchBackend(Backend):
    """GEMM-based nearest-center search with torch.

    Parameters
    ----------
    device : {"cpu", "cuda", "cuda:N"}
    precision : {"fp32", "tf32", "bf16"}, default "fp32"
        Input type of the distance GEMM on CUDA (ignored on CPU).
    kernels : {"auto", "numba", "torch"}, default "auto"
        ``numba``: the blocked CPU path (the default on CPU); ``torch``: torch ops (always
        on CUDA; selectable on CPU so tests exercise the CUDA code path).
    block : int, optional
        Rows per block of the torch path (default: ``GPU_BLOCK_BYTES / (4 k)``).
    """

    name = "torch"

    def __init__(self, device: str = "cpu", precision: str = "fp32", kernels: str = "auto",
                 block: int | None = None) -> None:
        self.tdev = torch.device(device)
        self.device = str(self.tdev)
        self.precision = precision
        cpu = self.tdev.type == "cpu"
        self.kernels = "numba" if cpu and kernels in ("auto", "numba") else "torch"
        self.checks_finite = self.kernels == "numba"
        self.block = block

    def _rows(self, k: int) -> int:
        return self.block or int(max(1024, min(1 << 18, GPU_BLOCK_BYTES // (4 * k))))

    def _to_dev(self, x) -> torch.Tensor:
        x = np.ascontiguousarray(x)
        if not x.flags.writeable:  # a memmap view: torch wants writable memory
            x = x.copy()
        return torch.from_numpy(x).to(self.tdev, non_blocking=True)

    def prepare(self, centers):
        if self.kernels == "numba":
            return blocked.prepare(centers)
        C = self._to_dev(np.asarray(centers, dtype=np.float32))
        cn = (C.double() * C.double()).sum(1).float()
        if self.precision == "bf16" and self.tdev.type == "cuda":
            C = C.to(torch.bfloat16)
        return _Prepared(C.contiguous(), cn, C.shape[0], C.shape[1])

    def _dists(self, x: torch.Tensor, p: _Prepared) -> torch.Tensor:
        """``||c||^2 - 2 x C^T`` as float32 (m, k)."""
        with _matmul_precision(self.tdev, self.precision):
            if p.C.dtype == torch.bfloat16:
                g = torch.mm(x.to(torch.bfloat16), p.C.T, out_dtype=torch.float32)
            else:
                g = torch.mm(x, p.C.T)
        return g.mul_(-2.0).add_(p.cn)

    def _blocks(self, X, p: _Prepared, mode: int):
        """Yield ``(s, e, x, labels, dist, margin)`` tensors of each block of rows."""
        step = self._rows(p.k)
        for s in range(0, X.shape[0], step):
            x = self._to_dev(X[s : s + step]).float()
            D = self._dists(x, p)
            best, lab = D.min(dim=1)
            margin = None
            if mode == MARGIN:
                if p.k > 1:
                    margin = D.scatter_(1, lab[:, None], float("inf")).min(dim=1).values - best
                else:
                    margin = torch.full_like(best, float("inf"))
            dist = (best + (x * x).sum(1)).clamp_min_(0) if mode >= DISTANCES else None
            yield s, s + len(x), x, lab, dist, margin

    def assign(self, X, prepared, *, mode=MARGIN):
        if self.kernels == "numba":
            return blocked.assign(X, *prepared, mode)
        n = X.shape[0]
        labels = np.empty(n, np.int64)
        dist = np.empty(n, np.float32) if mode >= DISTANCES else None
        margin = np.empty(n, np.float32) if mode == MARGIN else None
        for s, e, _x, lab, dd, mg in self._blocks(X, prepared, mode):
            labels[s:e] = lab.cpu().numpy()
            if dist is not None:
                dist[s:e] = dd.cpu().numpy()
            if margin is not None:
                margin[s:e] = mg.cpu().numpy()
        return labels, dist, margin

    def accumulate(self, X, prepared, w):
        if self.kernels == "numba":
            w = np.ascontiguousarray(w, dtype=np.float32)
            return ChunkStats(*blocked.accumulate(X, w, *prepared))
        p = prepared
        n = X.shape[0]
        sums = torch.zeros((p.k, p.d), dtype=torch.float64, device=self.tdev)
        counts = torch.zeros(p.k, dtype=torch.float64, device=self.tdev)
        inertia = torch.zeros((), dtype=torch.float64, device=self.tdev)
        wt = self._to_dev(np.asarray(w, dtype=np.float32)).double()
        labels = np.empty(n, np.int64)
        dist = np.empty(n, np.float32)
        for s, e, x, lab, dd, _mg in self._blocks(X, p, DISTANCES):
            ww = wt[s:e]
            sums.index_add_(0, lab, x.double() * ww[:, None])
            counts.index_add_(0, lab, ww)
            inertia += (dd.double() * ww).sum()
            labels[s:e] = lab.cpu().numpy()
            dist[s:e] = dd.cpu().numpy()
        return ChunkStats(labels, dist, sums.cpu().numpy(), counts.cpu().numpy(), float(inertia))
