"""Ray scale-out on one machine: 1 -> 2 -> 4 shard actors vs the local step.

Each actor stands for a node.  For every actor count we time, per k-means iteration:

* ``mini-batch step`` — ``ray.put(centers)`` + every actor's ``batch_stats`` + the sum of the
  ``StepStats`` on the driver (what one iteration of ``ray_fit`` does), and
* ``full pass`` — the same with ``full_stats`` (a Lloyd pass over all rows),
* ``round trip`` — a no-op call on every actor (Ray's floor per iteration),

against the same work done in-process by ``partial_stats`` (the local engine's step),
timed interleaved with the Ray calls so both see the same machine load.
``overhead = ray time - local time``: what Ray's scheduling, serialization and the
centroid broadcast cost per iteration.  On one machine the actors share its cores, so the
full pass cannot get faster with more actors here; on real nodes each actor has its own.

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


def _total(parts):
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--actors", default="1,2,4")
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()

    import ray

    from archetype.cluster.step import partial_stats
    from archetype.distributed.fit import start_workers
    from archetype.distributed.workers import batch_rng, batch_shares

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, args.d), dtype=np.float32)
    C = np.ascontiguousarray(X[rng.choice(args.n, args.k, replace=False)])
    kw = {"metric": "l2", "backend": args.backend, "device": "cpu"}

    counter = iter(range(10**9))

    def local_step():
        idx = np.sort(batch_rng(0, 0, next(counter)).integers(0, args.n, args.batch))
        return partial_stats(X[idx], C, **kw)

    def local_full():
        return partial_stats(X, C, **kw)

    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    rows = []
    try:
        for n_act in [int(a) for a in args.actors.split(",")]:
            pool = start_workers(ray, X, n_act, max_restarts=0, **kw)
            workers, infos = pool.workers, pool.infos
            shares = batch_shares([i["rows"] for i in infos], args.batch)
            it = iter(range(10**9))

            def step(workers=workers, shares=shares, it=it):
                ref = ray.put(C)
                i = next(it)
                return _total(
                    ray.get(
                        [
                            w.batch_stats.remote(ref, 0, i, s)
                            for w, s in zip(workers, shares, strict=True)
                        ]
                    )
                )

            def full(workers=workers):
                ref = ray.put(C)
                return _total(ray.get([w.full_stats.remote(ref) for w in workers]))

            # the sharded sums equal the local ones (same step function)
            np.testing.assert_allclose(full().sums, partial_stats(X, C, **kw).sums, rtol=1e-4)
            ping_ref = ray.put(C)
            t_ping = _time_pair(
                lambda: None,
                lambda ref=ping_ref, ws=workers: ray.get([w.info.remote() for w in ws]),
                args.reps,
            )[1]
            l_step, t_step = _time_pair(local_step, step, args.reps)
            l_full, t_full = _time_pair(local_full, full, max(3, args.reps // 5))
            rows.append(
                {
                    "actors": n_act,
                    "n": args.n,
                    "d": args.d,
                    "k": args.k,
                    "batch": args.batch,
                    "round_trip_ms": t_ping * 1e3,
                    "local_step_ms": l_step * 1e3,
                    "ray_step_ms": t_step * 1e3,
                    "step_overhead_ms": (t_step - l_step) * 1e3,
                    "local_full_ms": l_full * 1e3,
                    "ray_full_ms": t_full * 1e3,
                    "full_overhead_ms": (t_full - l_full) * 1e3,
                    "bytes_per_actor_per_iter": args.k * args.d * 4
                    + args.k * args.d * 8
                    + args.k * 8,
                }
            )
            pool.close(ray)
    finally:
        ray.shutdown()

    hdr = (
        "actors",
        "round trip ms",
        "local step ms",
        "ray step ms",
        "overhead ms",
        "local pass ms",
        "ray pass ms",
        "overhead ms",
    )
    print(
        f"n={args.n} d={args.d} k={args.k} batch={args.batch} cpus={args.cpus} "
        f"backend={args.backend}"
    )
    print(" | ".join(hdr))
    for r in rows:
        print(
            f"{r['actors']:>6} | {r['round_trip_ms']:13.2f} | {r['local_step_ms']:13.2f} | "
            f"{r['ray_step_ms']:11.2f} | "
            f"{r['step_overhead_ms']:11.2f} | {r['local_full_ms']:13.1f} | "
            f"{r['ray_full_ms']:11.1f} | {r['full_overhead_ms']:11.1f}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
