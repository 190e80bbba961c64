"""Ray scale-out on one machine: 1 -> 2 -> 4 shard actors vs the same dataset in-process.

The Ray fit is the local loop over a ``ShardedDataset``; what Ray adds is the cost of its
dataset calls.  For every actor count we time, interleaved with the local
``ArrayDataset`` doing the same work so that both see the same load (medians):

* ``round trip`` — a no-op call on every actor (Ray's floor per call);
* ``batch`` — ``subset`` of a mini-batch of rows (what a warm start's step fetches);
* ``full pass`` — ``accumulate`` against the centers (one Lloyd pass over all rows);
* ``fit`` — a whole ``ray_fit`` vs ``MiniBatchKMeans.fit`` (same seed: same centers).

On one machine the actors share its cores, so a pass cannot get faster with more actors
here; on real nodes each actor has its own.

Run::

    python benchmarks/bench_ray.py --n 200000 --d 32 --k 32 --batch 4096 --reps 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np


def _time_pair(local, remote, reps: int) -> tuple[float, float]:
    """Median seconds of ``local()`` and ``remote()``, interleaved so both see the same load."""
    local(), remote()  # warm-up (JIT, first transfer)
    tl, tr = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        local()
        t1 = time.perf_counter()
        remote()
        tl.append(t1 - t0)
        tr.append(time.perf_counter() - t1)
    return statistics.median(tl), statistics.median(tr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--actors", default="1,2,4")
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()

    import ray

    from archetype import MiniBatchKMeans
    from archetype.cluster import ArrayDataset
    from archetype.cluster.backends import get_backend
    from archetype.distributed.dataset import ShardedDataset, start_workers
    from archetype.distributed.fit import ray_fit

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, args.d), dtype=np.float32)
    C = np.ascontiguousarray(X[rng.choice(args.n, args.k, replace=False)])
    local = ArrayDataset(X, backend=get_backend(args.backend, "cpu"))
    kw = {"metric": "l2", "backend": args.backend, "device": "cpu"}

    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    rows = []
    try:
        for n_act in [int(a) for a in args.actors.split(",")]:
            pool = start_workers(ray, X, n_act, max_restarts=0, **kw)
            ds = ShardedDataset(ray, pool)
            # the sharded pass equals the local one (the same ArrayDataset on every shard)
            np.testing.assert_allclose(ds.accumulate(C).sums, local.accumulate(C).sums,
                                       rtol=1e-9)
            idx = np.sort(rng.integers(0, args.n, args.batch))
            t_ping = _time_pair(lambda: None, lambda ws=pool.workers: ray.get(
                [w.info.remote() for w in ws]), args.reps)[1]
            l_batch, r_batch = _time_pair(lambda idx=idx: local.subset(idx),
                                          lambda ds=ds, idx=idx: ds.subset(idx), args.reps)
            l_pass, r_pass = _time_pair(lambda: local.accumulate(C),
                                        lambda ds=ds: ds.accumulate(C), max(3, args.reps // 2))
            l_fit, r_fit = _time_pair(
                lambda: MiniBatchKMeans(args.k, random_state=0, **kw).fit(X),
                lambda pool=pool: ray_fit(X, args.k, seed=0, pool=pool, **kw), 3)
            rows.append({
                "actors": n_act, "n": args.n, "d": args.d, "k": args.k, "batch": args.batch,
                "round_trip_ms": t_ping * 1e3,
                "local_batch_ms": l_batch * 1e3, "ray_batch_ms": r_batch * 1e3,
                "local_pass_ms": l_pass * 1e3, "ray_pass_ms": r_pass * 1e3,
                "pass_overhead_ms": (r_pass - l_pass) * 1e3,
                "local_fit_s": l_fit, "ray_fit_s": r_fit,
                "bytes_per_actor_per_pass": args.k * args.d * 12 + args.k * 8,
            })
            pool.close(ray)
    finally:
        ray.shutdown()

    print(f"n={args.n} d={args.d} k={args.k} batch={args.batch} cpus={args.cpus} "
          f"backend={args.backend} load avg {os.getloadavg()[0]:.1f}")
    print("| actors | round trip ms | local batch ms | Ray batch ms | local pass ms | "
          "Ray pass ms | pass overhead ms | local fit s | Ray fit s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['actors']} | {r['round_trip_ms']:.2f} | {r['local_batch_ms']:.2f} | "
              f"{r['ray_batch_ms']:.2f} | {r['local_pass_ms']:.1f} | {r['ray_pass_ms']:.1f} | "
              f"{r['pass_overhead_ms']:.1f} | {r['local_fit_s']:.3f} | {r['ray_fit_s']:.3f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
