"""Peer implementations the harness runs directly: scikit-learn, FAISS, plain torch.

Each entry takes the worker's ``spec`` (``k``, ``iters``, ``batch_size``, ``seed``,
``device``), the data ``X`` (n, d) float32 and the shared initial centers ``C`` (k, d),
and returns a :class:`~archetype.bench.timing.Measured` timing the fit or the assignment
alone.  All fits start from the same ``C`` and run the same number of passes over the data
(``iters``) with no early stop, so seconds and inertia compare like with like.

:mod:`archetype.bench.kmeans_peers` (the cluster layer's own peer set) is preferred where
it offers the same peer; these are the fallbacks and the assignment peers.
"""

from __future__ import annotations

import numpy as np

from archetype.bench.timing import CHUNK_ROWS, Measured, Stopwatch, Unavailable


def _faiss_gpu(faiss, device: str) -> bool:
    """Whether to use FAISS on the GPU; CUDA asked of a CPU-only build is unavailable."""
    if not device.startswith("cuda"):
        return False
    if faiss.get_num_gpus() < 1:
        raise Unavailable("this FAISS build has no GPU support (install faiss-gpu)")
    return True


def fit_sklearn_kmeans(spec: dict, X: np.ndarray, C: np.ndarray) -> Measured:
    """scikit-learn ``KMeans`` (Lloyd), ``iters`` iterations, tol 0, from ``C``."""
    from sklearn.cluster import KMeans

    km = KMeans(
        n_clusters=C.shape[0], init=C, n_init=1, max_iter=int(spec["iters"]), tol=0.0,
        algorithm="lloyd", random_state=int(spec["seed"]),
    )
    sw = Stopwatch()
    with sw():
        km.fit(X)
    n_iter = int(km.n_iter_)
    return Measured(
        sw.seconds, centers=km.cluster_centers_,
        extra={"n_iter": n_iter, "seconds_per_pass": sw.seconds / max(n_iter, 1)},
    )


def fit_sklearn_minibatch(spec: dict, X: np.ndarray, C: np.ndarray) -> Measured:
    """scikit-learn ``MiniBatchKMeans``: ``iters`` epochs of ``batch_size`` rows, from ``C``."""
    from sklearn.cluster import MiniBatchKMeans

    km = MiniBatchKMeans(
        n_clusters=C.shape[0], init=C, n_init=1, max_iter=int(spec["iters"]),
        batch_size=int(spec["batch_size"]), tol=0.0, max_no_improvement=None,
        compute_labels=False, reassignment_ratio=0.0, random_state=int(spec["seed"]),
    )
    sw = Stopwatch()
    with sw():
        km.fit(X)
    steps = int(km.n_steps_)
    passes = steps * int(spec["batch_size"]) / X.shape[0]
    return Measured(
        sw.seconds, centers=km.cluster_centers_,
        extra={"n_steps": steps, "seconds_per_pass": sw.seconds / max(passes, 1e-9)},
    )


def fit_faiss(spec: dict, X: np.ndarray, C: np.ndarray) -> Measured:
    """``faiss.Kmeans`` on every row (no subsampling), ``iters`` iterations, from ``C``."""
    import faiss

    k, d = C.shape
    use_gpu = _faiss_gpu(faiss, spec["device"])
    km = faiss.Kmeans(
        d, k, niter=int(spec["iters"]), seed=int(spec["seed"]), verbose=False,
        min_points_per_centroid=1, max_points_per_centroid=X.shape[0] + 1, gpu=use_gpu,
    )
    sw = Stopwatch(spec["device"] if use_gpu else "cpu")
    with sw():
        km.train(X, init_centroids=np.ascontiguousarray(C))
    return Measured(
        sw.seconds, centers=km.centroids,
        extra={"gpu": use_gpu, "seconds_per_pass": sw.seconds / int(spec["iters"])},
    )


