"""Fit, one Lloyd pass and assignment: archetype vs the peers and the floors, in-process.

    pytest benchmarks/bench_suite.py --benchmark-only [--benchmark-json out.json]

The same entry functions as ``archetype bench`` (same data, same start, same passes), timed
by pytest-benchmark instead of in fresh processes (so no per-measurement peak memory here;
use ``archetype bench`` for that).  ``extra_info`` keeps each run's inertia.
"""

from __future__ import annotations

import pytest

from archetype.bench import direct_peers, floors, ours
from archetype.bench.timing import inertia_from_centers, inertia_from_labels

ITERS = 5

FIT = {
    "archetype": ours.fit,
    "sklearn-kmeans": direct_peers.fit_sklearn_kmeans,
    "sklearn-minibatch": direct_peers.fit_sklearn_minibatch,
    "faiss": direct_peers.fit_faiss,
    "torch-lloyd": direct_peers.fit_torch_lloyd,
}
PASS = {"archetype": ours.lloyd_pass, "torch": direct_peers.pass_torch, "gemm": floors.gemm}
ASSIGN = {
    "archetype": ours.assign,
    "faiss": direct_peers.assign_faiss,
    "sklearn": direct_peers.assign_sklearn,
    "torch": direct_peers.assign_torch,
    "gemm": floors.gemm,
}
CPU_ONLY = {"sklearn-kmeans", "sklearn-minibatch", "sklearn"}


def _spec(device: str, impl: str) -> dict:
    dev = "cpu" if impl in CPU_ONLY else device
    return {"device": dev, "iters": ITERS, "seed": 0, "batch_size": 4096, "repeats": 1}


@pytest.mark.benchmark(group="fit")
@pytest.mark.parametrize("impl", list(FIT))
def test_fit(benchmark, matrix, device, impl):
    X, C = matrix
    m = benchmark.pedantic(FIT[impl], args=(_spec(device, impl), X, C), rounds=3, warmup_rounds=1)
    benchmark.extra_info["inertia"] = inertia_from_centers(X, m.centers)
    benchmark.extra_info["seconds_per_pass"] = m.extra.get("seconds_per_pass")


@pytest.mark.benchmark(group="lloyd-pass")
@pytest.mark.parametrize("impl", list(PASS))
def test_lloyd_pass(benchmark, matrix, device, impl):
    X, C = matrix
    m = benchmark.pedantic(PASS[impl], args=(_spec(device, impl), X, C), rounds=5, warmup_rounds=1)
    if m.inertia is not None:
        benchmark.extra_info["inertia"] = m.inertia


@pytest.mark.benchmark(group="assign")
@pytest.mark.parametrize("impl", list(ASSIGN))
def test_assign(benchmark, matrix, device, impl):
    X, C = matrix
    m = benchmark.pedantic(
        ASSIGN[impl], args=(_spec(device, impl), X, C), rounds=5, warmup_rounds=1
    )
    if m.labels is not None:
        benchmark.extra_info["inertia"] = inertia_from_labels(X, C, m.labels)


@pytest.mark.benchmark(group="bandwidth")
@pytest.mark.parametrize("probe", ["read", "copy"])
def test_bandwidth(benchmark, probe):
    fn = floors.bandwidth_read if probe == "read" else floors.bandwidth_copy
    m = benchmark.pedantic(fn, args=({"repeats": 1},), rounds=5)
    benchmark.extra_info["gb_per_s"] = m.extra["gb_per_s"]