def _torch_assign(Xt, Ct, chunk: int):
    """Nearest center per row of ``Xt`` by ``|x|^2 - 2 x.c + |c|^2``, in row blocks."""
    import torch

    c2 = (Ct * Ct).sum(1)
    labels = torch.empty(Xt.shape[0], dtype=torch.int64, device=Xt.device)
    dist = torch.empty(Xt.shape[0], dtype=Xt.dtype, device=Xt.device)
    for s in range(0, Xt.shape[0], chunk):
        xb = Xt[s : s + chunk]
        d2 = torch.addmm(c2[None, :], xb, Ct.T, alpha=-2.0)
        d2 += (xb * xb).sum(1, keepdim=True)
        torch.min(d2, dim=1, out=(dist[s : s + chunk], labels[s : s + chunk]))
    return labels, dist


def fit_torch_lloyd(spec: dict, X: np.ndarray, C: np.ndarray) -> Measured:
    """A plain torch Lloyd loop: GEMM assign, ``index_add_`` update, empty clusters kept."""
    import torch

    device = spec["device"]
    chunk = int(spec.get("chunk_rows", CHUNK_ROWS))
    Xt = torch.from_numpy(X).to(device)
    Ct = torch.from_numpy(np.array(C, copy=True)).to(device)
    k = Ct.shape[0]
    sw = Stopwatch(device)
    with sw():
        for _ in range(int(spec["iters"])):
            labels, _ = _torch_assign(Xt, Ct, chunk)
            sums = torch.zeros_like(Ct).index_add_(0, labels, Xt)
            counts = torch.bincount(labels, minlength=k).to(Xt.dtype)
            nonempty = counts > 0
            Ct[nonempty] = sums[nonempty] / counts[nonempty, None]
    return Measured(
        sw.seconds, centers=Ct.cpu().numpy(),
        extra={"seconds_per_pass": sw.seconds / int(spec["iters"])},
    )


def assign_torch(spec: dict, X: np.ndarray, C: np.ndarray) -> Measured:
    """Nearest center with a plain torch GEMM + argmin in row blocks."""
    import torch

    device = spec["device"]
    Xt = torch.from_numpy(X).to(device)
    Ct = torch.from_numpy(C).to(device)
    sw = Stopwatch(device)
    with sw():
        labels, _ = _torch_assign(Xt, Ct, int(spec.get("chunk_rows", CHUNK_ROWS)))
    return Measured(sw.seconds, labels=labels.cpu().numpy())


def assign_faiss(spec: dict, X: np.ndarray, C: np.ndarray) -> Measured:
    """Nearest center with a FAISS flat L2 index (GPU index when FAISS has a GPU)."""
    import faiss

    index = faiss.IndexFlatL2(C.shape[1])
    use_gpu = _faiss_gpu(faiss, spec["device"])
    if use_gpu:  # pragma: no cover - needs faiss-gpu
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(np.ascontiguousarray(C))
    sw = Stopwatch()
    with sw():
        _, idx = index.search(X, 1)
    return Measured(sw.seconds, labels=idx[:, 0], extra={"gpu": use_gpu})


def assign_sklearn(spec: dict, X: np.ndarray, C: np.ndarray) -> Measured:
    """Nearest center with ``sklearn.metrics.pairwise_distances_argmin_min``."""
    from sklearn.metrics import pairwise_distances_argmin_min

    sw = Stopwatch()
    with sw():
        labels, _ = pairwise_distances_argmin_min(X, C)
    return Measured(sw.seconds, labels=labels)


def pass_torch(spec: dict, X: np.ndarray, C: np.ndarray) -> Measured:
    """One plain-torch Lloyd pass (GEMM assign + ``index_add_`` sums), best of ``repeats``."""
    import torch

    device = spec["device"]
    chunk = int(spec.get("chunk_rows", CHUNK_ROWS))
    Xt = torch.from_numpy(X).to(device)
    Ct = torch.from_numpy(C).to(device)
    best, inertia = float("inf"), 0.0
    sw = Stopwatch(device)
    for _ in range(max(1, int(spec.get("repeats", 3)))):
        with sw():
            labels, dist = _torch_assign(Xt, Ct, chunk)
            sums = torch.zeros_like(Ct).index_add_(0, labels, Xt)
            counts = torch.bincount(labels, minlength=Ct.shape[0])
        best = min(best, sw.seconds)
        inertia = float(dist.clamp_min(0).double().sum())
    del sums, counts
    return Measured(best, inertia=inertia, extra={"seconds_per_pass": best})
